"""Enforcement while a job runs: metering, deadline, stop reasons, outcomes. Pure, no cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tds_operator.api.trainingjob import TrainingJobSpec
from tds_operator.policy.decision import Decision
from tds_operator.policy.enforcement import (
    batch_outcome,
    budget_outcome,
    contract_ended_at,
    contract_lets_jobs_run,
    revoked,
    start_time,
    stop_order,
    stop_reason,
    succeeded_by,
    validity_outcome,
    worker_failure,
)
from tds_operator.policy.metering import (
    LEDGER_CHECKPOINT_GPU_SECONDS,
    LiveBudget,
    budget_exhausted,
    gpu_seconds,
    live_budget,
    next_metering,
    remaining_seconds,
    running_workers,
    seconds_to_budget_end,
    usage_due,
)

pytestmark = pytest.mark.unit

NOW = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)


def a_job(**spec: Any) -> TrainingJobSpec:
    return TrainingJobSpec.model_validate(
        {"contract": "sgcc-to-cmcc", "image": "registry.local/forecast:1.0", **spec}
    )


def live_contract(
    phase: str | None = "Active", revoked: bool = False, active: dict[str, str] | None = None
) -> dict[str, Any]:
    """A DataContract as the API server returns it, reduced to what enforcement reads."""
    status: dict[str, Any] = {"phase": phase} if phase else {}
    if active is not None:
        status["conditions"] = [{"type": "Active", "status": "False", **active}]
    return {"metadata": {"name": "sgcc-to-cmcc"}, "spec": {"revoked": revoked}, "status": status}


FAR_END = NOW + timedelta(days=30)


def test_the_wall_clock_limit_is_the_smaller_of_duration_and_budget() -> None:
    job = a_job(workers=2, gpusPerWorker=8, maxDurationSeconds=7200)
    assert remaining_seconds(job, 360000.0, 16, FAR_END, NOW, NOW) == 7200
    assert remaining_seconds(job, 3600.0, 16, FAR_END, NOW, NOW) == 225  # 3600 GPU-s, 16 GPUs
    assert remaining_seconds(job, 0.0, 16, FAR_END, NOW, NOW) == 1


def test_the_budget_deadline_is_the_second_the_budget_runs_out_at_the_gpus_held() -> None:
    job = a_job(workers=1, gpusPerWorker=8, maxDurationSeconds=7200)
    started = NOW - timedelta(seconds=100, milliseconds=400)
    # 36 GPU-seconds left at 12 GPUs (a sibling holds 4): 3 s from now, 104 s from the start
    # (whole seconds, as the Job controller counts them), with no grace after it.
    assert remaining_seconds(job, 36.0, 12, FAR_END, started, NOW) == 104
    # A sibling ends: the budget lasts longer on this job's 8 GPUs alone (ceil of 4.5 s).
    assert remaining_seconds(job, 36.0, 8, FAR_END, started, NOW) == 106
    # Used up: the very second it is set.
    assert remaining_seconds(job, -2.0, 8, FAR_END, started, NOW) == 101


def test_the_deadline_never_reaches_past_the_contracts_end() -> None:
    job = a_job(workers=2, gpusPerWorker=8, maxDurationSeconds=86400)
    # 500 GPU-hours on 16 GPUs would be 112,500 s; the contract ends in 10 min 30.5 s.
    not_after = NOW + timedelta(minutes=10, seconds=30, milliseconds=500)
    assert remaining_seconds(job, 500.0 * 3600, 16, not_after, NOW, NOW) == 630
    # A contract that ends within the second still gets no more than one second.
    soon = NOW + timedelta(milliseconds=300)
    assert remaining_seconds(job, 500.0 * 3600, 16, soon, NOW, NOW) == 1


def test_usage_is_next_metered_at_the_whole_second_the_budget_runs_out() -> None:
    at = NOW.replace(microsecond=300_000)
    # 36 GPU-seconds left on 8 GPUs: 4.5 s, so the metered usage reaches it 5 whole seconds on.
    assert next_metering(36, 8, at, interval=10.0) == pytest.approx(4.7)
    assert next_metering(36, 8, at, interval=2.0) == 2.0
    assert next_metering(1000, 8, at, interval=2.0) == 2.0
    assert seconds_to_budget_end(36, 8, at) == pytest.approx(4.7)


def test_a_stop_is_prepared_its_lead_before_the_budgets_second() -> None:
    at = NOW.replace(microsecond=300_000)
    # The budget's second is 4.7 s away: wake 1 s before it, and at once once that is past.
    assert next_metering(36, 8, at, interval=10.0, lead=1.0) == pytest.approx(3.7)
    assert next_metering(4, 8, at, interval=10.0, lead=1.0) == 0.0
    assert seconds_to_budget_end(4, 8, at) == pytest.approx(0.7)


def test_without_running_gpus_or_budget_left_usage_is_metered_at_the_interval() -> None:
    assert next_metering(36, 0, NOW, interval=2.0) == 2.0
    assert next_metering(-5, 8, NOW, interval=2.0) == 2.0
    assert seconds_to_budget_end(36, 0, NOW) is None
    assert seconds_to_budget_end(-5, 8, NOW) is None


def pod(state: dict[str, Any]) -> dict[str, Any]:
    return {"status": {"containerStatuses": [{"name": "worker", "state": state}]}}


def test_gpu_seconds_of_finished_and_running_workers() -> None:
    finished = pod(
        {"terminated": {"startedAt": "2027-01-15T11:59:00Z", "finishedAt": "2027-01-15T11:59:30Z"}}
    )
    running = pod({"running": {"startedAt": "2027-01-15T11:59:50Z"}})
    # 30 s + 10 s, each on 8 GPUs.
    assert gpu_seconds([finished, running], gpus_per_worker=8, now=NOW) == 320


def test_a_running_worker_counts_whole_seconds_like_its_pod_times() -> None:
    running = pod({"running": {"startedAt": "2027-01-15T11:59:50Z"}})
    later = NOW.replace(microsecond=999_999)
    # Never more than the finished pod will show (finishedAt has whole seconds too).
    assert gpu_seconds([running], gpus_per_worker=8, now=later) == 80


def test_workers_that_never_started_use_nothing() -> None:
    waiting = pod({"waiting": {"reason": "ContainerCreating"}})
    assert gpu_seconds([waiting, {"status": {}}], gpus_per_worker=8, now=NOW) == 0


def test_jobs_run_only_under_an_active_contract_nobody_revoked() -> None:
    assert contract_lets_jobs_run(live_contract("Active"))
    assert not contract_lets_jobs_run(None)
    assert not contract_lets_jobs_run(live_contract("Suspended"))
    assert not contract_lets_jobs_run(live_contract(None))
    # Revocation is final: it stops jobs before the contract's own reconcile reports Revoked.
    assert not contract_lets_jobs_run(live_contract("Active", revoked=True))
    assert revoked(live_contract("Active", revoked=True))
    assert not revoked(None)


def test_a_deleted_contract_stops_its_jobs_with_its_own_reason() -> None:
    decision = stop_reason(None)
    assert (decision.allowed, decision.reason) == (False, "ContractDeleted")


def test_a_revocation_not_yet_reported_stops_jobs_as_revoked() -> None:
    decision = stop_reason(live_contract("Active", revoked=True))
    assert decision.reason == "Revoked"
    assert "spec.revoked is true" in decision.message


def test_a_stop_carries_the_reason_of_the_contracts_active_condition() -> None:
    contract = live_contract(
        "Exhausted", active={"reason": "GpuBudgetExhausted", "message": "2 of 2 GPU-hours used"}
    )
    decision = stop_reason(contract)
    assert decision.reason == "GpuBudgetExhausted"
    assert decision.message == "DataContract sgcc-to-cmcc is Exhausted: 2 of 2 GPU-hours used"


def test_a_contract_without_an_active_condition_stops_jobs_as_not_active() -> None:
    assert stop_reason(live_contract("Proposed")).reason == "ContractNotActive"


def batch(type: str, status: str = "True", **fields: str) -> dict[str, Any]:
    return {"status": {"conditions": [{"type": type, "status": status, **fields}]}}


def failed_pod(index: str, code: int) -> dict[str, Any]:
    terminated = {"exitCode": code, "reason": "Error", "message": "boom"}
    return {
        "metadata": {"annotations": {"batch.kubernetes.io/job-completion-index": index}},
        "status": {"containerStatuses": [{"state": {"terminated": terminated}}]},
    }


def test_a_running_batch_job_has_no_outcome_yet() -> None:
    assert batch_outcome({"status": {}}, []) is None
    assert batch_outcome(batch("Complete", status="False"), []) is None


def test_a_complete_batch_job_succeeded() -> None:
    outcome = batch_outcome(batch("Complete"), [])
    assert outcome is not None
    phase, decision = outcome
    assert (phase, decision.allowed, decision.reason) == ("Succeeded", True, "Completed")


def test_a_failed_batch_job_names_its_reason_and_the_failing_worker() -> None:
    failed = batch("Failed", reason="BackoffLimitExceeded", message="Job has reached the limit")
    outcome = batch_outcome(failed, [failed_pod("0", 0), failed_pod("1", 3)])
    assert outcome is not None
    phase, decision = outcome
    assert (phase, decision.reason) == ("Failed", "BackoffLimitExceeded")
    assert decision.message == "Job has reached the limit; worker 1 exited with code 3 (Error)"


def test_a_failure_without_reason_or_worker_is_still_a_failure() -> None:
    outcome = batch_outcome(batch("Failed"), [])
    assert outcome is not None
    assert outcome[1].reason == "JobFailed"
    assert outcome[1].message == "the batch Job failed"
    assert worker_failure([failed_pod("0", 0)]) == ""


def test_no_text_the_worker_wrote_reaches_the_failure_message() -> None:
    secret = "grid-load row 17: 2027-01-15,412.7MW," * 100
    pod = failed_pod("0", 1)
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    terminated.update(message=secret, reason=secret[:64])
    pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] = "0"
    failed = batch("Failed", reason="BackoffLimitExceeded", message="Job has reached the limit")
    outcome = batch_outcome(failed, [pod])
    assert outcome is not None
    assert outcome[1].message == "Job has reached the limit; worker 0 exited with code 1 (Error)"
    assert "grid-load" not in worker_failure([pod])


def test_a_worker_killed_for_memory_says_so() -> None:
    pod = failed_pod("1", 137)
    pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] = "OOMKilled"
    assert worker_failure([pod]) == "worker 1 exited with code 137 (OOMKilled)"


def test_the_start_time_is_the_first_worker_start() -> None:
    pods = [
        {"status": {"startTime": "2027-01-15T11:59:50Z", "phase": "Running"}},
        {"status": {"startTime": "2027-01-15T11:59:40Z", "phase": "Pending"}},
        {"status": {}},
    ]
    assert start_time(pods) == "2027-01-15T11:59:40Z"
    assert start_time([{"status": {}}]) is None
    assert running_workers(pods) == 1


def test_usage_is_due_at_a_checkpoint_and_at_the_end() -> None:
    step = LEDGER_CHECKPOINT_GPU_SECONDS
    assert not usage_due(100, 0, final=False)
    assert usage_due(step, 0, final=False)
    assert usage_due(100, 0, final=True)
    # Never a step back, never the same figure twice.
    assert not usage_due(100, 100, final=True)
    assert not usage_due(50, 100, final=True)


def worker(started: str) -> dict[str, Any]:
    """A worker pod Running since `started`."""
    return {"status": {"phase": "Running", **pod({"running": {"startedAt": started}})["status"]}}


def training_job(
    uid: str, phase: str, gpus_per_worker: int, gpu_seconds: int = 0
) -> dict[str, Any]:
    return {
        "metadata": {"uid": uid, "namespace": "cmcc", "name": uid},
        "spec": {"gpusPerWorker": gpus_per_worker},
        "status": {"phase": phase, "gpuSeconds": gpu_seconds},
    }


def test_the_live_budget_counts_every_jobs_pods_not_the_last_written_usage() -> None:
    # Two jobs of 2 GPUs have run 10 s and 5 s; their statuses still say 0 and 4.
    jobs = [
        (training_job("a", "Running", 2), [worker("2027-01-15T11:59:50Z")]),
        (training_job("b", "Running", 2, gpu_seconds=4), [worker("2027-01-15T11:59:55Z")]),
    ]
    budget = live_budget(72, {}, jobs, NOW)
    assert budget == LiveBudget(gpu_seconds_left=72 - 20 - 10, gpus_running=4)
    assert not budget.used_up
    # The two jobs use the 42 GPU-seconds left in 10.5 s: they wake at the 11th whole second.
    assert next_metering(budget.gpu_seconds_left, budget.gpus_running, NOW, 60) == 11


def test_finished_and_deleted_jobs_count_with_their_final_and_recorded_usage() -> None:
    finished = training_job("done", "Stopped", 8, gpu_seconds=40)
    running = (training_job("now", "Running", 1), [worker("2027-01-15T11:59:58Z")])
    # The ledger keeps a deleted job's 30 GPU-seconds, and once recorded less for the finished one.
    recorded = {"deleted": 30, "done": 20}
    budget = live_budget(72, recorded, [(finished, []), running], NOW)
    assert budget == LiveBudget(gpu_seconds_left=72 - 30 - 40 - 2, gpus_running=1)
    assert budget.used_up


def test_a_job_whose_status_is_ahead_of_its_pods_counts_its_status() -> None:
    # Its pods are gone (the batch Job was deleted) but its status recorded 50.
    budget = live_budget(36, {}, [(training_job("a", "Running", 8, gpu_seconds=50), [])], NOW)
    assert budget == LiveBudget(gpu_seconds_left=-14, gpus_running=0)


def test_a_used_up_budget_stops_jobs_with_the_contracts_reason() -> None:
    decision = budget_exhausted(36.0, LiveBudget(gpu_seconds_left=-4, gpus_running=8))
    assert not decision.allowed
    assert decision.reason == "GpuBudgetExhausted"
    assert "40 of its 36 GPU-seconds" in decision.message
    assert "spec.compute.maxGpuHours" in decision.message


def test_the_deadline_at_the_budgets_second_is_the_budget_stopping_the_job() -> None:
    deadline = ("Failed", Decision.deny("DeadlineExceeded", "Job was active longer than allowed"))
    # The contract's jobs metered the budget (to within the last second of this job's 4 GPUs).
    for left in (-2.0, 0.0, 3.0):
        phase, decision = budget_outcome(deadline, 180.0, LiveBudget(left, 0), 4)
        assert (phase, decision.reason) == ("Stopped", "GpuBudgetExhausted")
        assert "spec.compute.maxGpuHours" in decision.message
        assert "deadline" in decision.message
    # Budget left: the deadline was the job's own (maxDurationSeconds, notAfter).
    assert budget_outcome(deadline, 180.0, LiveBudget(4.0, 0), 4) == deadline
    crashed = ("Failed", Decision.deny("BackoffLimitExceeded", "worker 0 exited with code 1"))
    assert budget_outcome(crashed, 180.0, LiveBudget(-2.0, 0), 4) == crashed


def test_the_deadline_at_the_end_of_validity_is_the_contracts_expiry_not_a_failure() -> None:
    # The chaos campaign saw jobs of an expiring contract end Failed/DeadlineExceeded: the
    # batch Job's deadline, which never reaches past notAfter, won the race with the stop.
    not_after = datetime(2027, 3, 1, tzinfo=UTC)
    deadline = ("Failed", Decision.deny("DeadlineExceeded", "Job was active longer than allowed"))
    phase, decision = validity_outcome(deadline, not_after, not_after + timedelta(seconds=1))
    assert (phase, decision.reason) == ("Stopped", "ValidityEnded")
    assert "spec.validity.notAfter" in decision.message
    # Before notAfter, a deadline is the job's own (maxDurationSeconds, its budget share).
    assert validity_outcome(deadline, not_after, not_after - timedelta(seconds=1)) == deadline
    # Any other outcome stands.
    crashed = ("Failed", Decision.deny("BackoffLimitExceeded", "worker 0 exited with code 1"))
    assert validity_outcome(crashed, not_after, not_after) == crashed
    done = ("Succeeded", Decision.allow("Completed", "all workers completed"))
    assert validity_outcome(done, not_after, not_after) == done


def a_job_in(phase: str | None, name: str, *, deleting: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": "cmcc"}
    if deleting:
        metadata["deletionTimestamp"] = "2027-01-15T12:00:00Z"
    return {"metadata": metadata, "status": {"phase": phase} if phase else {}}


def names(jobs: list[Any]) -> list[str]:
    return [job["metadata"]["name"] for job in jobs]


def test_an_ended_contracts_stops_come_before_its_queued_jobs_denials() -> None:
    jobs = [
        a_job_in("Queued", "second"),
        a_job_in("Running", "first"),
        a_job_in("Queued", "third"),
        a_job_in(None, "new"),
        a_job_in("Admitted", "starting"),
    ]
    # The queued jobs are left to the stops' waking of the contract's queue.
    assert names(stop_order(jobs)) == ["first", "new", "starting"]


def test_with_no_job_holding_gpus_every_job_of_an_ended_contract_is_reconciled() -> None:
    jobs = [
        a_job_in("Queued", "second"),
        a_job_in("Running", "going", deleting=True),
        a_job_in("Succeeded", "done"),
    ]
    assert names(stop_order(jobs)) == ["second", "going", "done"]


def test_a_contract_ended_at_its_not_after_or_when_its_active_condition_turned_false() -> None:
    expired = live_contract() | {"spec": {"validity": {"notAfter": "2027-01-15T11:59:50Z"}}}
    assert contract_ended_at(expired, NOW) == NOW - timedelta(seconds=10)
    revoked = live_contract("Revoked", active={"lastTransitionTime": "2027-01-15T11:59:40Z"})
    assert contract_ended_at(revoked, NOW) == NOW - timedelta(seconds=20)
    # Revoked a moment ago, not reported yet; or deleted: it ends now.
    assert contract_ended_at(live_contract(revoked=True), NOW) == NOW
    assert contract_ended_at(None, NOW) == NOW


def test_a_job_whose_workers_completed_before_its_contract_ended_succeeded() -> None:
    done = pod(
        {"terminated": {"startedAt": "2027-01-15T11:59:00Z", "finishedAt": "2027-01-15T11:59:30Z"}}
    )
    outcome = succeeded_by(batch("Complete"), [done], NOW)
    assert outcome is not None
    assert outcome[0] == "Succeeded"
    # Completed after the contract's end, failed, or still running: the stop stands.
    assert succeeded_by(batch("Complete"), [done], NOW - timedelta(seconds=31)) is None
    assert succeeded_by(batch("Failed"), [done], NOW) is None
    assert succeeded_by({"status": {}}, [done], NOW) is None
    # Pods gone: the batch Job's completion time tells.
    complete = batch("Complete") | {
        "status": {**batch("Complete")["status"], "completionTime": "2027-01-15T12:00:05Z"}
    }
    assert succeeded_by(complete, [], NOW) is None
    assert succeeded_by(complete, [], NOW + timedelta(seconds=5)) is not None
