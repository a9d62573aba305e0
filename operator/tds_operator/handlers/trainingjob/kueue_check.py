"""The contract as Kueue's AdmissionCheck `tds-contract`: for each clean-room Workload whose
check is Pending once Kueue has reserved its GPUs, the operator answers Ready, Retry or Rejected
from the same admission decision as its own queue (admission.py), and records the admission on
the contract's audit ledger before it answers Ready."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack

from pydantic import ValidationError

from tds_operator import API_VERSION, FIELD_MANAGER
from tds_operator.api.jobcontracts import contracts_of
from tds_operator.api.resources import DATA_CONTRACT, KUEUE, TRAINING_JOB, Manifest
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.audit.usage import admitted_jobs
from tds_operator.desired.labels import MANAGED_BY
from tds_operator.desired.queues import CONTRACT_CHECK, contract_check_status
from tds_operator.desired.trainingjob import JOB_NAME_LABEL, JOB_NAMESPACE_LABEL
from tds_operator.handlers.batch_run import batch_job_of
from tds_operator.handlers.context import Operator, utcnow
from tds_operator.handlers.kueue import WORKLOAD
from tds_operator.handlers.queue import queue_key
from tds_operator.handlers.trainingjob import admission
from tds_operator.handlers.trainingjob.own_queue import ADMITTED_ON_RECORD
from tds_operator.kube import KubeError
from tds_operator.policy.admissioncheck import check_of, holds
from tds_operator.policy.conditions import timestamp
from tds_operator.policy.decision import Decision
from tds_operator.policy.enforcement import contract_lets_jobs_run, stop_reason

logger = logging.getLogger(__name__)

NOT_A_TRAINING_JOB = "NotATrainingJob"


class ContractCheck:
    """The AdmissionCheck controller of `tds-contract`: answers one Workload's check."""

    def __init__(self, op: Operator) -> None:
        self.op = op
        self._locks: dict[str, asyncio.Lock] = {}

    async def __call__(self, key: str) -> float | None:
        namespace, name = key.split("/", 1)
        workload = await self.op.kube.get(KUEUE, WORKLOAD, name, namespace)
        if workload is None:
            return None
        body = await self._training_job(workload)
        state = check_of(workload, CONTRACT_CHECK)
        pending = state is not None and state.get("state") == "Pending"
        if pending and holds(workload, "QuotaReserved"):
            decision = await self._decide(body)
            entry = contract_check_status(decision, timestamp(utcnow()))
            try:
                await self.op.kube.apply_status(workload, {"admissionChecks": [entry]})
            except KubeError as error:
                if error.status != 404:
                    raise
                return None  # the Workload went with its batch Job
            logger.info("contract check of %s: %s (%s)", key, entry["state"], decision.reason)
        if body is not None:
            # Its phase follows: Queued (and why), or Admitted.
            metadata = body["metadata"]
            self.op.enqueue(TRAINING_JOB, queue_key(metadata["namespace"], metadata["name"]))
        return None

    async def _decide(self, body: Manifest | None) -> Decision:
        """Ready (recorded as the job's admission), Retry or Rejected, under the contract's lock."""
        if body is None:
            return Decision.deny(
                NOT_A_TRAINING_JOB,
                "only the operator's TrainingJobs run in clean rooms: this workload is none",
            )
        try:
            job = TrainingJob.model_validate(body)
        except ValidationError:
            return Decision.deny(NOT_A_TRAINING_JOB, "its TrainingJob's spec does not parse")
        names, uid = sorted(job.spec.contract_names), job.metadata.uid or ""
        async with AsyncExitStack() as held:
            # Every contract's lock, in one order for all jobs: two joint jobs never deadlock.
            for name in names:
                await held.enter_async_context(self._locks.setdefault(name, asyncio.Lock()))
            contracts = await admission.contracts_of_job(self.op, job)
            recorded = {name: (await self.op.ledger.load(name)).entries for name in names}
            missing = {n: c for n, c in contracts.items() if uid not in admitted_jobs(recorded[n])}
            if not missing:
                # Judged by every contract: any that no longer lets jobs run refuses it.
                stopped = [c for c in contracts.values() if not contract_lets_jobs_run(c)]
                return stop_reason(stopped[0]) if stopped else ADMITTED_ON_RECORD
            waiting = all(live is not None for live in contracts.values())
            decision, _ = await admission.decide(
                self.op, job, contracts, recorded, waiting=waiting, kueue=True
            )
            if decision.allowed:
                await admission.record(self.op, job, missing, decision, contracts)
        for name in names:
            self.op.enqueue(DATA_CONTRACT, name)
        return decision

    async def _training_job(self, workload: Manifest) -> Manifest | None:
        """The operator's TrainingJob whose batch Job the Workload queues, if it is one."""
        namespace = workload["metadata"]["namespace"]
        for owner in workload["metadata"].get("ownerReferences") or []:
            if owner.get("kind") != "Job":
                continue
            batch = await self.op.kube.get("batch/v1", "Job", owner["name"], namespace)
            labels = ((batch or {}).get("metadata") or {}).get("labels") or {}
            if (
                batch is None
                or batch["metadata"]["uid"] != owner.get("uid")
                or labels.get(MANAGED_BY) != FIELD_MANAGER
            ):
                continue
            job_namespace, job_name = labels.get(JOB_NAMESPACE_LABEL), labels.get(JOB_NAME_LABEL)
            if job_namespace and job_name:
                body = await self.op.kube.get(API_VERSION, TRAINING_JOB, job_name, job_namespace)
                names = contracts_of((body or {}).get("spec") or {})
                # In the job's own clean room (a joint job's: the room named by its uid).
                if body is not None and names and batch_job_of(body)[1] == namespace:
                    return body
        return None
