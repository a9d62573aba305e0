"""A running TrainingJob: its workers started, then metered until they end or the budget does.

A metering pass reads the job, its contract, its batch Job, the contract's jobs with their pods
and the ledger once each (it runs every few seconds for every running job of the hub), asks the
pure `decide_metering` what follows, then acts on it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from tds_operator.api.datacontract import DataContract
from tds_operator.api.resources import TRAINING_JOB, Manifest
from tds_operator.api.trainingjob import JOB_LOST, TrainingJob
from tds_operator.audit.chain import AuditEntry
from tds_operator.handlers.batch_run import batch_job_of, with_pods
from tds_operator.handlers.context import utcnow
from tds_operator.handlers.trainingjob.end import finish, stop
from tds_operator.handlers.trainingjob.metering import (
    ContractJobs,
    budget_of,
    checkpoint,
    keep_backstops,
    wake_siblings,
)
from tds_operator.handlers.trainingjob.parts import JobParts, key_of
from tds_operator.handlers.trainingjob.report import JobReport
from tds_operator.handlers.trainingjob.start import CLEAN_ROOM_RECHECK_SECONDS, start
from tds_operator.policy.decision import Decision
from tds_operator.policy.enforcement import batch_outcome, start_time
from tds_operator.policy.job_run import (
    WAKE_MARGIN_SECONDS,
    MeterInputs,
    MeterStep,
    decide_metering,
    named,
)
from tds_operator.policy.metering import LiveBudget, budget_exhausted, gpu_seconds, running_workers


async def run(
    parts: JobParts, report: JobReport, job: TrainingJob, contract_body: Manifest
) -> float | None:
    """Start the workers once the clean room is ready and sealed, then meter them."""
    body = report.body
    contract = DataContract.model_validate(contract_body)
    batch = await parts.batch_run.batch_job(body)
    if batch is None and not await parts.batch_run.clean_room_ready(
        body, contract.metadata.uid or ""
    ):
        # The contract's reconcile is opening it, or reports CleanRoomNameTaken. (A batch
        # Job made for this job stands in the clean room only once it was ready.)
        return CLEAN_ROOM_RECHECK_SECONDS
    if batch is None:
        if (body.get("status") or {}).get("job"):
            await lost(parts, report, contract)
            return None
        _, batch = await start(parts, report, job, contract)
        if batch is None:
            return CLEAN_ROOM_RECHECK_SECONDS
    return await meter(parts, report, job, contract, contract_body, batch)


async def meter(
    parts: JobParts,
    report: JobReport,
    job: TrainingJob,
    contract: DataContract,
    contract_body: Manifest,
    batch: Manifest,
) -> float | None:
    """One metering pass: read, decide (policy/job_run.py), act, report."""
    body = report.body
    jobs = await parts.batch_run.contract_jobs(contract.metadata.name or "")
    uid = body["metadata"]["uid"]
    own = [pods for sibling, pods in jobs if sibling["metadata"]["uid"] == uid]
    # (Not among them if it was deleted a moment ago: its pods are read on their own.)
    pods = own[0] if own else await parts.batch_run.pods(body)
    now = utcnow()
    used = gpu_seconds(pods, job.spec.gpus_per_worker, now)
    name = contract.metadata.name or ""
    recorded = (await parts.op.ledger.load(name, contract_body)).entries
    budget = await budget_of(parts, contract, jobs, now, recorded)
    step = decide_metering(
        MeterInputs(
            outcome=batch_outcome(batch, pods),
            budget=budget,
            gpu_budget=contract.spec.compute.max_gpu_hours * 3600,
            total_gpus=job.spec.total_gpus,
            not_after=contract.spec.validity.not_after,
            stop_waiting=parts.op.stop_waiting(TRAINING_JOB, key_of(body)),
            workers=running_workers(pods),
        ),
        now,
    )
    return await _act(
        parts, report, contract, step, MeterRead(jobs, pods, used, recorded, budget, now)
    )


async def _act(
    parts: JobParts, report: JobReport, contract: DataContract, step: MeterStep, read: MeterRead
) -> float | None:
    """Carry out the metering pass's step."""
    jobs, pods = read.jobs, read.pods
    if step.kind == "finish":
        assert step.phase is not None
        assert step.decision is not None
        started = start_time(pods)
        await finish(parts, report, step.phase, step.decision, used=read.used, started=started)
        if not read.budget.used_up:
            # Its GPUs are free: its siblings' shared second moves later.
            await keep_backstops(parts, contract, jobs, read.budget, read.now)
        wake_siblings(report, jobs)
        return None
    if step.kind == "exhausted":
        assert step.decision is not None
        await stop(parts, report, step.decision, pods=pods)
        wake_siblings(report, jobs)
        return None
    if step.kind == "yield":
        # A stop came while this pass read (a revocation, an expiry): it runs at once,
        # instead of this pass's writes.
        return None
    if step.kind == "stop_at":
        assert step.at is not None
        return await stop_at_budget(parts, report, contract, jobs, read.recorded, step.at)
    await _report(parts, report, contract, read)
    return step.wake


@dataclass(frozen=True)
class MeterRead:
    """What a metering pass read: the contract's jobs with their pods, the job's own pods and
    GPU-seconds, the ledger's entries, and the budget they leave at `now`."""

    jobs: ContractJobs
    pods: list[Manifest]
    used: int
    recorded: list[AuditEntry]
    budget: LiveBudget
    now: datetime


async def _report(
    parts: JobParts, report: JobReport, contract: DataContract, read: MeterRead
) -> None:
    """Report the job Running (its workers run: every backstop follows the budget's second at
    the GPUs held now) or Admitted (they are starting), checkpoint its usage."""
    jobs, pods, used, recorded = read.jobs, read.pods, read.used, read.recorded
    body, status = report.body, report.body.get("status") or {}
    workers = running_workers(pods)
    if workers:
        await keep_backstops(parts, contract, jobs, read.budget, read.now)
    name, namespace = batch_job_of(body)
    report.phase(
        "Running" if workers else "Admitted",
        used=used,
        job=name,
        clean_room=namespace,
        start_time=None if status.get("startTime") else start_time(pods),
    )
    await checkpoint(parts, body, used, recorded)
    if workers and report.phase_was != "Running":
        # The contract's budget now runs out sooner: its other jobs wake to see it.
        wake_siblings(report, jobs)


async def stop_at_budget(
    parts: JobParts,
    report: JobReport,
    contract: DataContract,
    jobs: ContractJobs,
    recorded: list[AuditEntry],
    end: datetime,
    *,
    name_contract: bool = False,
) -> float | None:
    """The contract's jobs reach the budget at the whole second `end`, less than
    STOP_LEAD_SECONDS away: with all else read already, wait for that second, read the
    contract's pods once more and, the budget used up, stop the workers, whose deletes then
    reach them within that second. Never sooner: pods deleted before it would meter less
    than the budget. (A sibling that ended meanwhile leaves budget: a metering pass follows.)"""
    await asyncio.sleep(max(0.0, (end - utcnow()).total_seconds()) + WAKE_MARGIN_SECONDS)
    bodies = [job for job, _ in jobs]
    pods = await parts.batch_run.contract_pods(contract.metadata.name or "", bodies)
    jobs = with_pods(bodies, pods)
    budget = await budget_of(parts, contract, jobs, utcnow(), recorded)
    if not budget.used_up:
        return WAKE_MARGIN_SECONDS
    uid = report.body["metadata"]["uid"]
    own = [pods for job, pods in jobs if job["metadata"]["uid"] == uid]
    gpu_budget = contract.spec.compute.max_gpu_hours * 3600
    exhausted = budget_exhausted(gpu_budget, budget)
    if name_contract:
        # A joint job's stop names the contract whose budget ran out.
        exhausted = named(contract.metadata.name or "", exhausted)
    await stop(parts, report, exhausted, pods=own[0] if own else None)
    wake_siblings(report, jobs)
    return None


async def lost(parts: JobParts, report: JobReport, contract: DataContract) -> None:
    """The batch Job is gone while the job ran. Either the operator's own stop at the budget
    deleted it and was cut off before recording the stop (the API server restarting), or
    something else took it: its pods are stopped (they may run on without it), metered to
    their end and charged to the contract either way."""
    jobs = await parts.batch_run.contract_jobs(contract.metadata.name or "")
    budget = await budget_of(parts, contract, jobs)
    if budget.used_up:
        gpu_budget = contract.spec.compute.max_gpu_hours * 3600
        await stop(parts, report, budget_exhausted(gpu_budget, budget))
        wake_siblings(report, jobs)
        return
    name, namespace = batch_job_of(report.body)
    lost = Decision.deny(JOB_LOST, f"batch Job {namespace}/{name} vanished")
    await stop(parts, report, lost, phase="Failed")
