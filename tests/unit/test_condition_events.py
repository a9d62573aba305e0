"""Events derived from condition changes: one per condition whose status or reason changed."""

from __future__ import annotations

from typing import Any

import pytest

from tds_operator.policy.condition_events import ConditionEvent, condition_events

pytestmark = pytest.mark.unit


def cond(type: str, status: str, reason: str, message: str = "m") -> dict[str, Any]:
    return {"type": type, "status": status, "reason": reason, "message": message}


def test_a_new_condition_is_one_event() -> None:
    events = condition_events([], [cond("Admitted", "True", "Admitted", "fits")])
    assert events == [ConditionEvent("Admitted", "Admitted", "fits", warning=False)]


def test_a_condition_that_kept_status_and_reason_is_no_event_even_with_a_new_message() -> None:
    old = [cond("Queued", "True", "ContractConcurrency", "2 ahead")]
    new = [cond("Queued", "True", "ContractConcurrency", "1 ahead")]
    assert condition_events(old, new) == []


def test_a_changed_reason_alone_is_an_event() -> None:
    old = [cond("Queued", "True", "ContractConcurrency")]
    new = [cond("Queued", "True", "OrganisationQuota")]
    assert [e.reason for e in condition_events(old, new)] == ["OrganisationQuota"]


def test_a_condition_turned_false_is_a_warning_unless_its_false_is_normal() -> None:
    old = [cond("CleanRoomReady", "True", "Sealed"), cond("Queued", "True", "Wait")]
    new = [cond("CleanRoomReady", "False", "NotSealed"), cond("Queued", "False", "Gone")]
    events = condition_events(old, new, normal={"Queued"})
    assert [(e.type, e.warning) for e in events] == [
        ("CleanRoomReady", True),
        ("Queued", False),
    ]


def test_two_changes_that_say_the_same_are_one_event_a_warning_if_either_is() -> None:
    old = [cond("Queued", "True", "ContractConcurrency")]
    new = [
        cond("Admitted", "False", "Revoked", "the contract is revoked"),
        cond("Queued", "False", "Revoked", "the contract is revoked"),
    ]
    assert condition_events(old, new, normal={"Queued"}) == [
        ConditionEvent("Admitted", "Revoked", "the contract is revoked", warning=True)
    ]
    # The same when the Warning comes second.
    assert condition_events(old, list(reversed(new)), normal={"Queued"}) == [
        ConditionEvent("Queued", "Revoked", "the contract is revoked", warning=True)
    ]


def test_conditions_left_out_of_the_new_list_are_no_event() -> None:
    old = [cond("Admitted", "True", "Admitted")]
    assert condition_events(old, []) == []
