"""TrainingJob admission names the contract term that decides, and metering reads pod times."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tds_operator.api.datacontract import DataContract
from tds_operator.api.trainingjob import TrainingJobSpec
from tds_operator.policy.training import (
    AdmissionInput,
    admit_training_job,
    gpu_seconds,
    gpus_held,
    next_metering,
    remaining_seconds,
)
from tests.manifests import consented, contract_spec

pytestmark = pytest.mark.unit

NOW = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)


def a_contract(**changes: Any) -> DataContract:
    spec = consented(contract_spec(**changes))
    return DataContract(metadata={"name": "sgcc-to-cmcc"}, spec=spec)


def a_job(**spec: Any) -> TrainingJobSpec:
    return TrainingJobSpec.model_validate(
        {"contract": "sgcc-to-cmcc", "image": "registry.local/forecast:1.0", **spec}
    )


def case(**changes: Any) -> AdmissionInput:
    values: dict[str, Any] = {
        "job": a_job(workers=2, gpusPerWorker=4),
        "namespace": "tds-cmcc",
        "contract": a_contract(),
        "contract_phase": "Active",
        "gpus_held_by_others": 0,
        "jobs_admitted": 0,
        "gpu_hours_used": 0.0,
    }
    values.update(changes)
    return AdmissionInput(**values)


def test_a_job_that_fits_every_term_is_admitted() -> None:
    decision = admit_training_job(case())
    assert decision.allowed
    assert decision.reason == "Admitted"
    assert "2 workers x 4 GPUs" in decision.message


@pytest.mark.parametrize(
    ("changes", "reason", "words"),
    [
        ({"contract": None}, "UnknownContract", "no DataContract sgcc-to-cmcc"),
        ({"contract_phase": "Proposed"}, "ContractNotActive", "is Proposed, not Active"),
        ({"contract_phase": "Revoked"}, "ContractNotActive", "is Revoked"),
        ({"namespace": "tds-sgcc"}, "WrongNamespace", "consumer's namespace tds-cmcc"),
        ({"job": a_job(purpose="analytics")}, "PurposeMismatch", "analytics"),
        ({"job": a_job(datasets=["grid-topology"])}, "DatasetNotInContract", "grid-topology"),
        (
            {"job": a_job(workers=2, gpusPerWorker=8), "gpus_held_by_others": 8},
            "ConcurrencyExceeded",
            "maxConcurrentGpus 16",
        ),
        ({"jobs_admitted": 20}, "JobLimitReached", "maxJobs is 20"),
        ({"gpu_hours_used": 500.0}, "BudgetExhausted", "500 of its 500 GPU-hours"),
    ],
)
def test_each_denial_names_the_term(changes: dict[str, Any], reason: str, words: str) -> None:
    decision = admit_training_job(case(**changes))
    assert not decision.allowed
    assert decision.reason == reason
    assert words in decision.message


def test_the_first_broken_term_is_reported() -> None:
    decision = admit_training_job(case(contract_phase="Expired", namespace="tds-sgcc"))
    assert decision.reason == "ContractNotActive"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"gpu_hours_used": 500.0}, "BudgetExhausted"),
        ({"jobs_admitted": 20}, "JobLimitReached"),
    ],
)
def test_a_contract_exhausted_by_a_term_refuses_with_that_terms_reason(
    changes: dict[str, Any], reason: str
) -> None:
    decision = admit_training_job(case(contract_phase="Exhausted", **changes))
    assert decision.reason == reason


def test_a_small_budget_shows_what_was_used_of_it() -> None:
    decision = admit_training_job(
        case(contract=a_contract(compute={"maxGpuHours": 0.002, "maxConcurrentGpus": 8}),
             gpu_hours_used=0.002222)
    )  # fmt: skip
    assert "used 0.002222 of its 0.002 GPU-hours" in decision.message


def test_exactly_the_concurrency_limit_is_allowed() -> None:
    job = a_job(workers=1, gpusPerWorker=8)
    assert admit_training_job(case(job=job, gpus_held_by_others=8)).allowed


def test_a_contract_without_job_limit_admits_any_number() -> None:
    contract = a_contract(maxJobs=None)
    assert admit_training_job(case(contract=contract, jobs_admitted=10_000)).allowed


def test_gpus_held_counts_only_running_jobs_of_the_contract_and_not_the_asker() -> None:
    def job(uid: str, contract: str, phase: str, workers: int = 1) -> dict[str, Any]:
        return {
            "metadata": {"uid": uid},
            "spec": {"contract": contract, "workers": workers, "gpusPerWorker": 8},
            "status": {"phase": phase},
        }

    jobs = [
        job("a", "c", "Running", workers=2),
        job("b", "c", "Admitted"),
        job("c", "c", "Succeeded"),
        job("d", "other", "Running"),
        job("me", "c", "Running"),
    ]
    assert gpus_held(jobs, "c", except_uid="me") == 24


def test_the_wall_clock_limit_is_the_smaller_of_duration_and_budget() -> None:
    job = a_job(workers=2, gpusPerWorker=8, maxDurationSeconds=7200)
    assert remaining_seconds(job, gpu_hours_left=100.0) == 7200
    assert remaining_seconds(job, gpu_hours_left=1.0) == 225  # 3600 GPU-s over 16 GPUs
    assert remaining_seconds(job, gpu_hours_left=0.0) == 1


def test_the_budget_deadline_is_a_backstop_after_the_budget_ends() -> None:
    job = a_job(workers=1, gpusPerWorker=8, maxDurationSeconds=7200)
    # 0.01 GPU-hours are 36 GPU-seconds: 4 s on 8 GPUs, then 10 s of grace.
    assert remaining_seconds(job, gpu_hours_left=0.01, grace_seconds=10) == 14
    assert remaining_seconds(job, gpu_hours_left=100.0, grace_seconds=10) == 7200


def test_usage_is_next_metered_at_the_whole_second_the_budget_runs_out() -> None:
    at = NOW.replace(microsecond=300_000)
    # 36 GPU-seconds left on 8 GPUs: 4.5 s, so the metered usage reaches it 5 whole seconds on.
    assert next_metering(36, 8, at, interval=10.0) == pytest.approx(4.7)
    assert next_metering(36, 8, at, interval=2.0) == 2.0
    assert next_metering(1000, 8, at, interval=2.0) == 2.0


def test_without_running_gpus_or_budget_left_usage_is_metered_at_the_interval() -> None:
    assert next_metering(36, 0, NOW, interval=2.0) == 2.0
    assert next_metering(-5, 8, NOW, interval=2.0) == 2.0


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
