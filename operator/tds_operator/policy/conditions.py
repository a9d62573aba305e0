"""Conditions per the Kubernetes API conventions: set one, keep the others, derive Ready."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ConditionDict = dict[str, Any]


@dataclass(frozen=True)
class Decision:
    """The outcome of one policy: allowed or not, with the reason and message a user sees."""

    allowed: bool
    reason: str
    message: str

    @classmethod
    def allow(cls, reason: str, message: str) -> Decision:
        return cls(True, reason, message)

    @classmethod
    def deny(cls, reason: str, message: str) -> Decision:
        return cls(False, reason, message)


def timestamp(now: datetime) -> str:
    """RFC 3339 in UTC with whole seconds, as Kubernetes writes metav1.Time."""
    return now.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def set_condition(
    conditions: list[ConditionDict],
    *,
    type: str,
    status: bool | str,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime,
) -> list[ConditionDict]:
    """A new conditions list with `type` set; lastTransitionTime moves only when status does."""
    status_text = status if isinstance(status, str) else ("True" if status else "False")
    previous = next((c for c in conditions if c.get("type") == type), None)
    changed = previous is None or previous.get("status") != status_text
    condition: ConditionDict = {
        "type": type,
        "status": status_text,
        "reason": reason,
        "message": message,
        "lastTransitionTime": (
            timestamp(now) if changed or previous is None else previous["lastTransitionTime"]
        ),
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    others = [c for c in conditions if c.get("type") != type]
    return sorted([*others, condition], key=lambda c: str(c["type"]))


def set_decision(
    conditions: list[ConditionDict],
    type: str,
    decision: Decision,
    *,
    generation: int | None,
    now: datetime,
) -> list[ConditionDict]:
    """Set the condition `type` from a policy decision: True if allowed, with its reason."""
    return set_condition(
        conditions,
        type=type,
        status=decision.allowed,
        reason=decision.reason,
        message=decision.message,
        generation=generation,
        now=now,
    )


def find_condition(conditions: list[ConditionDict], type: str) -> ConditionDict | None:
    """The condition of that type, if present."""
    return next((c for c in conditions if c.get("type") == type), None)


def is_true(conditions: list[ConditionDict], type: str) -> bool:
    """Whether the condition of that type is present and True."""
    condition = find_condition(conditions, type)
    return condition is not None and condition.get("status") == "True"
