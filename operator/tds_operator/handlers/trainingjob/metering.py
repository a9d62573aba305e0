"""The contract's budget as its jobs' pods show it, the shared backstops that follow it, the
usage checkpoints on the ledger, and the wakes of a job's siblings when the budget moves."""

from __future__ import annotations

from datetime import datetime

from tds_operator.api.datacontract import DataContract
from tds_operator.api.jobcontracts import first_contract_of
from tds_operator.api.resources import TRAINING_JOB, Manifest
from tds_operator.api.trainingjob import FINISHED_PHASES
from tds_operator.audit.chain import AuditEntry, AuditEvent
from tds_operator.audit.events import job_key, usage_event
from tds_operator.audit.usage import usage_by_job
from tds_operator.handlers.context import utcnow
from tds_operator.handlers.trainingjob.parts import JobParts, key_of
from tds_operator.handlers.trainingjob.report import JobReport
from tds_operator.policy.metering import LiveBudget, live_budget, usage_due

ContractJobs = list[tuple[Manifest, list[Manifest]]]
"""The contract's TrainingJobs, each with its pods."""


def usage_entry(
    body: Manifest,
    used: int,
    recorded: list[AuditEntry],
    *,
    final: bool,
    contract: str | None = None,
) -> AuditEvent | None:
    """The ledger entry of the job's usage beyond what `recorded` (the ledger of `contract`,
    default its first) holds, if one is due."""
    contract, metadata = contract or first_contract_of(body["spec"]), body["metadata"]
    already = usage_by_job(recorded).get(metadata["uid"], 0)
    if not usage_due(used, already, final=final):
        return None
    job = job_key(metadata["namespace"], metadata["name"])
    return usage_event(contract, metadata["uid"], job, used, already, utcnow())


async def checkpoint(
    parts: JobParts,
    body: Manifest,
    used: int,
    recorded: list[AuditEntry],
    contract: str | None = None,
) -> None:
    """Record usage in the ledger of `contract` (default the job's first) when it grew by a
    checkpoint's worth (`recorded`: that ledger's entries as this pass read them)."""
    contract = contract or first_contract_of(body["spec"])
    event = usage_entry(body, used, recorded, final=False, contract=contract)
    if event is not None:
        await parts.op.ledger.record(contract, [event])


async def budget_of(
    parts: JobParts,
    contract: DataContract,
    jobs: ContractJobs,
    now: datetime | None = None,
    recorded: list[AuditEntry] | None = None,
) -> LiveBudget:
    """The contract's budget left as all its jobs' pods show it at `now` (the instant the
    caller counts from: what follows from it, the budget's second, must use the same one),
    and the GPUs they run; from the ledger's `recorded` entries, or the ledger read now."""
    if recorded is None:
        recorded = (await parts.op.ledger.load(contract.metadata.name or "")).entries
    budget = contract.spec.compute.max_gpu_hours * 3600
    return live_budget(budget, usage_by_job(recorded), jobs, now or utcnow())


async def keep_backstops(
    parts: JobParts, contract: DataContract, jobs: ContractJobs, budget: LiveBudget, now: datetime
) -> None:
    """Move every running batch Job of the contract to the second its `budget` (measured at
    `now`) runs out at the GPUs its batch Jobs hold."""
    name = contract.metadata.name or ""
    async with parts.backstops.held(name):
        batches = await parts.backstops.batch_jobs(name)
        gpus = parts.backstops.gpus(batches, budget)
        siblings = [sibling for sibling, _ in jobs]
        await parts.backstops.align(contract, siblings, batches, gpus, budget, now)


def wake_siblings(report: JobReport, jobs: ContractJobs) -> None:
    """Reconcile the other unfinished TrainingJobs of the same contract."""
    uid = report.body["metadata"]["uid"]
    for sibling, _ in jobs:
        unfinished = (sibling.get("status") or {}).get("phase") not in FINISHED_PHASES
        if unfinished and sibling["metadata"]["uid"] != uid:
            report.wake(TRAINING_JOB, key_of(sibling))
