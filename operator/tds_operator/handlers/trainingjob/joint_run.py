"""A running joint TrainingJob: its own clean room opened and sealed, its workers started, then
metered against every one of its contracts until they end or any contract's budget does.

Each contract is charged the job's full GPU-seconds: a metering pass reads the job's pods once,
and each contract's jobs (with their pods) and ledger once each; the pure `decide_metering`
answers for each contract and `joint_metering` picks the most urgent answer, naming its contract.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from tds_operator.api.datacontract import DataContract
from tds_operator.api.resources import TRAINING_JOB, Manifest
from tds_operator.api.trainingjob import (
    CLEAN_ROOM_NOT_READY,
    CLEAN_ROOM_READY,
    TrainingJob,
    TrainingJobPhase,
)
from tds_operator.handlers.batch_run import batch_job_of
from tds_operator.handlers.context import utcnow
from tds_operator.handlers.joint_room import joint_parts, open_joint_room
from tds_operator.handlers.trainingjob.end import finish, stop
from tds_operator.handlers.trainingjob.metering import budget_of, checkpoint, wake_siblings
from tds_operator.handlers.trainingjob.output import open_output
from tds_operator.handlers.trainingjob.parts import JobParts, key_of
from tds_operator.handlers.trainingjob.report import JobReport
from tds_operator.handlers.trainingjob.run import MeterRead, lost, stop_at_budget
from tds_operator.handlers.trainingjob.start import CLEAN_ROOM_RECHECK_SECONDS, _leftovers
from tds_operator.policy.decision import Decision
from tds_operator.policy.enforcement import batch_outcome, start_time
from tds_operator.policy.job_run import MeterInputs, MeterStep, decide_metering, joint_metering
from tds_operator.policy.metering import gpu_seconds, remaining_seconds, running_workers

Contracts = tuple[tuple[str, Manifest | None], ...]


async def run_joint(
    parts: JobParts, report: JobReport, job: TrainingJob, contracts: Contracts
) -> float | None:
    """Open the joint room and start the workers once it is sealed, then meter them."""
    body = report.body
    models = [DataContract.model_validate(live) for _, live in contracts if live is not None]
    batch = await parts.batch_run.batch_job(body)
    if batch is None:
        if (body.get("status") or {}).get("job"):
            # Gone while it ran: stopped and charged as a single contract's would be (to its
            # first contract's budget; every contract's ledger records the end).
            await lost(parts, report, models[0])
            return None
        batch = await start_joint(parts, report, job, models)
        if batch is None:
            return CLEAN_ROOM_RECHECK_SECONDS
    return await meter_joint(parts, report, job, models, contracts, batch)


async def start_joint(
    parts: JobParts,
    report: JobReport,
    job: TrainingJob,
    contracts: list[DataContract],
    *,
    prepare: Callable[[], Awaitable[None]] | None = None,
    phase: TrainingJobPhase = "Admitted",
) -> Manifest | None:
    """Start the workers once the joint room is sealed and every provider's grant written
    (then `prepare`d: in Kueue, its LocalQueue); until then the job waits, in `phase`, and its
    CleanRoomReady condition says why."""
    joint = await joint_parts(parts.op, job, contracts)
    datasets: dict[str, str] = {}
    if joint is None:
        decision = Decision.deny(CLEAN_ROOM_NOT_READY, "a provider's DataSpace is missing")
    else:
        decision, datasets = await open_joint_room(parts.op, job, report.body, joint)
    if decision.allowed:
        decision = await _leftovers(parts, report.body) or decision
    report.condition(CLEAN_ROOM_READY, decision, phase)
    if not decision.allowed:
        report.phase(phase, queue=decision if phase == "Queued" else None)
        return None
    if prepare is not None:
        await prepare()
    claim = await open_output(parts, report, job)
    now = utcnow()
    deadlines = []
    for contract in contracts:
        jobs = await parts.batch_run.contract_jobs(contract.metadata.name or "")
        budget = await budget_of(parts, contract, jobs, now)
        gpus = budget.gpus_running + job.spec.total_gpus
        not_after = contract.spec.validity.not_after
        left = budget.gpu_seconds_left
        deadlines.append(remaining_seconds(job.spec, left, gpus, not_after, now, now))
    # The backstop: the soonest any contract's budget or validity would end it.
    return await parts.batch_run.start(job, parts.op.rules, min(deadlines), datasets, claim)


async def meter_joint(
    parts: JobParts,
    report: JobReport,
    job: TrainingJob,
    contracts: list[DataContract],
    bodies: Contracts,
    batch: Manifest,
) -> float | None:
    """One metering pass against every contract: read, decide, act, report."""
    body = report.body
    pods = await parts.batch_run.pods(body)
    now = utcnow()
    used = gpu_seconds(pods, job.spec.gpus_per_worker, now)
    outcome = batch_outcome(batch, pods)
    waiting = parts.op.stop_waiting(TRAINING_JOB, key_of(body))
    steps, reads = [], {}
    for contract in contracts:
        step, each = await _meter_against(
            parts, job, contract, dict(bodies), outcome, waiting, (pods, used, now)
        )
        steps.append((contract.metadata.name or "", step))
        reads[contract.metadata.name or ""] = (contract, each)
    name, step = joint_metering(steps)
    contract, read = reads[name]
    if step.kind == "finish":
        assert step.phase is not None
        assert step.decision is not None
        await finish(parts, report, step.phase, step.decision, used=used, started=start_time(pods))
    elif step.kind == "exhausted":
        assert step.decision is not None
        await stop(parts, report, step.decision, pods=pods)
    elif step.kind == "stop_at":
        assert step.at is not None
        return await _stop_at(parts, report, contract, read, step.at)
    elif step.kind == "report":
        await _report(parts, report, reads, read, now)
        return step.wake
    if step.kind != "yield":
        for _, other in reads.values():
            wake_siblings(report, other.jobs)
    return None


async def _meter_against(
    parts: JobParts,
    job: TrainingJob,
    contract: DataContract,
    bodies: dict[str, Manifest | None],
    outcome: tuple[TrainingJobPhase, Decision] | None,
    waiting: bool,
    own: tuple[list[Manifest], int, datetime],
) -> tuple[MeterStep, MeterRead]:
    """One contract's answer to the pass: its jobs with their pods and its ledger read once,
    the job's `own` pods, GPU-seconds and instant as the pass read them."""
    pods, used, now = own
    name = contract.metadata.name or ""
    jobs = await parts.batch_run.contract_jobs(name)
    recorded = (await parts.op.ledger.load(name, bodies.get(name))).entries
    budget = await budget_of(parts, contract, jobs, now, recorded)
    inputs = MeterInputs(
        outcome=outcome,
        budget=budget,
        gpu_budget=contract.spec.compute.max_gpu_hours * 3600,
        total_gpus=job.spec.total_gpus,
        not_after=contract.spec.validity.not_after,
        stop_waiting=waiting,
        workers=running_workers(pods),
    )
    return decide_metering(inputs, now), MeterRead(jobs, pods, used, recorded, budget, now)


async def _stop_at(
    parts: JobParts, report: JobReport, contract: DataContract, read: MeterRead, at: datetime
) -> float | None:
    """Stop at the second the contract's budget runs out (run.py's stop), then wake every
    contract's jobs."""
    return await stop_at_budget(
        parts, report, contract, read.jobs, read.recorded, at, name_contract=True
    )


async def _report(
    parts: JobParts,
    report: JobReport,
    reads: dict[str, tuple[DataContract, MeterRead]],
    read: MeterRead,
    now: datetime,
) -> None:
    """Report the job Running (or Admitted while its workers start), checkpoint its usage on
    every contract's ledger."""
    body, status = report.body, report.body.get("status") or {}
    workers = running_workers(read.pods)
    name, namespace = batch_job_of(body)
    report.phase(
        "Running" if workers else "Admitted",
        used=read.used,
        job=name,
        clean_room=namespace,
        start_time=None if status.get("startTime") else start_time(read.pods),
    )
    for contract, (_, each) in reads.items():
        await checkpoint(parts, body, read.used, each.recorded, contract)
        if workers and report.phase_was != "Running":
            # Each contract's budget now runs out sooner: its other jobs wake to see it.
            wake_siblings(report, each.jobs)
