"""TrainingJob reconciler: admit against the contract, run in the clean room, meter, stop.

Admission happens once per job, under a per-contract lock so that two jobs cannot both take the
last GPUs. A job that does not fit the contract's concurrency yet waits Queued, and is admitted in
creation order as soon as it fits; while it waits, the contract's permanent refusals still deny it.
Enforcement happens on every reconcile: the moment the contract is not Active (or its notAfter
has passed, or its jobs have used its budget up), the batch Job is deleted and the TrainingJob
ends as Stopped with the contract's reason.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from pydantic import ValidationError

from tds_operator import API_VERSION
from tds_operator.api.common import INVALID_SPEC
from tds_operator.api.datacontract import DataContract
from tds_operator.api.resources import DATA_CONTRACT, TRAINING_JOB
from tds_operator.api.rfc3339 import parse
from tds_operator.api.trainingjob import (
    ADMITTED,
    ADMITTED_REASON,
    CLEAN_ROOM_READY,
    DELETED,
    FINISHED,
    FINISHED_PHASES,
    JOB_LOST,
    QUEUED,
    RUNNING_REASON,
    OutputState,
    OutputStatus,
    TrainingJob,
    TrainingJobPhase,
    TrainingJobStatus,
)
from tds_operator.audit.chain import AuditEntry, AuditEvent
from tds_operator.audit.events import (
    MANIFEST_BYTES_FIELD,
    MANIFEST_FIELD,
    MANIFEST_FILES_FIELD,
    MANIFEST_MESSAGE_FIELD,
    OUTPUT_CREATED,
    OUTPUT_DELETED,
    OUTPUT_QUARANTINED,
    admission_event,
    job_end_event,
    job_key,
    output_event,
    output_steps,
    recorded_output_state,
    usage_event,
)
from tds_operator.audit.usage import admitted_jobs, usage_by_job
from tds_operator.desired.labels import Manifest
from tds_operator.desired.outputs import output_claim_name
from tds_operator.handlers.backstops import Backstops
from tds_operator.handlers.context import Operator, utcnow
from tds_operator.handlers.gather import admission_input, clean_room_inputs
from tds_operator.handlers.objects import (
    ensure_finalizer,
    record_event,
    record_transition,
    remove_finalizer,
    validation_message,
    write_status,
)
from tds_operator.handlers.outputs import OutputVolume
from tds_operator.handlers.workload import Workload, with_pods, workload_of
from tds_operator.metrics import count_admission
from tds_operator.policy.conditions import set_condition, timestamp
from tds_operator.policy.contract import validity_passed
from tds_operator.policy.decision import Decision
from tds_operator.policy.enforcement import (
    LiveBudget,
    batch_outcome,
    budget_exhausted,
    budget_outcome,
    contract_ended_at,
    contract_lets_jobs_run,
    gpu_seconds,
    live_budget,
    next_metering,
    remaining_seconds,
    running_workers,
    seconds_to_budget_end,
    start_time,
    stop_reason,
    succeeded_by,
    usage_due,
    validity_outcome,
)
from tds_operator.policy.manifest import ManifestSummary, manifest_outcome
from tds_operator.policy.outputs import output_size_allowed, quarantine_ends
from tds_operator.policy.sealing import clean_room_sealed, contract_opened_clean_room
from tds_operator.policy.training import admit_training_job, must_wait
from tds_operator.policy.wakes import metering_interval

OUTPUT_JOB_DELETED = "TrainingJobDeleted"
OUTPUT_RETENTION_PASSED = "RetentionPassed"
# Usage is also metered at the whole second the budget runs out; wake just after it.
WAKE_MARGIN_SECONDS = 0.05
# A job wakes this long before the second its contract's budget runs out, so that everything
# its stop needs is read by then and its deletes reach the workers within that very second.
STOP_LEAD_SECONDS = 1.0
# While the clean room is not sealed yet, look again this soon (the contract's status changing,
# as its reconcile opens the clean room, wakes the job sooner).
CLEAN_ROOM_RECHECK_SECONDS = 1.0
# While a job is Queued, look again this soon should no sibling's end or admission wake it first.
QUEUE_RECHECK_SECONDS = 10.0
# While the manifest step runs, look again this often (its pod's changes wake the job sooner).
MANIFEST_RECHECK_SECONDS = 5.0


def _parsed(body: Manifest) -> TrainingJob | None:
    try:
        return TrainingJob.model_validate(body)
    except ValidationError:
        return None


def _usage_due(
    body: Manifest, used: int, recorded: list[AuditEntry], *, final: bool
) -> AuditEvent | None:
    """The ledger entry of the job's usage beyond what `recorded` holds, if one is due."""
    contract, metadata = body["spec"]["contract"], body["metadata"]
    already = usage_by_job(recorded).get(metadata["uid"], 0)
    if not usage_due(used, already, final=final):
        return None
    job = job_key(metadata["namespace"], metadata["name"])
    return usage_event(contract, metadata["uid"], job, used, already, utcnow())


class TrainingJobReconciler:
    """Makes the world match one TrainingJob."""

    def __init__(self, op: Operator) -> None:
        self.op = op
        self.kube = op.kube
        self.workload = Workload(op.kube)
        self.backstops = Backstops(self.workload)
        self.outputs = OutputVolume(op.kube, op.rules)
        self._admission_locks: dict[str, asyncio.Lock] = {}

    async def __call__(self, key: str) -> float | None:
        namespace, name = key.split("/", 1)
        body = await self.kube.get(API_VERSION, TRAINING_JOB, name, namespace)
        if body is None:
            # Gone: if its finalizer was removed by hand, pods may still be held for metering.
            await self.workload.release_orphans(namespace, name)
            return None
        if body["metadata"].get("deletionTimestamp"):
            await self._delete(body)
            return None
        await ensure_finalizer(self.kube, body)
        try:
            job = TrainingJob.model_validate(body)
        except ValidationError as error:
            await self._deny(body, Decision.deny(INVALID_SPEC, validation_message(error)))
            return None
        phase = (body.get("status") or {}).get("phase")
        if phase in FINISHED_PHASES:
            # Its final figure is recorded: pods still held for metering may go.
            await self.workload.release_pods(body)
            return await self._keep_output(body, job)
        contract = await self.kube.get(API_VERSION, DATA_CONTRACT, job.spec.contract)
        if phase in (None, "Pending", "Queued"):
            admitted = await self._admit(body, job, contract)
            if admitted is not True:
                return admitted
            body = await self.kube.get(API_VERSION, TRAINING_JOB, name, namespace) or body
        if not contract_lets_jobs_run(contract):
            await self._stop_unless_done(body, contract, stop_reason(contract))
            return None
        expired = validity_passed(contract, utcnow())
        if expired is not None:
            await self._stop_unless_done(body, contract, expired)
            return None
        assert contract is not None
        return await self._run(body, job, contract)

    # --- Admission ----------------------------------------------------------------------------

    async def _admit(
        self, body: Manifest, job: TrainingJob, contract: Manifest | None
    ) -> bool | float | None:
        """True once admitted; else the seconds until a Queued job looks again (None if denied)."""
        name = job.spec.contract
        queued = (body.get("status") or {}).get("phase") == "Queued"
        lock = self._admission_locks.setdefault(name, asyncio.Lock())
        async with lock:
            uid = body["metadata"]["uid"]
            recorded = (await self.op.ledger.load(name)).entries
            if uid in admitted_jobs(recorded):
                decision = Decision.allow(
                    ADMITTED_REASON, "admitted (recorded in the audit ledger)"
                )
            else:
                decision, position = await self._decide(job, contract, recorded, queued=queued)
                if position is not None:
                    await self._queue(body, decision, position)
                    return QUEUE_RECHECK_SECONDS
                event = admission_event(
                    name,
                    uid,
                    job_key(job.metadata.namespace or "", job.metadata.name or ""),
                    job.spec.total_gpus,
                    decision.allowed,
                    decision.reason,
                    utcnow(),
                )
                await self.op.ledger.record(name, [event])
                count_admission(name if contract else None, decision.allowed, decision.reason)
            if not decision.allowed:
                await self._deny(body, decision)
                return None
            await self._write(
                body, "Admitted", condition=(ADMITTED, decision), queue=decision if queued else None
            )
        await record_event(self.kube, body, reason=ADMITTED_REASON, message=decision.message)
        self.op.enqueue(DATA_CONTRACT, name)
        if queued:
            # The jobs behind it move up.
            await self._wake_queue(name)
        return True

    async def _decide(
        self,
        job: TrainingJob,
        contract: Manifest | None,
        recorded: list[AuditEntry],
        *,
        queued: bool,
    ) -> tuple[Decision, int | None]:
        """The contract's answer to the job, with its place in the queue if it must wait."""
        if queued and not contract_lets_jobs_run(contract):
            # Revoked, expired, exhausted or gone while the job waited: the contract's reason.
            return stop_reason(contract), None
        case = await admission_input(self.op, job, contract, recorded)
        decision = admit_training_job(case)
        if must_wait(decision):
            return decision, case.queued_ahead + 1
        if decision.allowed and job.spec.output is not None:
            decision = output_size_allowed(job.spec.output.size, self.op.rules)
        return decision, None

    async def _queue(self, body: Manifest, decision: Decision, position: int | None) -> None:
        """The job waits for its turn, Queued, holding nothing: no batch Job, no GPU-seconds."""
        entering = (body.get("status") or {}).get("phase") != "Queued"
        await self._write(body, "Queued", queue=decision, queue_position=position)
        if entering:
            await record_event(self.kube, body, reason=decision.reason, message=decision.message)

    async def _wake_queue(self, contract: str) -> None:
        """Reconcile the contract's Queued jobs now: one may fit, or move up."""
        for sibling in await self.workload.contract_jobs_in_phase(contract, "Queued"):
            metadata = sibling["metadata"]
            self.op.enqueue(TRAINING_JOB, job_key(metadata["namespace"], metadata["name"]))

    async def _deny(self, body: Manifest, decision: Decision) -> None:
        queued = (body.get("status") or {}).get("phase") == "Queued"
        await self._write(
            body, "Denied", condition=(ADMITTED, decision), queue=decision if queued else None
        )
        await record_event(
            self.kube, body, reason=decision.reason, message=decision.message, warning=True
        )
        if queued:
            await self._wake_queue(body["spec"]["contract"])

    # --- Running ------------------------------------------------------------------------------

    async def _run(self, body: Manifest, job: TrainingJob, contract_body: Manifest) -> float | None:
        """Start the workers, then meter them until they end or the budget does. A metering
        pass reads the job, its contract, its batch Job, the contract's jobs with their pods
        and the ledger once each: it runs every few seconds for every running job of the hub."""
        status = body.get("status") or {}
        name, namespace = workload_of(body)
        contract = DataContract.model_validate(contract_body)
        batch = await self.workload.batch_job(body)
        if batch is None and not await self.workload.clean_room_ready(
            body, contract.metadata.uid or ""
        ):
            # The contract's reconcile is opening it, or reports CleanRoomNameTaken. (A batch
            # Job made for this job stands in the clean room only once it was ready.)
            return CLEAN_ROOM_RECHECK_SECONDS
        sealed: Decision | None = None
        if batch is None:
            if status.get("job"):
                await self._lost(body, contract)
                return None
            sealed, batch = await self._start(body, job, contract)
            if batch is None:
                return CLEAN_ROOM_RECHECK_SECONDS
        jobs = await self.workload.contract_jobs(contract.metadata.name or "")
        uid = body["metadata"]["uid"]
        own = [pods for sibling, pods in jobs if sibling["metadata"]["uid"] == uid]
        # (Not among them if it was deleted a moment ago: its pods are read on their own.)
        pods = own[0] if own else await self.workload.pods(body)
        now = utcnow()
        used = gpu_seconds(pods, job.spec.gpus_per_worker, now)
        recorded = (await self.op.ledger.load(contract.metadata.name or "", contract_body)).entries
        budget = await self._live_budget(contract, jobs, now, recorded)
        gpu_budget = contract.spec.compute.max_gpu_hours * 3600
        outcome = batch_outcome(batch, pods)
        if outcome is not None:
            outcome = validity_outcome(outcome, contract.spec.validity.not_after, now)
            outcome = budget_outcome(outcome, gpu_budget, budget, job.spec.total_gpus)
            await self._finish(body, *outcome, used=used, started=start_time(pods))
            if not budget.used_up:
                # Its GPUs are free: its siblings' shared second moves later.
                await self._keep_backstops(contract, jobs, budget, now)
            self._wake_siblings(body, jobs)
            return None
        if budget.used_up:
            # The job stops itself the second its contract's jobs reach the budget, without
            # waiting for the contract's usage and phase to catch up; so do its siblings.
            await self._stop(body, budget_exhausted(gpu_budget, budget), pods=pods)
            self._wake_siblings(body, jobs)
            return None
        metadata = body["metadata"]
        if self.op.stop_waiting(TRAINING_JOB, job_key(metadata["namespace"], metadata["name"])):
            # A stop came while this pass read (a revocation, an expiry): it runs at once,
            # instead of this pass's writes.
            return None
        due = seconds_to_budget_end(budget.gpu_seconds_left, budget.gpus_running, now)
        if due is not None and due <= STOP_LEAD_SECONDS:
            end = now + timedelta(seconds=due)
            return await self._stop_at_budget(body, contract, jobs, recorded, end)
        workers = running_workers(pods)
        if workers:
            # Every backstop follows the second the budget runs out at the GPUs held now.
            await self._keep_backstops(contract, jobs, budget, now)
        phase: TrainingJobPhase = "Running" if workers else "Admitted"
        await self._write(
            body,
            phase,
            used=used,
            condition=(CLEAN_ROOM_READY, sealed) if sealed else None,
            job=name,
            clean_room=namespace,
            start_time=None if status.get("startTime") else start_time(pods),
        )
        await self._checkpoint(body, used, recorded)
        if phase == "Running" and status.get("phase") != "Running":
            message = f"workers run in {namespace}"
            await record_event(self.kube, body, reason=RUNNING_REASON, message=message)
            # The contract's budget now runs out sooner: its other jobs wake to see it.
            self._wake_siblings(body, jobs)
        if not workers:
            return None
        # Less often while the budget and the contract's end are far; the budget's second is
        # prepared on time whatever the interval, and what moves it wakes the job at once.
        ends_in = (contract.spec.validity.not_after - now).total_seconds()
        interval = metering_interval(due, ends_in)
        lead = STOP_LEAD_SECONDS
        left, gpus = budget.gpu_seconds_left, budget.gpus_running
        return next_metering(left, gpus, now, interval, lead=lead) + WAKE_MARGIN_SECONDS

    async def _stop_unless_done(
        self, body: Manifest, contract: Manifest | None, decision: Decision
    ) -> None:
        """The contract no longer lets the job run: stop its workers, unless they had all
        completed before the contract ended (while no operator looked at the job): then it
        Succeeded."""
        pods = await self.workload.pods(body)
        # A worker still running has not completed: the common stop reads no batch Job.
        batch = None if running_workers(pods) else await self.workload.batch_job(body)
        now = utcnow()
        ended = contract_ended_at(contract, now)
        done = None if batch is None else succeeded_by(batch, pods, ended)
        if done is None:
            await self._stop(body, decision, pods=pods)
            return
        gpus_per_worker = int((body.get("spec") or {}).get("gpusPerWorker", 1))
        used = gpu_seconds(pods, gpus_per_worker, now)
        await self._finish(body, *done, used=used, started=start_time(pods))

    async def _stop_at_budget(
        self,
        body: Manifest,
        contract: DataContract,
        jobs: list[tuple[Manifest, list[Manifest]]],
        recorded: list[AuditEntry],
        end: datetime,
    ) -> float | None:
        """The contract's jobs reach the budget at the whole second `end`, less than
        STOP_LEAD_SECONDS away: with all else read already, wait for that second, read the
        contract's pods once more and, the budget used up, stop the workers, whose deletes then
        reach them within that second. Never sooner: pods deleted before it would meter less
        than the budget. (A sibling that ended meanwhile leaves budget: a metering pass follows.)"""
        await asyncio.sleep(max(0.0, (end - utcnow()).total_seconds()) + WAKE_MARGIN_SECONDS)
        pods = await self.workload.contract_pods(contract.metadata.name or "")
        jobs = with_pods([job for job, _ in jobs], pods)
        budget = await self._live_budget(contract, jobs, utcnow(), recorded)
        if not budget.used_up:
            return WAKE_MARGIN_SECONDS
        own = [pods for job, pods in jobs if job["metadata"]["uid"] == body["metadata"]["uid"]]
        gpu_budget = contract.spec.compute.max_gpu_hours * 3600
        await self._stop(body, budget_exhausted(gpu_budget, budget), pods=own[0] if own else None)
        self._wake_siblings(body, jobs)
        return None

    async def _lost(self, body: Manifest, contract: DataContract) -> None:
        """The batch Job is gone while the job ran. Either the operator's own stop at the budget
        deleted it and was cut off before recording the stop (the API server restarting), or
        something else took it: its pods are stopped (they may run on without it), metered to
        their end and charged to the contract either way."""
        jobs = await self.workload.contract_jobs(contract.metadata.name or "")
        budget = await self._live_budget(contract, jobs)
        if budget.used_up:
            gpu_budget = contract.spec.compute.max_gpu_hours * 3600
            await self._stop(body, budget_exhausted(gpu_budget, budget))
            self._wake_siblings(body, jobs)
            return
        name, namespace = workload_of(body)
        lost = Decision.deny(JOB_LOST, f"batch Job {namespace}/{name} vanished")
        await self._stop(body, lost, phase="Failed")

    async def _live_budget(
        self,
        contract: DataContract,
        jobs: list[tuple[Manifest, list[Manifest]]],
        now: datetime | None = None,
        recorded: list[AuditEntry] | None = None,
    ) -> LiveBudget:
        """The contract's budget left as all its jobs' pods show it at `now` (the instant the
        caller counts from: what follows from it, the budget's second, must use the same one),
        and the GPUs they run; from the ledger's `recorded` entries, or the ledger read now."""
        if recorded is None:
            recorded = (await self.op.ledger.load(contract.metadata.name or "")).entries
        budget = contract.spec.compute.max_gpu_hours * 3600
        return live_budget(budget, usage_by_job(recorded), jobs, now or utcnow())

    async def _keep_backstops(
        self,
        contract: DataContract,
        jobs: list[tuple[Manifest, list[Manifest]]],
        budget: LiveBudget,
        now: datetime,
    ) -> None:
        """Move every running batch Job of the contract to the second its `budget` (measured at
        `now`) runs out at the GPUs its batch Jobs hold."""
        name = contract.metadata.name or ""
        async with self.backstops.held(name):
            batches = await self.backstops.batch_jobs(name)
            gpus = self.backstops.gpus(batches, budget)
            siblings = [sibling for sibling, _ in jobs]
            await self.backstops.align(contract, siblings, batches, gpus, budget, now)

    def _wake_siblings(self, body: Manifest, jobs: list[tuple[Manifest, list[Manifest]]]) -> None:
        """Reconcile the other unfinished TrainingJobs of the same contract now."""
        for sibling, _ in jobs:
            metadata = sibling["metadata"]
            unfinished = (sibling.get("status") or {}).get("phase") not in FINISHED_PHASES
            if unfinished and metadata["uid"] != body["metadata"]["uid"]:
                self.op.enqueue(TRAINING_JOB, job_key(metadata["namespace"], metadata["name"]))

    async def _start(
        self, body: Manifest, job: TrainingJob, contract: DataContract
    ) -> tuple[Decision, Manifest | None]:
        """Start the workers once the clean room is sealed; until then the job waits, Admitted,
        and its CleanRoomReady condition says why. The decision, and the live batch Job if it
        started."""
        inputs = await clean_room_inputs(self.op, job, contract)
        sealed = clean_room_sealed(contract_opened_clean_room(contract), inputs.observation)
        await record_transition(self.kube, body, CLEAN_ROOM_READY, sealed)
        if not sealed.allowed:
            await self._write(body, "Admitted", condition=(CLEAN_ROOM_READY, sealed))
            return sealed, None
        datasets = {name: address for name, address in inputs.datasets.items() if address}
        claim = await self._open_output(body, job)
        name = contract.metadata.name or ""
        async with self.backstops.held(name):
            # Its GPUs add to those its siblings' batch Jobs hold: the budget runs out that much
            # sooner, for every one of them; no sibling starts meanwhile.
            now = utcnow()
            jobs = await self.workload.contract_jobs(name)
            budget = await self._live_budget(contract, jobs, now)
            batches = await self.backstops.batch_jobs(name)
            gpus = self.backstops.gpus(batches, budget) + job.spec.total_gpus
            not_after = contract.spec.validity.not_after
            left = budget.gpu_seconds_left
            deadline = remaining_seconds(job.spec, left, gpus, not_after, now, now)
            batch = await self.workload.start(job, self.op.rules, deadline, datasets, claim)
            siblings = [sibling for sibling, _ in jobs]
            await self.backstops.align(contract, siblings, batches, gpus, budget, now)
        return sealed, batch

    async def _open_output(self, body: Manifest, job: TrainingJob) -> str | None:
        """The job's output claim in the clean room, created (and recorded) before its workers."""
        live = await self.outputs.ensure_claim(job)
        if live is None:
            return None
        name = str(live["metadata"]["name"])
        details = {"claim": name, "size": job.spec.output.size if job.spec.output else None}
        event = output_event(
            job.spec.contract, body["metadata"]["uid"], OUTPUT_CREATED, details, utcnow()
        )
        await self.op.ledger.record(job.spec.contract, [event])
        await self._write_output(body, job, "Writable")
        return name

    async def _checkpoint(self, body: Manifest, used: int, recorded: list[AuditEntry]) -> None:
        """Record usage in the ledger when it grew by a checkpoint's worth (`recorded`: the
        ledger's entries as this pass read them)."""
        event = _usage_due(body, used, recorded, final=False)
        if event is not None:
            await self.op.ledger.record(body["spec"]["contract"], [event])

    # --- Ending -------------------------------------------------------------------------------

    async def _delete(self, body: Manifest) -> None:
        """A deleted TrainingJob: stop its workers (metered, recorded), discard an output that
        was not released (recorded), then let it go."""
        status = body.get("status") or {}
        if status.get("phase") not in FINISHED_PHASES and status.get("job"):
            await self._stop(body, Decision.deny(DELETED, "the TrainingJob was deleted"))
        await self.workload.stop_workers(body)
        await self.workload.release_pods(body)
        await self.workload.remove_rendezvous(body)
        if await self.outputs.claim(body) is not None:
            await self._discard_output(body, OUTPUT_JOB_DELETED)
        await remove_finalizer(self.kube, body)
        await self._wake_queue(body["spec"]["contract"])

    # --- Output -------------------------------------------------------------------------------

    async def _keep_output(self, body: Manifest, job: TrainingJob) -> float | None:
        """A finished job's output: list it into its manifest, then report where it is; discard
        it once its retention passed."""
        if job.spec.output is None:
            return None
        contract, uid = job.spec.contract, body["metadata"]["uid"]
        steps = output_steps((await self.op.ledger.load(contract)).entries, uid)
        if recorded_output_state(steps) == "Writable":
            wait = await self._inventory(body, job)
            if wait is not None:
                return wait
            steps = output_steps((await self.op.ledger.load(contract)).entries, uid)
        state = recorded_output_state(steps)
        quarantined = steps.get(OUTPUT_QUARANTINED)
        until = parse(str(quarantined.details.get("until"))) if quarantined else None
        if state == "Quarantined" and until is not None and utcnow() >= until:
            await self._discard_output(body, OUTPUT_RETENTION_PASSED)
            return None
        release = next(
            (s.details.get("release") for s in steps.values() if "release" in s.details), None
        )
        await self._write_output(
            body, job, state or "Quarantined", release=release, until=until, quarantined=quarantined
        )
        if state == "Quarantined" and until is not None:
            return max(0.0, (until - utcnow()).total_seconds()) + WAKE_MARGIN_SECONDS
        return None

    async def _inventory(self, body: Manifest, job: TrainingJob) -> float | None:
        """The manifest step: run the operator's image on the output, read back the manifest
        its container states, record the output Quarantined with it (or with why there is
        none). The seconds to wait while it runs, else None once recorded."""
        claim = await self.outputs.claim(body)
        outcome: ManifestSummary | str | None
        if claim is None:
            outcome = "the output's claim is gone"
        elif not self.op.rules.operator_image:
            outcome = "no operator image to run the manifest step (hub rule TDS_OPERATOR_IMAGE)"
        else:
            pod = await self.outputs.manifest_pod(body)
            if pod is None:
                await self.outputs.start_manifest(body, job, claim["metadata"]["name"])
            outcome = manifest_outcome(pod) if pod is not None else None
            if outcome is None:
                await self._write_output(body, job, "Inventorying")
                return MANIFEST_RECHECK_SECONDS
        event = self._quarantine_event(body, job, claim, outcome)
        await self.op.ledger.record(job.spec.contract, [event])
        await self.outputs.remove_manifest_pod(body)
        return None

    def _quarantine_event(
        self,
        body: Manifest,
        job: TrainingJob,
        claim: Manifest | None,
        manifest: ManifestSummary | str,
    ) -> AuditEvent:
        """The ledger entry of a finished job's output, held in the clean room, with its
        manifest (or why it has none)."""
        until = quarantine_ends(utcnow(), self.op.rules)
        listed = manifest if isinstance(manifest, ManifestSummary) else None
        details = {
            "job": job_key(body["metadata"]["namespace"], body["metadata"]["name"]),
            "claim": (claim or {}).get("metadata", {}).get("name"),
            "volume": ((claim or {}).get("spec") or {}).get("volumeName"),
            "until": timestamp(until),
            MANIFEST_FIELD: listed.digest if listed else None,
            MANIFEST_FILES_FIELD: listed.files if listed else None,
            MANIFEST_BYTES_FIELD: listed.bytes if listed else None,
            MANIFEST_MESSAGE_FIELD: None if listed else str(manifest),
        }
        return output_event(
            job.spec.contract, body["metadata"]["uid"], OUTPUT_QUARANTINED, details, utcnow()
        )

    async def _discard_output(self, body: Manifest, reason: str) -> None:
        """Delete the output (claim and volume), on the record."""
        contract, uid = body["spec"]["contract"], body["metadata"]["uid"]
        steps = output_steps((await self.op.ledger.load(contract)).entries, uid)
        quarantined = steps.get(OUTPUT_QUARANTINED)
        volume = quarantined.details.get("volume") if quarantined else None
        await self.outputs.delete(body, volume)
        event = output_event(
            contract, uid, OUTPUT_DELETED, {"reason": reason, "volume": volume}, utcnow()
        )
        await self.op.ledger.record(contract, [event])
        if not body["metadata"].get("deletionTimestamp"):
            await self._write_output(body, None, "Discarded")
        self.op.enqueue(DATA_CONTRACT, contract)

    async def _write_output(
        self,
        body: Manifest,
        job: TrainingJob | None,
        state: OutputState,
        *,
        release: str | None = None,
        until: datetime | None = None,
        quarantined: AuditEntry | None = None,
    ) -> None:
        size = job.spec.output.size if job is not None and job.spec.output else None
        manifest = quarantined.details if quarantined is not None else {}
        output = OutputStatus(
            state=state,
            claim=output_claim_name(body["metadata"]["name"]),
            size=size,
            release=release,
            quarantined_until=until if state == "Quarantined" else None,
            manifest_digest=manifest.get(MANIFEST_FIELD),
            manifest_files=manifest.get(MANIFEST_FILES_FIELD),
            manifest_bytes=manifest.get(MANIFEST_BYTES_FIELD),
            manifest_message=manifest.get(MANIFEST_MESSAGE_FIELD),
        )
        await write_status(self.kube, body, TrainingJobStatus(output=output))

    async def _stop(
        self,
        body: Manifest,
        decision: Decision,
        phase: TrainingJobPhase = "Stopped",
        *,
        pods: list[Manifest] | None = None,
    ) -> None:
        """Stop the workers now: delete the batch Job and its pods (`pods`, if the caller has
        just read them) at once, the pods held by their metering finalizer until the figure is
        recorded; meter them to this instant, record and report the stop."""
        gpus_per_worker = int((body.get("spec") or {}).get("gpusPerWorker", 1))
        pods = await self.workload.pods(body) if pods is None else pods
        ended = await self.workload.stop(body, pods)
        # Metered to the moment its pods were deleted: they ran until then, or until the finish
        # their deletes show (held by the metering finalizer) if they ended sooner (the Job
        # controller may delete them first, while the API calls of the stop are slow).
        used = gpu_seconds(ended, gpus_per_worker, utcnow())
        await self._finish(body, phase, decision, used=used, started=start_time(pods))

    async def _finish(
        self,
        body: Manifest,
        phase: TrainingJobPhase,
        decision: Decision,
        *,
        used: int | None = None,
        started: str | None = None,
    ) -> None:
        """Record the job's end (its final figure with it) and report it; `started`, when its
        pods show one, is its start time should no earlier reconcile have reported it (a job
        that ran its course while no operator led)."""
        if used is not None:
            # The status never goes down; the ledger records the same final figure.
            used = max(used, int((body.get("status") or {}).get("gpuSeconds") or 0))
        contract = (body.get("spec") or {}).get("contract", "")
        end = job_end_event(
            contract, body["metadata"]["uid"], phase, decision.reason, used or 0, utcnow()
        )

        def final_events(recorded: list[AuditEntry]) -> list[AuditEvent]:
            usage = None if used is None else _usage_due(body, used, recorded, final=True)
            return [*([usage] if usage is not None else []), end]

        # One append, from the ledger as it stands: the final usage and the end of the job,
        # before the contract's admissions and denials waiting their turn at its ledger.
        await self.op.ledger.record_from(contract, final_events, urgent=True)
        started = None if (body.get("status") or {}).get("startTime") else started
        await self._write(
            body,
            phase,
            used=used,
            condition=(FINISHED, decision),
            completed=True,
            start_time=started,
        )
        await self.workload.release_pods(body)
        # The rendezvous Service holds no GPU, but a cluster IP, of a range a hub may run out
        # of: it goes once the end is recorded, however the job ended.
        await self.workload.remove_rendezvous(body)
        job = _parsed(body)
        if job is not None and job.spec.output is not None:
            # The output is listed into its manifest, then Quarantined (_keep_output).
            metadata = body["metadata"]
            self.op.enqueue(TRAINING_JOB, job_key(metadata["namespace"], metadata["name"]))
        await record_event(
            self.kube,
            body,
            reason=decision.reason,
            message=f"{phase}: {decision.message}",
            warning=phase != "Succeeded",
        )
        self.op.enqueue(DATA_CONTRACT, contract)
        # Its GPUs are free: the next queued job may fit.
        await self._wake_queue(contract)

    async def _write(
        self,
        body: Manifest,
        phase: TrainingJobPhase,
        *,
        used: int | None = None,
        condition: tuple[str, Decision] | None = None,
        queue: Decision | None = None,
        queue_position: int | None = None,
        completed: bool = False,
        job: str | None = None,
        clean_room: str | None = None,
        start_time: str | None = None,
    ) -> None:
        """Report the phase (and what else is given) in the typed status. `queue` sets the
        Queued condition: True while the phase is Queued, else why the job left the queue."""
        status = body.get("status") or {}
        generation = body["metadata"].get("generation")
        conditions = status.get("conditions") or []
        changes = [condition] if condition is not None else []
        changes += [(QUEUED, queue)] if queue is not None else []
        for type, decision in changes:
            if type == FINISHED:
                holds = phase == "Succeeded"
            else:
                holds = phase == "Queued" if type == QUEUED else decision.allowed
            conditions = set_condition(
                conditions,
                type=type,
                status=holds,
                reason=decision.reason,
                message=decision.message,
                generation=generation,
                now=utcnow(),
            )
        new_status = TrainingJobStatus(
            phase=phase,
            conditions=conditions,
            observed_generation=generation,
            gpu_seconds=None if used is None else max(used, int(status.get("gpuSeconds") or 0)),
            queue_position=queue_position,
            job=job,
            clean_room=clean_room,
            start_time=start_time,
            # The first end is the one that counts.
            completion_time=(
                timestamp(utcnow()) if completed and not status.get("completionTime") else None
            ),
        )
        # Out of the queue (or in Kueue's, with no position to give): no position, in the same
        # write as the new phase.
        clear = () if phase == "Queued" and queue_position is not None else ("queuePosition",)
        written = await write_status(self.kube, body, new_status, clear=clear)
        if phase == "Running" and status.get("phase") == "Running":
            # A metering pass's write: its event would only start the next pass at once,
            # keeping the job's reconcile busy (and a stop waiting) when it is due in seconds.
            self.op.metering_writes.wrote(written)
