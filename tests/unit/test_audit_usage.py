"""A contract's usage as the ledger and the live jobs tell it: exact, never counted twice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tds_operator.api.datacontract import ContractUsage
from tds_operator.audit.chain import AuditEntry, AuditEvent, extend
from tds_operator.audit.usage import (
    JobLoad,
    admitted_jobs,
    contract_usage,
    job_load,
    jobs_in_flight,
    usage_by_job,
)

pytestmark = pytest.mark.unit

AT = datetime(2027, 1, 15, tzinfo=UTC)


def ledger(*events: tuple[str, str, dict[str, Any]]) -> list[AuditEntry]:
    return extend(
        [],
        [
            AuditEvent(id=id, kind=kind, contract="c", actor="tds-operator", at=AT, details=d)
            for id, kind, d in events
        ],
    )


def live(uid: str, gpu_seconds: int) -> dict[str, Any]:
    return {"metadata": {"uid": uid}, "status": {"gpuSeconds": gpu_seconds}}


CHAIN = ledger(
    ("job/a/admitted", "JobAdmitted", {"uid": "a"}),
    ("usage/a/3600", "UsageMetered", {"uid": "a", "gpuSeconds": 3600}),
    ("usage/a/5400", "UsageMetered", {"uid": "a", "gpuSeconds": 5400}),
    ("job/b/admitted", "JobAdmitted", {"uid": "b"}),
    ("job/x/denied", "JobDenied", {"uid": "x"}),
)


def test_the_latest_metered_total_of_each_job_counts() -> None:
    assert usage_by_job(CHAIN) == {"a": 5400}
    assert admitted_jobs(CHAIN) == {"a", "b"}


def test_live_status_adds_what_the_ledger_has_not_checkpointed_yet() -> None:
    usage = contract_usage(CHAIN, [live("a", 6000), live("b", 1200)])
    assert usage == ContractUsage(gpu_hours=round(7200 / 3600, 6), jobs=2)


def test_a_deleted_job_keeps_its_recorded_usage() -> None:
    assert contract_usage(CHAIN, []) == ContractUsage(gpu_hours=1.5, jobs=2)


def test_a_stale_live_status_never_lowers_the_usage() -> None:
    assert contract_usage(CHAIN, [live("a", 100)]).gpu_hours == 1.5


def test_jobs_that_were_never_admitted_do_not_count() -> None:
    assert contract_usage(CHAIN, [live("x", 9999)]) == ContractUsage(gpu_hours=1.5, jobs=2)


def job_in(phase: str | None, uid: str) -> dict[str, Any]:
    return {"metadata": {"uid": uid}, "status": {"phase": phase} if phase else {}}


def test_a_job_the_ledger_admitted_is_in_flight_before_its_status_says_so() -> None:
    assert jobs_in_flight(CHAIN, [job_in(None, "a"), job_in("Pending", "b")]) == 2


def test_finished_and_never_admitted_jobs_are_not_in_flight() -> None:
    jobs = [job_in("Succeeded", "a"), job_in("Stopped", "b"), job_in(None, "x")]
    assert jobs_in_flight(CHAIN, jobs) == 0
    assert jobs_in_flight(CHAIN, [job_in("Running", "new")]) == 1


def sized_job_in(phase: str | None, workers: int = 1, gpus_per_worker: int = 8) -> dict[str, Any]:
    return {
        "metadata": {"uid": phase or "new"},
        "spec": {"workers": workers, "gpusPerWorker": gpus_per_worker},
        "status": {"phase": phase} if phase else {},
    }


def test_job_load_counts_waiting_and_running_jobs_and_the_gpus_they_hold() -> None:
    jobs = [
        sized_job_in(None),
        sized_job_in("Pending"),
        sized_job_in("Admitted", workers=2, gpus_per_worker=4),
        sized_job_in("Running", workers=1, gpus_per_worker=2),
        *(sized_job_in(phase) for phase in ("Succeeded", "Failed", "Denied", "Stopped")),
    ]
    # Admitted jobs hold their GPUs while they wait for their workers; finished jobs hold none.
    assert job_load(jobs) == JobLoad(queued=3, running=1, gpus_held=10)


def test_job_load_of_no_jobs_is_zero() -> None:
    assert job_load([]) == JobLoad(queued=0, running=0, gpus_held=0)
