"""The chaos campaign's invariants, on hand-made facts: each holds for a sound history and fails
on the violation it exists to catch."""

from __future__ import annotations

from dataclasses import replace

import pytest
from bench.chaos_invariants import (
    ContractEnd,
    ContractFacts,
    JobFacts,
    Owned,
    PodRun,
    SpaceChildren,
    check_budgets,
    check_clean_rooms_closed,
    check_contract_phases,
    check_ledgers,
    check_metering,
    check_nothing_runs_after_end,
    check_owners,
    check_phases,
    check_space_children,
    expected_phases,
    unserved,
)

pytestmark = pytest.mark.unit

T0 = 1_800_000_000.0
REVOKED = ContractEnd("Revoked", T0 + 30)


def job(name: str = "j1", **facts: object) -> JobFacts:
    """A 1-GPU job of contract c1 that started at T0 for 10 s and succeeded, metered 10."""
    base = JobFacts(
        namespace="tds-b",
        name=name,
        uid=f"uid-{name}",
        contract="c1",
        gpus=1,
        run_for=10,
        deleted=False,
        phase="Succeeded",
        reason="Completed",
        start=T0,
        gpu_seconds=10,
        stopped_seen=T0 + 10.5,
        pods=(PodRun(T0, T0 + 10, 1),),
    )
    return replace(base, **facts)  # type: ignore[arg-type]


def contract(**facts: object) -> ContractFacts:
    """Contract c1: revoked at T0+30, its ledger sound, job j1 admitted and metered 10."""
    base = ContractFacts(
        name="c1",
        phase="Revoked",
        end=REVOKED,
        budget_gpu_seconds=3600,
        usage_gpu_seconds=10,
        ledger_verified=True,
        sequences=(1, 2, 3, 4),
        admissions={"uid-j1": 1},
        metered={"uid-j1": 10},
        clean_room=False,
    )
    return replace(base, **facts)  # type: ignore[arg-type]


def stopped_by_revocation() -> JobFacts:
    """A 60-s job that started at T0 and was stopped 1.5 s after the revocation at T0+30."""
    return job(
        run_for=60,
        phase="Stopped",
        reason="Revoked",
        gpu_seconds=31,
        stopped_seen=T0 + 31.5,
        pods=(PodRun(T0, T0 + 31, 1),),
    )


def test_a_job_that_finished_before_the_revocation_succeeded() -> None:
    assert check_phases([job()], [contract()]).holds


def test_a_job_running_at_the_revocation_is_stopped_as_revoked() -> None:
    stopped = stopped_by_revocation()
    assert check_phases([stopped], [contract(metered={"uid-j1": 31})]).holds
    check = check_phases([replace(stopped, phase="Succeeded")], [contract()])
    assert not check.holds
    assert "Succeeded" in check.violations[0]
    assert not check_phases([replace(stopped, reason="ValidityEnded")], [contract()]).holds


def test_a_job_near_the_end_may_go_either_way() -> None:
    near = job(run_for=29)
    assert expected_phases(near, REVOKED) == {("Succeeded", None), ("Stopped", "Revoked")}


def test_a_job_that_never_started_is_denied_or_stopped_never_succeeded() -> None:
    assert not check_phases([job(start=None)], [contract()]).holds
    assert check_phases([job(start=None, phase="Denied", reason="x")], [contract()]).holds


def test_a_job_left_running_or_a_deleted_job_still_there_fails() -> None:
    assert not check_phases([job(phase="Running")], [contract()]).holds
    assert not check_phases([job(deleted=True)], [contract()]).holds
    assert check_phases([job(deleted=True, phase=None)], [contract()]).holds


def test_the_worst_lag_after_a_revocation_is_reported_and_bounded() -> None:
    stopped = stopped_by_revocation()
    check, worst = check_nothing_runs_after_end([stopped], [contract()], bound=10)
    assert check.holds
    assert worst == {"Revoked": pytest.approx(1.5)}
    late = replace(stopped, stopped_seen=T0 + 45, pods=(PodRun(T0, T0 + 45, 1),))
    check, _ = check_nothing_runs_after_end([late], [contract()], bound=10)
    assert not check.holds
    assert "15.0s after Revoked" in check.violations[0]


def test_a_lag_tells_the_time_no_leader_or_no_api_server_served_from_the_leaders_own() -> None:
    late = replace(stopped_by_revocation(), stopped_seen=T0 + 45, pods=(PodRun(T0, T0 + 45, 1),))
    # Revoked at T0 + 30: a leader killed at T0 + 28 (standby led 5 s later), the API server
    # down from T0 + 31 to T0 + 36 (overlapping), another kill long after.
    gaps = [(T0 + 28, T0 + 33), (T0 + 31, T0 + 36), (T0 + 100, T0 + 104)]
    assert unserved(T0 + 30, T0 + 45, gaps) == pytest.approx(6.0)
    check, _ = check_nothing_runs_after_end([late], [contract()], bound=10, gaps=gaps)
    assert "(6.0s of it unserved" in check.violations[0]
    assert "Revoked 15.00s (6.0s unserved)" in check.figures


def test_an_object_whose_owner_is_gone_is_an_orphan() -> None:
    pod = Owned("Pod", "tds-cr-c1", "j1-0", ("Job", "tds-cr-c1", "j1"))
    batch = Owned("Job", "tds-cr-c1", "j1", ("TrainingJob", "tds-b", "j1"))
    owners = {("Job", "tds-cr-c1", "j1"), ("TrainingJob", "tds-b", "j1")}
    assert check_owners([pod, batch], owners).holds
    check = check_owners([pod, batch], {("Job", "tds-cr-c1", "j1")})
    assert check.violations == ["Job tds-cr-c1/j1: owner ('TrainingJob', 'tds-b', 'j1') is gone"]
    assert not check_owners([replace(pod, owner=None)], owners).holds


def test_a_clean_room_left_for_an_ended_contract_fails_unless_a_job_still_runs() -> None:
    assert check_clean_rooms_closed([contract()], [job()]).holds
    assert not check_clean_rooms_closed([contract(clean_room=True)], [job()]).holds
    assert check_clean_rooms_closed([contract(clean_room=True)], [job(phase="Running")]).holds
    assert check_clean_rooms_closed([contract(end=None, clean_room=True)], [job()]).holds


def test_ledgers_verify_without_a_gap_and_admit_each_job_once() -> None:
    assert check_ledgers([contract()], [job()]).holds
    assert not check_ledgers([contract(ledger_verified=False)], [job()]).holds
    assert not check_ledgers([contract(sequences=(1, 2, 4))], [job()]).holds
    assert not check_ledgers([contract(admissions={"uid-j1": 2})], [job()]).holds
    assert not check_ledgers([contract(admissions={})], [job()]).holds
    denied = job(phase="Denied", start=None, pods=())
    assert check_ledgers([contract(admissions={})], [denied]).holds
    assert not check_ledgers([contract()], [denied]).holds


def test_metering_matches_pods_ledger_and_usage() -> None:
    assert check_metering([job()], [contract()]).holds
    # A second off per pod is tolerated, two are not.
    assert check_metering(
        [job(gpu_seconds=11)], [contract(metered={"uid-j1": 11}, usage_gpu_seconds=11)]
    ).holds
    check = check_metering(
        [job(gpu_seconds=12)], [contract(metered={"uid-j1": 12}, usage_gpu_seconds=12)]
    )
    assert not check.holds
    assert "its pods ran 10.0" in check.violations[0]
    assert not check_metering([job()], [contract(metered={"uid-j1": 9})]).holds
    assert not check_metering([job()], [contract(usage_gpu_seconds=20)]).holds


def test_no_contract_meters_more_than_its_budget_and_a_second_of_its_gpus() -> None:
    exhausted = contract(
        phase="Exhausted", end=ContractEnd("Exhausted", T0 + 30), budget_gpu_seconds=180
    )
    holders = [job(f"j{n}", gpus=2, phase="Stopped", reason="GpuBudgetExhausted") for n in range(3)]
    assert check_budgets([replace(exhausted, usage_gpu_seconds=186)], holders).holds
    check = check_budgets([replace(exhausted, usage_gpu_seconds=190)], holders)
    assert not check.holds
    assert "metered 190 of a 180 GPU-s budget holding 6 GPUs" in check.violations[0]


def test_a_space_missing_a_child_fails() -> None:
    children = frozenset({"Namespace tds-a", "ResourceQuota tds-a/gpus"})
    assert check_space_children([SpaceChildren("a", children, children)]).holds
    missing = SpaceChildren("a", children, frozenset({"Namespace tds-a"}))
    check = check_space_children([missing])
    assert check.violations == ["a: missing ResourceQuota tds-a/gpus"]


def test_a_contract_out_of_its_planned_phase_fails() -> None:
    assert check_contract_phases({"c1": "Revoked"}, [contract()]).holds
    assert not check_contract_phases({"c1": "Revoked"}, [contract(phase="Active")]).holds
    assert not check_contract_phases({"c2": "Active"}, [contract()]).holds
