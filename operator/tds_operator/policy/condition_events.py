"""Events from condition changes: what a reconcile reports is derived from the conditions it
wrote, old against new, instead of each code path deciding whether to post.

A condition whose status or reason changed (or that is new) is worth one Event, as Kueue's
condition helpers return "changed"; a condition that only changed its message or its time is
not. Two changed conditions that say the same thing (one reason, one message: a job leaving its
queue because it was admitted) make one Event.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from tds_operator.policy.conditions import ConditionDict, find_condition


@dataclass(frozen=True)
class ConditionEvent:
    """One Event to post: the condition it reports, its reason, message and type."""

    type: str
    reason: str
    message: str
    warning: bool


def condition_events(
    old: Sequence[ConditionDict],
    new: Sequence[ConditionDict],
    *,
    normal: Collection[str] = (),
) -> list[ConditionEvent]:
    """One Event per condition of `new` whose status or reason differs from `old` (or that `old`
    lacks), in `new`'s order. A condition that turned False is a Warning, unless its type is in
    `normal` (a condition whose False is no failure, such as Queued). Events with the same reason
    and message are posted once, a Warning if any of them is."""
    events: list[ConditionEvent] = []
    for condition in new:
        type, status = str(condition.get("type")), condition.get("status")
        reason = str(condition.get("reason") or "")
        previous = find_condition(list(old), type)
        if (
            previous is not None
            and previous.get("status") == status
            and previous.get("reason") == reason
        ):
            continue
        warning = status == "False" and type not in normal
        message = str(condition.get("message") or "")
        events.append(ConditionEvent(type, reason, message, warning))
    return _once(events)


def _once(events: list[ConditionEvent]) -> list[ConditionEvent]:
    """The events with one per reason and message, a Warning if any of its kind was."""
    kept: dict[tuple[str, str], ConditionEvent] = {}
    for event in events:
        key = (event.reason, event.message)
        first = kept.get(key)
        if first is None:
            kept[key] = event
        elif event.warning and not first.warning:
            kept[key] = ConditionEvent(first.type, first.reason, first.message, True)
    return list(kept.values())
