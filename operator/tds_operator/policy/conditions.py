"""Conditions per the Kubernetes API conventions: set one, keep the others, derive Ready."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tds_operator.api.rfc3339 import format_seconds
from tds_operator.policy.decision import Decision

ConditionDict = dict[str, Any]

MESSAGE_LIMIT = 32768
"""The API's limit on a condition's message (metav1.Condition); longer messages are cut."""


def timestamp(now: datetime) -> str:
    """RFC 3339 in UTC with whole seconds, as Kubernetes writes metav1.Time."""
    return format_seconds(now)


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
        "message": message[:MESSAGE_LIMIT],
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
