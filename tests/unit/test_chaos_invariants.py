"""The chaos campaign's invariants, on hand-made facts: each holds for a sound history and fails
on the violation it exists to catch."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench.chaos.judge import (
    ContractEnd,
    ContractFacts,
    JobFacts,
    Owned,
    PodRun,
    SpaceChildren,
    budget_second,
    check_budgets,
    check_clean_rooms_closed,
    check_contract_phases,
    check_ledgers,
    check_metering,
    check_nothing_runs_after_end,
    check_owners,
    check_phases,
    check_space_children,
    check_takeovers,
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


def test_a_lag_is_bounded_in_served_seconds_and_tells_the_unserved_apart() -> None:
    late = replace(stopped_by_revocation(), stopped_seen=T0 + 45, pods=(PodRun(T0, T0 + 45, 1),))
    # Revoked at T0 + 30: a leader killed at T0 + 28 (standby led 5 s later), the API server
    # down from T0 + 31 to T0 + 36 (overlapping), another kill long after.
    gaps = [(T0 + 28, T0 + 33), (T0 + 31, T0 + 36), (T0 + 100, T0 + 104)]
    assert unserved(T0 + 30, T0 + 45, gaps) == pytest.approx(6.0)
    check, _ = check_nothing_runs_after_end([late], [contract()], bound=10, gaps=gaps)
    assert check.holds, check.violations
    assert "Revoked 15.00s (6.0s unserved); worst served 9.00s" in check.figures
    later = replace(late, stopped_seen=T0 + 47, pods=(PodRun(T0, T0 + 47, 1),))
    check, _ = check_nothing_runs_after_end([later], [contract()], bound=10, gaps=gaps)
    assert "ran 17.0s after Revoked, 11.0s of it served (6.0s unserved" in check.violations[0]
    assert "a pod ran until 17.0s after Revoked, 11.0s of it served" in check.violations[1]


def test_a_pod_is_bounded_even_when_its_phase_was_reported_in_time() -> None:
    running_on = replace(stopped_by_revocation(), pods=(PodRun(T0, T0 + 42, 1),))
    check, _ = check_nothing_runs_after_end([running_on], [contract()], bound=10)
    assert not check.holds
    assert "a pod ran until 12.0s after Revoked" in check.violations[0]


def test_every_takeover_is_bounded_but_for_the_seconds_with_no_api_server() -> None:
    kills = [(T0, T0 + 4.0), (T0 + 20, T0 + 25.2)]
    assert check_takeovers(kills, bound=8).holds
    check = check_takeovers([*kills, (T0 + 40, T0 + 49.5)], bound=8)
    assert check.violations == ["takeover 3: 9.5s, 9.5s served"]
    assert "3 takeovers, mean 6.2s, worst 9.5s" in check.figures
    # The API server down from T0 + 41 to T0 + 48: no replica could take the Lease.
    check = check_takeovers([*kills, (T0 + 40, T0 + 52)], bound=8, outages=[(T0 + 41, T0 + 48)])
    assert check.holds, check.violations
    assert "takeover 3 12.0s, 7.0s of it with no API server" in check.figures


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


def test_the_budget_runs_out_when_the_pods_own_seconds_reach_it() -> None:
    pods = [PodRun(T0, T0 + 100, 2), PodRun(T0 + 10, T0 + 100, 4)]
    # 2 GPUs alone for 10 s (20), then 6 GPUs: 180 is reached 160 / 6 s later.
    assert budget_second(pods, 180) == pytest.approx(T0 + 10 + 160 / 6)
    assert budget_second(pods, 20) == pytest.approx(T0 + 10)
    assert budget_second(pods, 10_000) is None


def test_the_seconds_with_no_api_server_at_the_budgets_second_are_its_gpus_allowance() -> None:
    exhausted = contract(
        phase="Exhausted", end=ContractEnd("Exhausted", T0 + 40), budget_gpu_seconds=180
    )
    # Three 2-GPU jobs from T0: 180 GPU-seconds at T0 + 30; the API server was down from
    # T0 + 28.4 to T0 + 31, and the pods stopped at T0 + 32: 2 s late, 1 s of it unserved.
    holders = [
        job(
            f"j{n}",
            gpus=2,
            phase="Stopped",
            reason="GpuBudgetExhausted",
            pods=(PodRun(T0, T0 + 32, 2),),
        )
        for n in range(3)
    ]
    over_by_twelve = replace(exhausted, usage_gpu_seconds=192)
    assert not check_budgets([over_by_twelve], holders).holds
    check = check_budgets([over_by_twelve], holders, outages=[(T0 + 28.4, T0 + 31)])
    assert check.holds, check.violations
    assert "+12 GPU-s over, 6 GPUs held, 1.0s of it with no API server" in check.figures
    check = check_budgets(
        [replace(exhausted, usage_gpu_seconds=193)], holders, outages=[(T0 + 28.4, T0 + 31)]
    )
    assert "holding 6 GPUs (1.0s of it with no API server)" in check.violations[0]


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
