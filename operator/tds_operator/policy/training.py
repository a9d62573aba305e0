"""Admission and metering of TrainingJobs: which term allows, queues or denies a job, and what
it used.

The webhook and the reconciler call `admit_training_job` with the same input, so the immediate
answer and the enforced one never differ. A job that merely does not fit yet (`must_wait`) is not
refused: the webhook lets it in and the reconciler queues it until its turn comes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import space_namespace
from tds_operator.api.jobcontracts import contracts_of
from tds_operator.api.trainingjob import (
    CONTRACT_CONCURRENCY,
    HOLDING_PHASES,
    TrainingJobSpec,
)
from tds_operator.policy.decision import Decision, first_failing


@dataclass(frozen=True)
class AdmissionInput:
    """A job asking to run, the contract it names, and what the contract already uses."""

    job: TrainingJobSpec
    namespace: str
    contract: DataContract | None
    contract_phase: str | None
    gpus_held_by_others: int
    jobs_admitted: int
    gpu_hours_used: float
    queued_ahead: int = 0
    """The contract's queued jobs created before this one: they are admitted first."""
    contract_name: str = ""
    """Which of the job's contracts this case judges (default: its first)."""

    @property
    def name(self) -> str:
        """The name of the contract judged, as the job names it."""
        return self.contract_name or self.job.contract


def _neutral(case: AdmissionInput) -> Decision:
    return Decision.deny(
        "UnknownContract",
        f"{'spec.contracts' if case.job.joint else 'spec.contract'}: there is no DataContract "
        f"{case.name} under which jobs may be "
        f"created in namespace {case.namespace}",
    )


def contract_is_ours(case: AdmissionInput) -> Decision:
    """spec.contract names an existing DataContract whose consumer's namespace holds the job.
    A namespace of neither party gets the answer a contract that does not exist gets, whatever
    the contract's phase or use: a third party learns neither that it exists, nor its state, nor
    its consumer. Only the provider's own namespace, whose owners know the contract, is told
    where the job belongs."""
    if case.contract is None:
        return _neutral(case)
    expected = space_namespace(case.contract.spec.consumer.space)
    if case.namespace == expected:
        return Decision.allow("ConsumerNamespace", "the job is in the consumer's namespace")
    if case.namespace != space_namespace(case.contract.spec.provider.space):
        return _neutral(case)
    return Decision.deny(
        "WrongNamespace",
        f"a TrainingJob under DataContract {case.name} must be created in the "
        f"consumer's namespace {expected}, not {case.namespace}",
    )


def contract_is_active(case: AdmissionInput) -> Decision:
    """Jobs run only under an Active contract."""
    if case.contract_phase != "Active":
        return Decision.deny(
            "ContractNotActive",
            f"DataContract {case.name} is {case.contract_phase or 'not yet reconciled'}, "
            "not Active: no job may start under it",
        )
    return Decision.allow("ContractActive", "the contract is Active")


def purpose_matches(case: AdmissionInput) -> Decision:
    """spec.purpose is the contract's purpose."""
    assert case.contract is not None
    if case.job.purpose != case.contract.spec.purpose:
        return Decision.deny(
            "PurposeMismatch",
            f"spec.purpose {case.job.purpose} is not the contract's purpose "
            f"{case.contract.spec.purpose}",
        )
    return Decision.allow("PurposeMatches", "the purpose matches the contract")


def datasets_in_contract(case: AdmissionInput) -> Decision:
    """Every dataset the job reads is one of the contract's."""
    assert case.contract is not None
    if case.job.joint:
        # A joint job's datasets are judged against all its contracts together.
        return Decision.allow("DatasetsInContracts", "judged across the job's contracts")
    allowed = case.contract.spec.provider.datasets
    outside = [d for d in case.job.datasets or [] if d not in allowed]
    if outside:
        return Decision.deny(
            "DatasetNotInContract",
            f"spec.datasets: {', '.join(outside)} not covered by DataContract "
            f"{case.name} (it covers {', '.join(allowed)})",
        )
    return Decision.allow("DatasetsInContract", "the datasets are in the contract")


def fits_concurrency_alone(case: AdmissionInput) -> Decision:
    """The job's GPUs alone fit maxConcurrentGpus: else it could never run under the contract."""
    assert case.contract is not None
    limit = case.contract.spec.compute.max_concurrent_gpus
    wanted = case.job.total_gpus
    if wanted > limit:
        return Decision.deny(
            "ConcurrencyExceeded",
            f"{case.job.workers} workers x {case.job.gpus_per_worker} GPUs = {wanted} GPUs "
            f"exceed the contract's compute.maxConcurrentGpus {limit}: the job could never run",
        )
    return Decision.allow("FitsConcurrency", f"{wanted} GPUs fit the concurrency limit")


def its_turn(case: AdmissionInput) -> Decision:
    """No queued job of the contract is ahead of this one, and its GPUs fit maxConcurrentGpus
    together with those the contract's admitted jobs hold; else it waits (`must_wait`)."""
    assert case.contract is not None
    limit = case.contract.spec.compute.max_concurrent_gpus
    wanted, held = case.job.total_gpus, case.gpus_held_by_others
    if case.queued_ahead or held + wanted > limit:
        ahead = f", behind {case.queued_ahead} queued before it" if case.queued_ahead else ""
        return Decision.deny(
            CONTRACT_CONCURRENCY,
            f"queued at position {case.queued_ahead + 1}{ahead}: {case.job.workers} workers x "
            f"{case.job.gpus_per_worker} GPUs = {wanted} GPUs, with the {held} GPUs the "
            f"contract's other jobs hold, exceed its compute.maxConcurrentGpus {limit}; "
            "admitted as soon as they fit",
        )
    return Decision.allow("WithinConcurrency", f"{wanted} GPUs fit the concurrency limit")


WAITING_REASONS = frozenset({CONTRACT_CONCURRENCY})
"""Reasons a job waits in its contract's queue rather than being denied."""


def must_wait(decision: Decision) -> bool:
    """Whether the decision only means "not yet": the job is queued, not denied."""
    return not decision.allowed and decision.reason in WAITING_REASONS


def within_job_count(case: AdmissionInput) -> Decision:
    """Fewer than maxJobs jobs have been admitted under the contract."""
    assert case.contract is not None
    limit = case.contract.spec.max_jobs
    if limit is not None and case.jobs_admitted >= limit:
        return Decision.deny(
            "JobLimitReached",
            f"{case.jobs_admitted} jobs already ran under DataContract {case.name}; "
            f"its maxJobs is {limit}",
        )
    return Decision.allow("WithinJobCount", "the job count is within maxJobs")


def budget_remains(case: AdmissionInput) -> Decision:
    """Some of the contract's GPU-hour budget is left."""
    assert case.contract is not None
    budget = case.contract.spec.compute.max_gpu_hours
    if case.gpu_hours_used >= budget:
        return Decision.deny(
            "BudgetExhausted",
            f"DataContract {case.name} has used {case.gpu_hours_used:g} of its "
            f"{budget:g} GPU-hours",
        )
    return Decision.allow("BudgetRemains", "GPU-hours remain in the budget")


# Whether the job may name the contract at all comes first: nothing about the contract is told
# to a namespace of neither party. The used-up terms come before the phase: a contract they have
# made Exhausted refuses a job with the term's own reason (BudgetExhausted, JobLimitReached), not
# only "not Active".
ADMISSION_POLICIES = (
    contract_is_ours,
    within_job_count,
    budget_remains,
    contract_is_active,
    purpose_matches,
    datasets_in_contract,
    fits_concurrency_alone,
    its_turn,
)


def admit_training_job(case: AdmissionInput) -> Decision:
    """The first contract term the job breaks, else Admitted."""
    return first_failing(
        ADMISSION_POLICIES,
        case,
        Decision.allow(
            "Admitted",
            f"admitted under DataContract {case.name}: {case.job.workers} workers x "
            f"{case.job.gpus_per_worker} GPUs",
        ),
    )


def queued_ahead(jobs: Iterable[Mapping[str, Any]], contract: str, *, uid: str) -> int:
    """How many of the contract's Queued jobs were created before the job `uid` (by creation
    time, then namespace, name and uid: one order for everyone); 0 for a job not created yet."""
    jobs = list(jobs)
    mine = next((_queue_order(j) for j in jobs if j["metadata"].get("uid") == uid), None)
    if mine is None:
        return 0
    return sum(
        1
        for other in jobs
        if contract in contracts_of(other.get("spec") or {})
        and (other.get("status") or {}).get("phase") == "Queued"
        and _queue_order(other) < mine
    )


def _queue_order(job: Mapping[str, Any]) -> tuple[str, str, str, str]:
    metadata = job.get("metadata") or {}
    return (
        str(metadata.get("creationTimestamp") or ""),
        str(metadata.get("namespace") or ""),
        str(metadata.get("name") or ""),
        str(metadata.get("uid") or ""),
    )


def gpus_held(jobs: Iterable[Mapping[str, Any]], contract: str, *, except_uid: str) -> int:
    """GPUs that the contract's admitted or running jobs (other than one) hold."""
    held = 0
    for job in jobs:
        spec, status = job.get("spec") or {}, job.get("status") or {}
        if (
            contract in contracts_of(spec)
            and status.get("phase") in HOLDING_PHASES
            and job["metadata"].get("uid") != except_uid
        ):
            held += int(spec.get("workers", 1)) * int(spec.get("gpusPerWorker", 1))
    return held
