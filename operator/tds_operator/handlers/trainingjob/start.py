"""Starting a TrainingJob's workers: once its clean room is sealed, its output opened, and its
GPUs counted into the shared second at which its contract's budget runs out."""

from __future__ import annotations

from tds_operator.api.datacontract import DataContract
from tds_operator.api.resources import Manifest
from tds_operator.api.trainingjob import CLEAN_ROOM_READY, TrainingJob
from tds_operator.handlers.context import utcnow
from tds_operator.handlers.gather import clean_room_inputs
from tds_operator.handlers.trainingjob.metering import budget_of
from tds_operator.handlers.trainingjob.orphans import of_name, sweep
from tds_operator.handlers.trainingjob.output import open_output
from tds_operator.handlers.trainingjob.parts import JobParts
from tds_operator.handlers.trainingjob.report import JobReport
from tds_operator.policy.decision import Decision
from tds_operator.policy.metering import remaining_seconds
from tds_operator.policy.sealing import clean_room_sealed, contract_opened_clean_room

# While the clean room is not sealed yet, look again this soon (the contract's status changing,
# as its reconcile opens the clean room, wakes the job sooner).
CLEAN_ROOM_RECHECK_SECONDS = 1.0
EARLIER_JOB_LEFTOVERS = "EarlierJobLeftovers"


async def sealed(
    parts: JobParts, job: TrainingJob, contract: DataContract
) -> tuple[Decision, dict[str, str]]:
    """Whether the contract's clean room is sealed as the API server shows it (the
    CleanRoomReady decision), and the address of each dataset the job reads."""
    inputs = await clean_room_inputs(parts.op, job, contract)
    decision = clean_room_sealed(contract_opened_clean_room(contract), inputs.observation)
    datasets = {name: address for name, address in inputs.datasets.items() if address}
    return decision, datasets


async def _leftovers(parts: JobParts, body: Manifest) -> Decision | None:
    """Why the job cannot start yet if the clean room holds what an earlier TrainingJob of
    the same name left (gone without its finalizer): never adopted, that is ended on the
    record first (the job starts on a later pass); None if there is nothing of the kind."""
    leftovers = await parts.batch_run.leftovers(body)
    if not leftovers:
        return None
    metadata = body["metadata"]
    await sweep(parts, of_name(metadata["namespace"], metadata["name"]))
    return Decision.deny(
        EARLIER_JOB_LEFTOVERS,
        f"{', '.join(leftovers)} of an earlier TrainingJob of this name are being removed",
    )


async def start(
    parts: JobParts, report: JobReport, job: TrainingJob, contract: DataContract
) -> tuple[Decision, Manifest | None]:
    """Start the workers once the clean room is sealed; until then the job waits, Admitted,
    and its CleanRoomReady condition says why. The decision, and the live batch Job if it
    started."""
    decision, datasets = await sealed(parts, job, contract)
    if decision.allowed:
        decision = await _leftovers(parts, report.body) or decision
    report.condition(CLEAN_ROOM_READY, decision, "Admitted")
    if not decision.allowed:
        report.phase("Admitted")
        return decision, None
    claim = await open_output(parts, report, job)
    name = contract.metadata.name or ""
    async with parts.backstops.held(name):
        # Its GPUs add to those its siblings' batch Jobs hold: the budget runs out that much
        # sooner, for every one of them; no sibling starts meanwhile.
        now = utcnow()
        jobs = await parts.batch_run.contract_jobs(name)
        budget = await budget_of(parts, contract, jobs, now)
        batches = await parts.backstops.batch_jobs(name)
        gpus = parts.backstops.gpus(batches, budget) + job.spec.total_gpus
        not_after = contract.spec.validity.not_after
        left = budget.gpu_seconds_left
        deadline = remaining_seconds(job.spec, left, gpus, not_after, now, now)
        batch = await parts.batch_run.start(job, parts.op.rules, deadline, datasets, claim)
        siblings = [sibling for sibling, _ in jobs]
        await parts.backstops.align(contract, siblings, batches, gpus, budget, now)
    return decision, batch
