"""Admission in Kueue, when the cluster runs it: the batch Job waits in Kueue, the contract
decides through its AdmissionCheck.

The reconcile differs from the operator's own queue only before admission. A job that breaks a
permanent term is Denied at once, as without Kueue. Otherwise, once the clean room is sealed, its
batch Job is created suspended on the clean room's LocalQueue, and the job is Queued, saying why
from its Workload (ContractConcurrency, OrganisationQuota, HubCapacity), with its place in that
LocalQueue from Kueue's visibility API (queuePosition, 1 being next). Kueue starts every worker
together when it has the GPUs for all of them and the contract check (kueue_check.py) answered
Ready, which records the admission on the ledger: from then on the job is Admitted, then Running,
and is run, metered and stopped as any other.
"""

from __future__ import annotations

import logging

from tds_operator.api.datacontract import DataContract
from tds_operator.api.resources import DATA_CONTRACT, KUEUE_VISIBILITY, PENDING_WORKLOADS, Manifest
from tds_operator.api.trainingjob import ADMITTED, ADMITTED_REASON, CLEAN_ROOM_READY, TrainingJob
from tds_operator.audit.usage import admitted_jobs
from tds_operator.desired.queues import CLEAN_ROOM_QUEUE
from tds_operator.handlers.batch_run import batch_job_of
from tds_operator.handlers.kueue import ensure_queues, why_queued, workload_of_job
from tds_operator.handlers.trainingjob import admission
from tds_operator.handlers.trainingjob.end import deny
from tds_operator.handlers.trainingjob.joint_run import start_joint
from tds_operator.handlers.trainingjob.own_queue import QUEUE_RECHECK_SECONDS
from tds_operator.handlers.trainingjob.parts import JobParts
from tds_operator.handlers.trainingjob.report import JobReport
from tds_operator.handlers.trainingjob.start import CLEAN_ROOM_RECHECK_SECONDS, sealed, start
from tds_operator.kube import KubeError
from tds_operator.policy.admissioncheck import holds, queue_position
from tds_operator.policy.decision import Decision
from tds_operator.policy.training import must_wait

logger = logging.getLogger(__name__)

ADMITTED_IN_KUEUE = Decision.allow(ADMITTED_REASON, "admitted by the contract check in Kueue")


class KueueQueue:
    """The admission strategy of Kueue: the contract check admits, Kueue starts the workers."""

    queue: str | None = CLEAN_ROOM_QUEUE
    """The clean room's LocalQueue, which the batch Jobs wait in, created suspended."""

    def __init__(self) -> None:
        # Whether the last read of Kueue's visibility API failed: said once in the log, until a
        # read succeeds again.
        self._positions_unavailable = False

    async def admit(
        self, parts: JobParts, report: JobReport, job: TrainingJob, contract: Manifest | None
    ) -> bool | float | None:
        """True once the contract check admitted the job; else the seconds until a Queued job
        looks again (None if denied)."""
        names, uid = job.spec.contract_names, job.metadata.uid or ""
        queued = report.phase_was == "Queued"
        recorded = {name: (await parts.op.ledger.load(name)).entries for name in names}
        if all(uid in admitted_jobs(entries) for entries in recorded.values()):
            queue = ADMITTED_IN_KUEUE if queued else None
            report.phase("Admitted", condition=(ADMITTED, ADMITTED_IN_KUEUE), queue=queue)
            for name in names:
                report.wake(DATA_CONTRACT, name)
            return True
        contracts = await admission.contracts_of_job(parts.op, job, first=contract)
        waiting = queued or all(live is not None for live in contracts.values())
        decision, _ = await admission.decide(
            parts.op, job, contracts, recorded, waiting=waiting, kueue=True
        )
        if not decision.allowed and not must_wait(decision):
            await self._refuse(parts, report, job, contracts, decision)
            return None
        assert contract is not None
        if job.spec.joint:
            models = [DataContract.model_validate(c) for c in contracts.values() if c]
            return await self._wait_joint(parts, report, job, models)
        return await self._wait(parts, report, job, DataContract.model_validate(contract))

    async def _refuse(
        self,
        parts: JobParts,
        report: JobReport,
        job: TrainingJob,
        contracts: dict[str, Manifest | None],
        decision: Decision,
    ) -> None:
        """Denied, on the record; a batch Job it queued goes first (its Workload with it, so
        that Kueue admits nothing of it meanwhile), the record of the denial second."""
        await parts.batch_run.stop_workers(report.body)
        await admission.record(parts.op, job, contracts, decision)
        deny(report, decision)
        await parts.batch_run.remove_rendezvous(report.body)

    async def _wait(
        self, parts: JobParts, report: JobReport, job: TrainingJob, contract: DataContract
    ) -> float | None:
        """Queue the suspended batch Job once the clean room is sealed; the job is Queued with
        why its Workload waits."""
        body = report.body
        if not await parts.batch_run.clean_room_ready(body, contract.metadata.uid or ""):
            return CLEAN_ROOM_RECHECK_SECONDS
        batch = await parts.batch_run.batch_job(body)
        if batch is None:
            ready, _ = await sealed(parts, job, contract)
            if not ready.allowed:
                report.condition(CLEAN_ROOM_READY, ready, "Queued")
                report.phase("Queued", queue=ready)
                return CLEAN_ROOM_RECHECK_SECONDS
            await ensure_queues(parts.op, contract)
            _, batch = await start(parts, report, job, contract)
            if batch is None:
                return CLEAN_ROOM_RECHECK_SECONDS
        return await self._queued(parts, report, job, batch)

    async def _queued(
        self, parts: JobParts, report: JobReport, job: TrainingJob, batch: Manifest
    ) -> float | None:
        """Report the job Queued, with why its Workload waits and its place in the queue."""
        workload = await workload_of_job(parts.kube, batch)
        why = await why_queued(parts.op, job, workload)
        position = await self._position(parts, workload)
        report.phase("Queued", queue=why, queue_position=position)
        return QUEUE_RECHECK_SECONDS

    async def _wait_joint(
        self, parts: JobParts, report: JobReport, job: TrainingJob, contracts: list[DataContract]
    ) -> float | None:
        """Queue a joint job's suspended batch Job once its own room is sealed and has its
        LocalQueue (its ClusterQueue open to it); the job is Queued with why its Workload
        waits."""
        body = report.body
        batch = await parts.batch_run.batch_job(body)
        if batch is None:
            room = batch_job_of(body)[1]

            async def queues() -> None:
                await ensure_queues(parts.op, contracts[0], room)

            batch = await start_joint(parts, report, job, contracts, prepare=queues, phase="Queued")
            if batch is None:
                return CLEAN_ROOM_RECHECK_SECONDS
        return await self._queued(parts, report, job, batch)

    async def _position(self, parts: JobParts, workload: Manifest | None) -> int | None:
        """The Workload's place in its clean room's LocalQueue (1 = next), from one read of
        Kueue's visibility API; None while Kueue holds GPUs for it or has not queued it, or if
        the cluster does not serve that API (a queued job needs no position to be admitted)."""
        if workload is None or holds(workload, "QuotaReserved"):
            return None
        namespace, name = workload["metadata"]["namespace"], workload["metadata"]["name"]
        try:
            pending = await parts.kube.get_subresource(
                KUEUE_VISIBILITY, "LocalQueue", CLEAN_ROOM_QUEUE, PENDING_WORKLOADS, namespace
            )
        except KubeError as error:
            if error.status not in (403, 404, 503):
                raise
            if not self._positions_unavailable:
                logger.warning(
                    "Kueue's visibility API (%s) is not available (%s): queued jobs get no "
                    "queuePosition until it is",
                    KUEUE_VISIBILITY,
                    error,
                )
            self._positions_unavailable = True
            return None
        self._positions_unavailable = False
        return queue_position(pending, name)
