"""What a space's, a contract's and a release's reconcile reports as Events: one per condition
that changed, the phase said on the condition it summarises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tds_operator.policy.condition_events import ConditionEvent
from tds_operator.policy.contract import PhaseDecision
from tds_operator.policy.decision import Decision
from tds_operator.policy.reports import (
    contract_conditions,
    contract_events,
    release_events,
    space_events,
)

pytestmark = pytest.mark.unit

ENDED = frozenset({"Revoked", "Expired"})


def cond(type: str, status: str, reason: str, message: str = "m") -> dict[str, Any]:
    return {"type": type, "status": status, "reason": reason, "message": message}


def space(old: list[dict[str, Any]], new: list[dict[str, Any]], **kw: Any) -> list[ConditionEvent]:
    facts: dict[str, Any] = {"repaired": [], "spec_changed": False, **kw}
    return space_events(old, new, ready="Ready", reasons=("Updated", "DriftRepaired"), **facts)


def test_a_space_turning_ready_is_one_event() -> None:
    events = space([], [cond("Ready", "True", "Provisioned")])
    assert events == [ConditionEvent("Ready", "Provisioned", "m", False)]


def test_a_ready_space_reports_the_drift_it_restored_and_the_spec_it_applied() -> None:
    ready = [cond("Ready", "True", "Provisioned")]
    drift = space(ready, ready, repaired=["ResourceQuota/tds-quota"])
    assert drift == [
        ConditionEvent("Ready", "DriftRepaired", "restored ResourceQuota/tds-quota", False)
    ]
    update = space(ready, ready, repaired=["RoleBinding/x"], spec_changed=True)
    assert [e.reason for e in update] == ["Updated"]
    assert space(ready, ready) == []


def test_a_space_that_turns_ready_reports_that_not_its_writes() -> None:
    events = space([], [cond("Ready", "True", "Provisioned")], repaired=["Namespace/tds-x"])
    assert [e.reason for e in events] == ["Provisioned"]


def contract(
    old: list[dict[str, Any]], new: list[dict[str, Any]], was: str | None, phase: str
) -> list[ConditionEvent]:
    return contract_events(old, new, previous_phase=was, phase=phase)


def test_the_active_condition_says_the_phase_change() -> None:
    old = [cond("Active", "False", "AwaitingConsent")]
    new = [cond("Active", "True", "Consented", "both agreed")]
    [event] = contract(old, new, "Proposed", "Active")
    assert event == ConditionEvent("Active", "Consented", "Proposed -> Active: both agreed", False)


def test_an_ended_contract_is_a_warning_a_proposal_is_not() -> None:
    revoked = contract(
        [cond("Active", "True", "Consented")],
        [cond("Active", "False", "Revoked")],
        "Active",
        "Revoked",
    )
    assert [(e.message, e.warning) for e in revoked] == [("Active -> Revoked: m", True)]
    proposed = contract([], [cond("Active", "False", "AwaitingConsent")], None, "Proposed")
    assert [(e.message, e.warning) for e in proposed] == [("new -> Proposed: m", False)]


def test_a_closed_clean_room_warns_only_while_the_contract_is_active() -> None:
    closed = [cond("Active", "False", "Proposed"), cond("CleanRoomReady", "False", "NotActive")]
    assert not any(e.warning for e in contract([], closed, None, "Proposed"))
    missing = [
        cond("Active", "True", "Ok"),
        cond("CleanRoomReady", "False", "DatasetServiceMissing", "x"),
    ]
    old = [cond("Active", "True", "Ok"), cond("CleanRoomReady", "True", "CleanRoomOpen")]
    [event] = contract(old, missing, "Active", "Active")
    assert (event.reason, event.warning) == ("DatasetServiceMissing", True)


T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
ACTIVE_PHASE = PhaseDecision("Active", "Consented", "ok", None)
OPEN_ROOM = Decision.allow("CleanRoomOpen", "open")
VALID = Decision.allow("Valid", "ok")
LEDGER = Decision.allow("Verified", "intact")
MISSING = Decision.deny("DatasetServiceMissing", "dataset grid: Service g is missing")
PRESENT = Decision.allow("DatasetsPresent", "all there")


def by_type(conditions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in conditions}


def test_missing_datasets_make_the_clean_room_not_ready_and_are_reported_apart() -> None:
    decided = by_type(
        contract_conditions([], ACTIVE_PHASE, VALID, (OPEN_ROOM, MISSING), LEDGER, 3, T0)
    )
    ready = decided["CleanRoomReady"]
    assert (ready["status"], ready["reason"]) == ("False", "DatasetServiceMissing")
    assert "dataset grid" in ready["message"]
    reachable = decided["DatasetsReachable"]
    assert (reachable["status"], reachable["reason"]) == ("False", "DatasetServiceMissing")
    present = by_type(
        contract_conditions([], ACTIVE_PHASE, VALID, (OPEN_ROOM, PRESENT), LEDGER, 3, T0)
    )
    assert (present["CleanRoomReady"]["status"], present["CleanRoomReady"]["reason"]) == (
        "True",
        "CleanRoomOpen",
    )


def test_a_second_reconcile_changes_no_condition_and_datasets_go_when_not_active() -> None:
    first = contract_conditions([], ACTIVE_PHASE, VALID, (OPEN_ROOM, PRESENT), LEDGER, 3, T0)
    later = T0 + timedelta(minutes=5)
    again = contract_conditions(first, ACTIVE_PHASE, VALID, (OPEN_ROOM, PRESENT), LEDGER, 3, later)
    assert again == first  # no write: every lastTransitionTime kept
    revoked = PhaseDecision("Revoked", "Revoked", "revoked", None)
    shut = Decision.deny("ContractNotActive", "no clean room")
    closed = by_type(contract_conditions(first, revoked, VALID, (shut, None), LEDGER, 3, later))
    assert "DatasetsReachable" not in closed
    assert (closed["CleanRoomReady"]["status"], closed["Active"]["reason"]) == ("False", "Revoked")


def test_a_release_reports_its_phase_and_warns_when_refused_or_rejected() -> None:
    old = [cond("Released", "False", "AwaitingReview")]
    same = "the provider rejected it"
    new = [
        cond("Released", "False", "ReviewRejected", same),
        cond("Ended", "True", "ReviewRejected", same),
    ]
    [event] = release_events(old, new, phase="Rejected", failed={"Refused", "Rejected"})
    assert event == ConditionEvent("Released", "ReviewRejected", f"Rejected: {same}", True)
    waiting = release_events([], old, phase="Pending", failed={"Refused", "Rejected"})
    assert [e.warning for e in waiting] == [False]


def test_nothing_changed_is_no_event() -> None:
    same = [cond("Active", "True", "Ok"), cond("CleanRoomReady", "True", "Open")]
    assert contract(same, same, "Active", "Active") == []
    assert release_events(same, same, phase="Released", failed=()) == []
