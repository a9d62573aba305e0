"""Conditions follow the API conventions: one per type, transition time moves with status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tds_operator.policy.conditions import (
    MESSAGE_LIMIT,
    is_true,
    set_condition,
    set_decision,
)
from tds_operator.policy.decision import Decision, first_failing

pytestmark = pytest.mark.unit

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def test_a_new_condition_gets_the_current_time_and_generation() -> None:
    [ready] = set_condition(
        [], type="Ready", status=True, reason="Provisioned", message="ok", generation=3, now=T0
    )
    assert ready == {
        "type": "Ready",
        "status": "True",
        "reason": "Provisioned",
        "message": "ok",
        "lastTransitionTime": "2026-12-01T00:00:00Z",
        "observedGeneration": 3,
    }


def test_transition_time_stays_while_status_stays() -> None:
    first = set_condition(
        [], type="Ready", status=True, reason="A", message="", generation=1, now=T0
    )
    later = set_condition(
        first,
        type="Ready",
        status=True,
        reason="B",
        message="",
        generation=2,
        now=T0 + timedelta(hours=1),
    )
    assert later[0]["lastTransitionTime"] == "2026-12-01T00:00:00Z"
    assert later[0]["reason"] == "B"


def test_transition_time_moves_when_status_changes() -> None:
    first = set_condition(
        [], type="Ready", status=True, reason="A", message="", generation=1, now=T0
    )
    later = set_condition(
        first,
        type="Ready",
        status=False,
        reason="B",
        message="",
        generation=1,
        now=T0 + timedelta(hours=1),
    )
    assert later[0]["lastTransitionTime"] == "2026-12-01T01:00:00Z"
    assert not is_true(later, "Ready")


def test_other_conditions_are_kept() -> None:
    conditions = set_condition(
        [], type="Ready", status=True, reason="A", message="", generation=1, now=T0
    )
    conditions = set_condition(
        conditions, type="Terminating", status=False, reason="B", message="", generation=1, now=T0
    )
    assert [c["type"] for c in conditions] == ["Ready", "Terminating"]


def test_a_decision_sets_status_reason_and_message() -> None:
    denied = Decision.deny("NamespaceConflict", "namespace tds-a belongs to someone else")
    [condition] = set_decision([], "Ready", denied, generation=2, now=T0)
    assert (condition["status"], condition["reason"], condition["message"]) == (
        "False",
        "NamespaceConflict",
        "namespace tds-a belongs to someone else",
    )
    assert condition["observedGeneration"] == 2


def test_a_message_longer_than_the_api_allows_is_cut_to_its_limit() -> None:
    [condition] = set_condition(
        [], type="Ready", status=False, reason="R", message="x" * 40000, generation=1, now=T0
    )
    assert len(condition["message"]) == MESSAGE_LIMIT


def test_the_first_denying_policy_decides() -> None:
    allow = Decision.allow("Fine", "ok")
    policies = [
        lambda n: allow,
        lambda n: Decision.deny(f"No{n}", "first"),
        lambda n: Decision.deny("Late", "x"),
    ]
    assert first_failing(policies, 1, allow).reason == "No1"
    assert first_failing(policies[:1], 1, Decision.allow("All", "ok")).reason == "All"
