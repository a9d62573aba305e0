"""TrainingJobs on a cluster that runs Kueue: the batch Job waits in Kueue, the contract decides
through its AdmissionCheck.

The reconcile differs from the operator's own queue only before admission. A job that breaks a
permanent term is Denied at once, as without Kueue. Otherwise, once the clean room is sealed, its
batch Job is created suspended on the clean room's LocalQueue, and the job is Queued, saying why
from its Workload (ContractConcurrency, OrganisationQuota, HubCapacity), with its place in that
LocalQueue from Kueue's visibility API (queuePosition, 1 being next). Kueue starts every worker
together when it has the GPUs for all of them and the contract check (handlers/kueue.py) answered
Ready, which records the admission on the ledger: from then on the job is Admitted, then Running,
and is run, metered and stopped as any other.
"""

from __future__ import annotations

import logging

from tds_operator.api.datacontract import DataContract
from tds_operator.api.resources import DATA_CONTRACT, KUEUE_VISIBILITY, PENDING_WORKLOADS
from tds_operator.api.trainingjob import ADMITTED, ADMITTED_REASON, CLEAN_ROOM_READY, TrainingJob
from tds_operator.audit.events import admission_event, job_key
from tds_operator.audit.usage import admitted_jobs
from tds_operator.desired.labels import Manifest
from tds_operator.desired.queues import CLEAN_ROOM_QUEUE
from tds_operator.handlers.context import Operator, utcnow
from tds_operator.handlers.gather import clean_room_inputs
from tds_operator.handlers.kueue import (
    contract_decision,
    ensure_queues,
    why_queued,
    workload_of_job,
)
from tds_operator.handlers.objects import record_event, record_transition
from tds_operator.handlers.trainingjobs import (
    CLEAN_ROOM_RECHECK_SECONDS,
    QUEUE_RECHECK_SECONDS,
    TrainingJobReconciler,
)
from tds_operator.handlers.workload import Workload
from tds_operator.kube import KubeError
from tds_operator.metrics import count_admission
from tds_operator.policy.admissioncheck import holds, queue_position
from tds_operator.policy.decision import Decision
from tds_operator.policy.enforcement import contract_lets_jobs_run, stop_reason
from tds_operator.policy.sealing import clean_room_sealed, contract_opened_clean_room
from tds_operator.policy.training import must_wait

logger = logging.getLogger(__name__)


class KueueTrainingJobReconciler(TrainingJobReconciler):
    """Makes the world match one TrainingJob, queueing it in Kueue."""

    def __init__(self, op: Operator) -> None:
        super().__init__(op)
        self.workload = Workload(op.kube, queue=CLEAN_ROOM_QUEUE)
        # Whether the last read of Kueue's visibility API failed: said once in the log, until a
        # read succeeds again.
        self._positions_unavailable = False

    async def _admit(
        self, body: Manifest, job: TrainingJob, contract: Manifest | None
    ) -> bool | float | None:
        """True once the contract check admitted the job; else the seconds until a Queued job
        looks again (None if denied)."""
        name, uid = job.spec.contract, body["metadata"]["uid"]
        queued = (body.get("status") or {}).get("phase") == "Queued"
        recorded = (await self.op.ledger.load(name)).entries
        if uid in admitted_jobs(recorded):
            admitted = Decision.allow(ADMITTED_REASON, "admitted by the contract check in Kueue")
            await self._write(
                body, "Admitted", condition=(ADMITTED, admitted), queue=admitted if queued else None
            )
            await record_event(self.kube, body, reason=ADMITTED_REASON, message=admitted.message)
            self.op.enqueue(DATA_CONTRACT, name)
            return True
        if queued and not contract_lets_jobs_run(contract):
            decision = stop_reason(contract)
        else:
            decision = await contract_decision(self.op, job, contract, recorded)
        if not decision.allowed and not must_wait(decision):
            await self._refuse(body, job, decision)
            return None
        assert contract is not None
        return await self._wait_in_kueue(body, job, DataContract.model_validate(contract))

    async def _refuse(self, body: Manifest, job: TrainingJob, decision: Decision) -> None:
        """Denied, on the record; a batch Job it queued goes first (its Workload with it, so
        that Kueue admits nothing of it meanwhile), the record of the denial second."""
        name, uid = job.spec.contract, body["metadata"]["uid"]
        await self.workload.stop_workers(body)
        key = job_key(job.metadata.namespace or "", job.metadata.name or "")
        event = admission_event(
            name, uid, key, job.spec.total_gpus, False, decision.reason, utcnow()
        )
        await self.op.ledger.record(name, [event])
        count_admission(name, False, decision.reason)
        await self._deny(body, decision)
        await self.workload.remove_rendezvous(body)

    async def _wait_in_kueue(
        self, body: Manifest, job: TrainingJob, contract: DataContract
    ) -> float | None:
        """Queue the suspended batch Job once the clean room is sealed; the job is Queued with
        why its Workload waits."""
        if not await self.workload.clean_room_ready(body, contract.metadata.uid or ""):
            return CLEAN_ROOM_RECHECK_SECONDS
        batch = await self.workload.batch_job(body)
        if batch is None:
            inputs = await clean_room_inputs(self.op, job, contract)
            sealed = clean_room_sealed(contract_opened_clean_room(contract), inputs.observation)
            await record_transition(self.kube, body, CLEAN_ROOM_READY, sealed)
            if not sealed.allowed:
                await self._queue(body, sealed, None)
                return CLEAN_ROOM_RECHECK_SECONDS
            await ensure_queues(self.op, contract)
            _, batch = await self._start(body, job, contract)
            if batch is None:
                return CLEAN_ROOM_RECHECK_SECONDS
        workload = await workload_of_job(self.kube, batch)
        why = await why_queued(self.op, job, workload)
        await self._queue(body, why, await self._position(workload))
        return QUEUE_RECHECK_SECONDS

    async def _position(self, workload: Manifest | None) -> int | None:
        """The Workload's place in its clean room's LocalQueue (1 = next), from one read of
        Kueue's visibility API; None while Kueue holds GPUs for it or has not queued it, or if
        the cluster does not serve that API (a queued job needs no position to be admitted)."""
        if workload is None or holds(workload, "QuotaReserved"):
            return None
        namespace, name = workload["metadata"]["namespace"], workload["metadata"]["name"]
        try:
            pending = await self.kube.get_subresource(
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
