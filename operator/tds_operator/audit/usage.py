"""What the ledger says a contract has used: admitted jobs and each job's GPU-seconds. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tds_operator.api.datacontract import ContractUsage
from tds_operator.api.trainingjob import FINISHED_PHASES, HOLDING_PHASES
from tds_operator.audit.chain import AuditEntry
from tds_operator.audit.events import JOB_ADMITTED, USAGE_METERED


def usage_by_job(chain: Sequence[AuditEntry]) -> dict[str, int]:
    """The latest GPU-seconds the ledger holds for each job (by uid)."""
    usage: dict[str, int] = {}
    for entry in chain:
        if entry.kind == USAGE_METERED:
            uid = str(entry.details.get("uid"))
            usage[uid] = max(usage.get(uid, 0), int(entry.details.get("gpuSeconds", 0)))
    return usage


def admitted_jobs(chain: Sequence[AuditEntry]) -> set[str]:
    """Uids of the jobs the ledger records as admitted."""
    return {str(entry.details.get("uid")) for entry in chain if entry.kind == JOB_ADMITTED}


def contract_usage(
    chain: Sequence[AuditEntry], live_jobs: Iterable[Mapping[str, Any]]
) -> ContractUsage:
    """A contract's usage: jobs admitted, and GPU-hours summed over its jobs.

    A job counts with the larger of what the ledger recorded for it and what its live status
    says, so usage is exact across restarts and survives the deletion of a TrainingJob.
    """
    admitted = admitted_jobs(chain)
    per_job = usage_by_job(chain)
    for job in live_jobs:
        uid = str(job["metadata"].get("uid", ""))
        if uid in admitted:
            live = int((job.get("status") or {}).get("gpuSeconds") or 0)
            per_job[uid] = max(per_job.get(uid, 0), live)
    return ContractUsage(gpu_hours=round(sum(per_job.values()) / 3600, 6), jobs=len(admitted))


def jobs_in_flight(chain: Sequence[AuditEntry], live_jobs: Iterable[Mapping[str, Any]]) -> int:
    """Live jobs that are admitted and have not finished.

    The ledger records an admission before the job's status says Admitted, so a job the ledger
    admitted counts even while its status still lags behind.
    """
    admitted = admitted_jobs(chain)
    count = 0
    for job in live_jobs:
        phase = (job.get("status") or {}).get("phase")
        uid = str(job["metadata"].get("uid", ""))
        if phase in HOLDING_PHASES or (uid in admitted and phase not in FINISHED_PHASES):
            count += 1
    return count


@dataclass(frozen=True)
class JobLoad:
    """What a contract's live jobs are doing: how many wait, how many run, the GPUs they hold."""

    queued: int
    running: int
    gpus_held: int


def job_load(live_jobs: Iterable[Mapping[str, Any]]) -> JobLoad:
    """Live jobs not finished are queued until their workers run; admitted and running jobs
    hold their GPUs (workers x gpusPerWorker)."""
    queued = running = gpus = 0
    for job in live_jobs:
        spec, phase = job.get("spec") or {}, (job.get("status") or {}).get("phase")
        if phase in FINISHED_PHASES:
            continue
        if phase == "Running":
            running += 1
        else:
            queued += 1
        if phase in HOLDING_PHASES:
            gpus += int(spec.get("workers", 1)) * int(spec.get("gpusPerWorker", 1))
    return JobLoad(queued=queued, running=running, gpus_held=gpus)
