"""What a space's, a contract's and a release's reconcile reports as Events: one per condition
that changed, the phase said on the condition it summarises."""

from __future__ import annotations

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
    return contract_events(
        old,
        new,
        active="Active",
        previous_phase=was,
        phase=phase,
        ended=ENDED,
        normal_unless_active=("CleanRoomReady",),
    )


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


def test_missing_datasets_make_the_clean_room_not_ready_and_are_reported_apart() -> None:
    phase = PhaseDecision("Active", "Consented", "ok", None)
    open_room = Decision.allow("CleanRoomOpen", "open")
    missing = Decision.deny("DatasetServiceMissing", "dataset grid: Service g is missing")
    ledger = Decision.allow("Verified", "intact")
    decided = dict(
        contract_conditions(phase, Decision.allow("Valid", "ok"), (open_room, missing), ledger)
    )
    assert decided["CleanRoomReady"].reason == "DatasetServiceMissing"
    assert not decided["CleanRoomReady"].allowed
    assert "dataset grid" in decided["CleanRoomReady"].message
    assert decided["DatasetsReachable"] == missing
    present = Decision.allow("DatasetsPresent", "all there")
    decided = dict(
        contract_conditions(phase, Decision.allow("Valid", "ok"), (open_room, present), ledger)
    )
    assert decided["CleanRoomReady"] == open_room
    # Not Active, the datasets are not looked at: no DatasetsReachable at all.
    closed = PhaseDecision("Revoked", "Revoked", "revoked", None)
    shut = Decision.deny("ContractNotActive", "no clean room")
    decided = dict(contract_conditions(closed, open_room, (shut, None), ledger))
    assert "DatasetsReachable" not in decided
    assert decided["CleanRoomReady"] == shut


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
