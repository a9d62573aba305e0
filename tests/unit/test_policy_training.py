"""TrainingJob admission names the contract term that decides, and metering reads pod times."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bench.hubkit.manifests import consented, contract_spec
from tds_operator.api.datacontract import DataContract
from tds_operator.api.trainingjob import TrainingJobSpec
from tds_operator.policy.training import (
    AdmissionInput,
    admit_training_job,
    gpus_held,
    must_wait,
    queued_ahead,
)

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
            {"job": a_job(workers=3, gpusPerWorker=8)},
            "ConcurrencyExceeded",
            "maxConcurrentGpus 16: the job could never run",
        ),
        ({"jobs_admitted": 20}, "JobLimitReached", "maxJobs is 20"),
        ({"gpu_hours_used": 500.0}, "BudgetExhausted", "500 of its 500 GPU-hours"),
    ],
)
def test_each_denial_names_the_term(changes: dict[str, Any], reason: str, words: str) -> None:
    decision = admit_training_job(case(**changes))
    assert not decision.allowed
    assert not must_wait(decision), "a permanent refusal is a denial, not a wait"
    assert decision.reason == reason
    assert words in decision.message


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"contract_phase": "Proposed"},
        {"contract_phase": "Revoked"},
        {"jobs_admitted": 20},
        {"gpu_hours_used": 500.0},
        {"job": a_job(purpose="analytics")},
    ],
)
def test_a_namespace_of_neither_party_learns_nothing_of_the_contract(state: dict[str, Any]) -> None:
    """Whatever the contract's phase or use, a job in a bystander's namespace gets the very
    answer a contract that does not exist gets: it names neither phase nor consumer."""
    absent = admit_training_job(case(namespace="tds-eve", contract=None))
    existing = admit_training_job(case(namespace="tds-eve", **state))
    assert (existing.allowed, existing.reason, existing.message) == (
        absent.allowed,
        absent.reason,
        absent.message,
    )
    assert existing.reason == "UnknownContract"
    assert "tds-cmcc" not in existing.message
    # Positive control: the provider's owners, who know the contract, are told where it belongs.
    provider = admit_training_job(case(namespace="tds-sgcc", **state))
    assert provider.reason != "UnknownContract"


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        (
            {"job": a_job(workers=2, gpusPerWorker=8), "gpus_held_by_others": 8},
            "queued at position 1: 2 workers x 8 GPUs = 16 GPUs, with the 8 GPUs",
        ),
        # It fits, but two jobs wait ahead of it: they go first.
        ({"queued_ahead": 2}, "queued at position 3, behind 2 queued before it"),
    ],
)
def test_a_job_that_does_not_fit_yet_waits(changes: dict[str, Any], words: str) -> None:
    decision = admit_training_job(case(**changes))
    assert must_wait(decision)
    assert decision.reason == "ContractConcurrency"
    assert words in decision.message
    assert "maxConcurrentGpus 16" in decision.message


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"contract_phase": "Revoked"}, "ContractNotActive"),
        ({"jobs_admitted": 20}, "JobLimitReached"),
        ({"gpu_hours_used": 500.0}, "BudgetExhausted"),
        ({"job": a_job(workers=2, gpusPerWorker=8, purpose="analytics")}, "PurposeMismatch"),
    ],
)
def test_a_permanent_refusal_wins_over_waiting(changes: dict[str, Any], reason: str) -> None:
    waiting = {"gpus_held_by_others": 16, "queued_ahead": 1}
    decision = admit_training_job(case(**{**waiting, **changes}))
    assert (decision.reason, must_wait(decision)) == (reason, False)


def test_queued_ahead_counts_the_contracts_earlier_queued_jobs() -> None:
    def job(uid: str, created: str, phase: str, contract: str = "c") -> dict[str, Any]:
        return {
            "metadata": {"uid": uid, "namespace": "tds-cmcc", "name": uid,
                         "creationTimestamp": created},
            "spec": {"contract": contract},
            "status": {"phase": phase},
        }  # fmt: skip

    jobs = [
        job("first", "2027-01-15T12:00:00Z", "Queued"),
        job("running", "2027-01-15T11:00:00Z", "Running"),
        job("elsewhere", "2027-01-15T11:00:00Z", "Queued", contract="other"),
        job("second", "2027-01-15T12:00:01Z", "Queued"),
        job("third", "2027-01-15T12:00:01Z", "Pending"),
    ]
    assert queued_ahead(jobs, "c", uid="first") == 0
    assert queued_ahead(jobs, "c", uid="second") == 1
    # Same second: namespace and name break the tie, so every replica sees the same order.
    assert queued_ahead(jobs, "c", uid="third") == 2
    assert queued_ahead(jobs, "c", uid="not-created-yet") == 0


def test_the_first_broken_term_is_reported() -> None:
    # Where the job may be created comes before anything about the contract's state.
    decision = admit_training_job(case(contract_phase="Expired", namespace="tds-sgcc"))
    assert decision.reason == "WrongNamespace"
    decision = admit_training_job(case(contract_phase="Expired", gpu_hours_used=500.0))
    assert decision.reason == "BudgetExhausted"


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
