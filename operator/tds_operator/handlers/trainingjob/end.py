"""How a TrainingJob ends: denied before it ran, stopped (its workers deleted, metered to that
instant), finished on its own, or deleted; each end recorded on the ledger, then reported."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import ValidationError

from tds_operator import API_VERSION
from tds_operator.api.jobcontracts import contracts_of
from tds_operator.api.resources import DATA_CONTRACT, TRAINING_JOB, Manifest
from tds_operator.api.trainingjob import (
    ADMITTED,
    DELETED,
    FINISHED,
    FINISHED_PHASES,
    TrainingJob,
    TrainingJobPhase,
)
from tds_operator.audit.chain import AuditEntry, AuditEvent
from tds_operator.audit.events import job_end_event
from tds_operator.handlers.context import utcnow
from tds_operator.handlers.joint_room import close_joint_room
from tds_operator.handlers.objects import remove_finalizer
from tds_operator.handlers.trainingjob.metering import usage_entry
from tds_operator.handlers.trainingjob.output import (
    DISCARD_RECHECK_SECONDS,
    OUTPUT_JOB_DELETED,
    discard_output,
)
from tds_operator.handlers.trainingjob.parts import JobParts, key_of
from tds_operator.handlers.trainingjob.report import JobReport
from tds_operator.policy.decision import Decision
from tds_operator.policy.enforcement import contract_ended_at, start_time, succeeded_by
from tds_operator.policy.metering import gpu_seconds, running_workers


def deny(report: JobReport, decision: Decision) -> None:
    """Report the job Denied; a job that waited in the queue leaves it, and the jobs behind it
    move up."""
    queued = report.phase_was == "Queued"
    queue = decision if queued else None
    report.phase("Denied", condition=(ADMITTED, decision), queue=queue)
    if queued:
        for contract in contracts_of(report.body.get("spec") or {}):
            report.wake_queue(contract)


async def stop(
    parts: JobParts,
    report: JobReport,
    decision: Decision,
    phase: TrainingJobPhase = "Stopped",
    *,
    pods: list[Manifest] | None = None,
) -> None:
    """Stop the workers now: delete the batch Job and its pods (`pods`, if the caller has
    just read them) at once, the pods held by their metering finalizer until the figure is
    recorded; meter them to this instant, record and report the stop."""
    body = report.body
    gpus_per_worker = int((body.get("spec") or {}).get("gpusPerWorker", 1))
    pods = await parts.batch_run.pods(body) if pods is None else pods
    ended = await parts.batch_run.stop(body, pods)
    # Metered to the moment its pods were deleted: they ran until then, or until the finish
    # their deletes show (held by the metering finalizer) if they ended sooner (the Job
    # controller may delete them first, while the API calls of the stop are slow).
    used = gpu_seconds(ended, gpus_per_worker, utcnow())
    await finish(parts, report, phase, decision, used=used, started=start_time(pods))


async def stop_unless_done(
    parts: JobParts, report: JobReport, contract: Manifest | None, decision: Decision
) -> None:
    """The contract no longer lets the job run: stop its workers, unless they had all
    completed before the contract ended (while no operator looked at the job): then it
    Succeeded."""
    body = report.body
    pods = await parts.batch_run.pods(body)
    # A worker still running has not completed: the common stop reads no batch Job.
    batch = None if running_workers(pods) else await parts.batch_run.batch_job(body)
    now = utcnow()
    ended = contract_ended_at(contract, now)
    done = None if batch is None else succeeded_by(batch, pods, ended)
    if done is None:
        await stop(parts, report, decision, pods=pods)
        return
    gpus_per_worker = int((body.get("spec") or {}).get("gpusPerWorker", 1))
    used = gpu_seconds(pods, gpus_per_worker, now)
    await finish(parts, report, *done, used=used, started=start_time(pods))


async def finish(
    parts: JobParts,
    report: JobReport,
    phase: TrainingJobPhase,
    decision: Decision,
    *,
    used: int | None = None,
    started: str | None = None,
) -> None:
    """Record the job's end (its final figure with it) and report it; `started`, when its
    pods show one, is its start time should no earlier reconcile have reported it (a job
    that ran its course while no operator led)."""
    body, status = report.body, report.body.get("status") or {}
    if used is not None:
        # The status never goes down; the ledger records the same final figure.
        used = max(used, int(status.get("gpuSeconds") or 0))
    names = contracts_of(body.get("spec") or {})
    await _record_end(parts, body, names, phase, decision, used)
    started = None if status.get("startTime") else started
    report.phase(
        phase, used=used, condition=(FINISHED, decision), completed=True, start_time=started
    )
    # Written before the pods go: their metering finalizer holds them until the end is on the
    # record and in the status.
    await report.write()
    await parts.batch_run.release_pods(body)
    # The rendezvous Service holds no GPU, but a cluster IP, of a range a hub may run out
    # of: it goes once the end is recorded, however the job ended.
    await parts.batch_run.remove_rendezvous(body)
    if _has_output(body):
        # The output is listed into its manifest, then Quarantined (output.keep_output).
        report.wake(TRAINING_JOB, key_of(body))
    if len(names) > 1:
        # Every provider's grant to the joint room goes; the room too, unless an output waits.
        await close_joint_room(parts.op, body, keep_room=_has_output(body))
    for contract in names:
        report.wake(DATA_CONTRACT, contract)
        # Its GPUs are free: the next queued job may fit.
        report.wake_queue(contract)


async def _record_end(
    parts: JobParts,
    body: Manifest,
    names: Sequence[str],
    phase: TrainingJobPhase,
    decision: Decision,
    used: int | None,
) -> None:
    """One append to each contract's ledger, from the ledger as it stands: the final usage
    and the end of the job, before the admissions and denials waiting their turn at it."""
    partners = await combined_with(parts, names)
    for contract in names:
        # Each contract's ledger: the job's full figure (each is charged all of it), and the
        # names of the contracts and provider spaces it was combined with, nothing more.
        details = {key: value for key, value in partners.items() if key != contract}
        end = job_end_event(
            contract,
            body["metadata"]["uid"],
            phase,
            decision.reason,
            used or 0,
            utcnow(),
            combined=details or None,
        )
        await parts.op.ledger.record_from(
            contract, _final_events(body, used, end, contract), urgent=True
        )


def _final_events(
    body: Manifest, used: int | None, end: AuditEvent, contract: str
) -> Callable[[list[AuditEntry]], list[AuditEvent]]:
    """The final usage (if due) and the end of the job, from the contract's ledger as it
    stands."""

    def final_events(recorded: list[AuditEntry]) -> list[AuditEvent]:
        final = True
        usage = (
            None
            if used is None
            else usage_entry(body, used, recorded, final=final, contract=contract)
        )
        return [*([usage] if usage is not None else []), end]

    return final_events


async def combined_with(parts: JobParts, names: Sequence[str]) -> dict[str, str]:
    """A joint job's contracts, each by the provider space it came from (one read each; ""
    for one gone): what each contract's ledger records of the others. Empty for one contract."""
    if len(names) < 2:
        return {}
    partners = {}
    for name in names:
        contract = await parts.kube.get(API_VERSION, DATA_CONTRACT, name)
        provider = (((contract or {}).get("spec") or {}).get("provider") or {}).get("space")
        partners[name] = str(provider or "")
    return partners


def _has_output(body: Manifest) -> bool:
    try:
        return TrainingJob.model_validate(body).spec.output is not None
    except ValidationError:
        return False


async def delete(parts: JobParts, report: JobReport) -> float | None:
    """A deleted TrainingJob: stop its workers (metered, recorded), discard an output that
    was not released (recorded), then let it go once the output's volume is gone too; until
    then, the seconds until it looks again."""
    body, status = report.body, report.body.get("status") or {}
    if status.get("phase") not in FINISHED_PHASES and status.get("job"):
        await stop(parts, report, Decision.deny(DELETED, "the TrainingJob was deleted"))
    await parts.batch_run.stop_workers(body)
    await parts.batch_run.release_pods(body)
    await parts.batch_run.remove_rendezvous(body)
    if _has_output(body) and not await discard_output(parts, report, OUTPUT_JOB_DELETED):
        await report.flush()
        return DISCARD_RECHECK_SECONDS
    # Reported while the object is still there; its queue is woken once it is gone.
    await report.flush()
    if len(contracts_of(body.get("spec") or {})) > 1:
        await close_joint_room(parts.op, body)
    await remove_finalizer(parts.kube, body)
    for contract in contracts_of(body.get("spec") or {}):
        report.wake_queue(contract)
    return None
