"""Enforcement while a TrainingJob runs: metering, its deadline, and why and how it ends. Pure.

The reconciler meters GPU-seconds from the worker pods' run windows, stops a job the moment its
contract no longer lets it run, and reads the batch Job's outcome; every answer comes from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Final

from tds_operator.api.datacontract import (
    ACTIVE,
    CONTRACT_NOT_ACTIVE,
)
from tds_operator.api.resources import LiveObject
from tds_operator.api.rfc3339 import parse
from tds_operator.api.trainingjob import (
    COMPLETED,
    CONTRACT_DELETED,
    HOLDING_PHASES,
    JOB_FAILED,
    REVOKED,
    TrainingJobPhase,
)
from tds_operator.policy.conditions import find_condition
from tds_operator.policy.decision import Decision
from tds_operator.policy.metering import LiveBudget, budget_exhausted, pod_run_window

COMPLETION_INDEX_ANNOTATION: Final = "batch.kubernetes.io/job-completion-index"
TERMINATION_REASONS: Final = frozenset(
    {"Error", "OOMKilled", "DeadlineExceeded", "ContainerCannotRun", "StartError"}
)
"""Reasons a worker's exit is reported with; any other becomes "Error"."""


def revoked(contract: LiveObject | None) -> bool:
    """Whether a party has revoked the contract: final, so it stops jobs before the contract's
    own reconcile has reported it."""
    return bool(((contract or {}).get("spec") or {}).get("revoked"))


def contract_lets_jobs_run(contract: LiveObject | None) -> bool:
    """Whether jobs may run under the contract (as live): it exists, is Active, is not revoked."""
    phase = ((contract or {}).get("status") or {}).get("phase")
    return phase == "Active" and not revoked(contract)


def stop_order(jobs: Sequence[LiveObject]) -> list[LiveObject]:
    """The jobs of a contract that no longer lets them run, to reconcile at once: those holding
    GPUs (and every other not queued), if any; the queued ones are denied after them (each stop
    ends by waking its contract's queue), so that the stops have the API server and the
    contract's ledger to themselves. With no job holding GPUs, every job."""

    def phase(job: LiveObject) -> str | None:
        return (job.get("status") or {}).get("phase")

    holding = [
        job
        for job in jobs
        if phase(job) in HOLDING_PHASES and not (job.get("metadata") or {}).get("deletionTimestamp")
    ]
    if not holding:
        return list(jobs)
    return [job for job in jobs if phase(job) != "Queued"]


def stop_reason(contract: LiveObject | None) -> Decision:
    """Why the contract no longer lets jobs run, from its Active condition."""
    if contract is None:
        return Decision.deny(CONTRACT_DELETED, "the DataContract no longer exists")
    name = contract["metadata"]["name"]
    status = contract.get("status") or {}
    if revoked(contract) and status.get("phase") != "Revoked":
        return Decision.deny(
            REVOKED,
            f"DataContract {name} is Revoked: spec.revoked is true: a party has ended the "
            "contract for good",
        )
    active = find_condition(status.get("conditions") or [], ACTIVE) or {}
    reason = active.get("reason") or CONTRACT_NOT_ACTIVE
    message = active.get("message") or "the contract is not Active"
    return Decision.deny(reason, f"DataContract {name} is {status.get('phase')}: {message}")


def batch_outcome(
    batch: LiveObject, pods: Iterable[LiveObject]
) -> tuple[TrainingJobPhase, Decision] | None:
    """Succeeded or Failed (with the worker's own reason) once the batch Job has finished."""
    for condition in (batch.get("status") or {}).get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return "Succeeded", Decision.allow(COMPLETED, "all workers completed")
        if condition.get("type") == "Failed":
            detail = worker_failure(pods)
            return "Failed", Decision.deny(
                condition.get("reason") or JOB_FAILED,
                f"{condition.get('message') or 'the batch Job failed'}"
                + (f"; {detail}" if detail else ""),
            )
    return None


def contract_ended_at(contract: LiveObject | None, now: datetime) -> datetime:
    """When the contract stopped letting jobs run: its notAfter once passed, else when its
    Active condition turned False, else `now` (revoked or deleted a moment ago)."""
    spec, status = (contract or {}).get("spec") or {}, (contract or {}).get("status") or {}
    not_after = parse(str((spec.get("validity") or {}).get("notAfter") or ""))
    if not_after is not None and not_after <= now:
        return not_after
    active = find_condition(status.get("conditions") or [], ACTIVE) or {}
    turned = parse(str(active.get("lastTransitionTime") or ""))
    if active.get("status") == "False" and turned is not None and turned <= now:
        return turned
    return now


def succeeded_by(
    batch: LiveObject, pods: Sequence[LiveObject], end: datetime
) -> tuple[TrainingJobPhase, Decision] | None:
    """The batch Job's Succeeded outcome if its workers all completed by `end` (the contract's
    end): a job that finished its work while no operator looked, before its contract ended, is
    reported Succeeded, not stopped."""
    outcome = batch_outcome(batch, pods)
    if outcome is None or outcome[0] != "Succeeded":
        return None
    windows = [window for pod in pods if (window := pod_run_window(pod, end)) is not None]
    completed = (
        max(finish for _, finish in windows)
        if windows
        else parse(str((batch.get("status") or {}).get("completionTime") or ""))
    )
    return outcome if completed is not None and completed <= end else None


DEADLINE_EXCEEDED: Final = "DeadlineExceeded"
VALIDITY_ENDED: Final = "ValidityEnded"


def validity_outcome(
    outcome: tuple[TrainingJobPhase, Decision], not_after: datetime, now: datetime
) -> tuple[TrainingJobPhase, Decision]:
    """The batch Job's outcome as the job reports it: its deadline, which never reaches past the
    contract's notAfter, ending it at or after notAfter is the contract's expiry stopping it
    (the backstop and the operator's own stop race for the same second), not a failure."""
    phase, decision = outcome
    if phase != "Failed" or decision.reason != DEADLINE_EXCEEDED or now < not_after:
        return outcome
    return "Stopped", Decision.deny(
        VALIDITY_ENDED,
        f"the validity window ended at {not_after.isoformat()} (spec.validity.notAfter); "
        "the batch Job's deadline stopped the workers",
    )


def budget_outcome(
    outcome: tuple[TrainingJobPhase, Decision],
    budget_gpu_seconds: float,
    live: LiveBudget,
    gpus: int,
) -> tuple[TrainingJobPhase, Decision]:
    """The batch Job's outcome as the job reports it: its deadline, set at the second the
    contract's budget runs out (`remaining_seconds`), ending it once its contract's jobs metered
    the budget (to within the last second of its `gpus`) is the budget stopping it, as the
    operator's own stop at that second would: not a failure."""
    phase, decision = outcome
    if phase != "Failed" or decision.reason != DEADLINE_EXCEEDED or live.gpu_seconds_left >= gpus:
        return outcome
    stopped = budget_exhausted(budget_gpu_seconds, live)
    message = f"{stopped.message}; the batch Job's deadline stopped the workers"
    return "Stopped", Decision.deny(stopped.reason, message)


def worker_failure(pods: Iterable[LiveObject]) -> str:
    """The first worker that exited with an error: its index, exit code and a reason from
    TERMINATION_REASONS. Nothing the job's code wrote (its termination message) is ever copied:
    the consumer reads this text, and the clean room holds the provider's data."""
    for pod in pods:
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = (container.get("state") or {}).get("terminated") or {}
            code = terminated.get("exitCode")
            if isinstance(code, int) and code:
                annotations = pod["metadata"].get("annotations") or {}
                index = annotations.get(COMPLETION_INDEX_ANNOTATION, "?")
                reason = terminated.get("reason")
                reason = reason if reason in TERMINATION_REASONS else "Error"
                return f"worker {_worker_index(index)} exited with code {code} ({reason})"
    return ""


def _worker_index(annotation: str) -> str:
    """The worker's completion index if it is one (the Job controller sets it), else "?"."""
    return annotation if annotation.isdigit() and len(annotation) <= 5 else "?"


def batch_start(batch: LiveObject) -> datetime | None:
    """When the batch Job started, as the Job controller reports it: its deadline counts from
    there."""
    return parse((batch.get("status") or {}).get("startTime"))


def start_time(pods: Iterable[LiveObject]) -> str | None:
    """When the first worker pod started, as the pods report it (None before any has)."""
    known = sorted(s for p in pods if (s := (p.get("status") or {}).get("startTime")))
    return known[0] if known else None
