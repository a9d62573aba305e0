"""How often a running job is metered, and which contract changes wake its jobs. Pure."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from tds_operator.policy.metering import METERING_INTERVAL_SECONDS, next_metering
from tds_operator.policy.wakes import (
    METERING_INTERVAL_MAX_SECONDS,
    contract_change_reaches_jobs,
    metering_interval,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, 12, 0, 0, 300_000, tzinfo=UTC)


def test_usage_is_metered_less_often_the_farther_the_budget_and_the_contracts_end() -> None:
    # Hours of budget and validity left: the longest interval.
    assert metering_interval(7200.0, 86400.0) == METERING_INTERVAL_MAX_SECONDS
    # 50 s to the budget at the GPUs held: a tenth of it.
    assert metering_interval(50.0, 86400.0) == pytest.approx(5.0)
    # The contract's end is the nearer limit.
    assert metering_interval(7200.0, 30.0) == pytest.approx(3.0)
    # 20 s or less to either: every 2 s, as near the budget always.
    assert metering_interval(12.0, 86400.0) == METERING_INTERVAL_SECONDS
    assert metering_interval(7200.0, 0.5) == METERING_INTERVAL_SECONDS
    # Nothing runs the budget down (no GPUs held): only the contract's end counts.
    assert metering_interval(None, 40.0) == pytest.approx(4.0)
    assert metering_interval(None) == METERING_INTERVAL_MAX_SECONDS


def test_a_long_interval_never_passes_the_prepared_stop_at_the_budgets_second() -> None:
    # 36 GPU-seconds left on 8 GPUs: the budget's second is 4.7 s away, the stop prepared 1 s
    # before it, however long the interval the time left allows.
    interval = metering_interval(4.7, 86400.0)
    assert next_metering(36, 8, NOW, interval, lead=1.0) == pytest.approx(min(interval, 3.7))
    assert next_metering(36, 8, NOW, METERING_INTERVAL_MAX_SECONDS, lead=1.0) == pytest.approx(3.7)


def _contract(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "c", "uid": "u1", "resourceVersion": "10"},
        "spec": {"revoked": False, "compute": {"maxGpuHours": 10}},
        "status": {
            "phase": "Active",
            "usage": {"gpuHours": 0.5, "jobs": 2},
            "audit": {"head": "aa", "entries": 7},
            "conditions": [
                {
                    "type": "AuditLedgerIntact",
                    "status": "True",
                    "reason": "LedgerVerified",
                    "message": "all 7 entries of the audit ledger are intact",
                    "observedGeneration": 1,
                },
                {
                    "type": "CleanRoomReady",
                    "status": "True",
                    "reason": "CleanRoomOpen",
                    "observedGeneration": 1,
                },
            ],
        }
        | status,
    }


def test_the_contracts_own_report_of_usage_does_not_wake_its_jobs() -> None:
    before = _contract()
    after = copy.deepcopy(before)
    after["metadata"]["resourceVersion"] = "11"
    after["status"]["usage"] = {"gpuHours": 0.51, "jobs": 2}
    after["status"]["audit"] = {"head": "bb", "entries": 8}
    after["status"]["conditions"][0]["message"] = "all 8 entries of the audit ledger are intact"
    assert not contract_change_reaches_jobs(before, after)


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c["spec"].update(revoked=True),
        lambda c: c["spec"]["compute"].update(maxGpuHours=1),
        lambda c: c["status"].update(phase="Exhausted"),
        lambda c: c["status"]["conditions"][1].update(status="False", reason="CleanRoomClosing"),
        lambda c: c["status"]["conditions"][1].update(observedGeneration=2),
        lambda c: c["metadata"].update(deletionTimestamp="2026-03-01T12:00:00Z"),
        lambda c: c["metadata"].update(uid="u2"),
    ],
)
def test_every_change_a_job_acts_on_wakes_its_jobs(change: Any) -> None:
    before = _contract()
    after = copy.deepcopy(before)
    change(after)
    assert contract_change_reaches_jobs(before, after)


def test_a_contract_seen_for_the_first_time_wakes_its_jobs() -> None:
    assert contract_change_reaches_jobs(None, _contract())
