"""Kueue, when the cluster runs it (TDS_KUEUE): the queue tree the operator keeps, and the
contract as Kueue's AdmissionCheck.

The queue tree (desired/queues.py): the GPU pool's ResourceFlavor and the AdmissionCheck
`tds-contract` once, a ClusterQueue per consumer organisation and a LocalQueue per clean room once
a contract of theirs is Active (and again as their jobs start). The contract check: for each
clean-room Workload whose `tds-contract` check is Pending once Kueue has reserved its GPUs, the
operator answers Ready, Retry or Rejected from the same decision as its own admission
(policy/admissioncheck.py), and records an admission on the contract's audit ledger before it
answers Ready.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import kopf
from pydantic import ValidationError

from tds_operator import API_VERSION, FIELD_MANAGER
from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import DataSpace
from tds_operator.api.resources import (
    DATA_CONTRACT,
    KUEUE,
    KUEUE_WORKLOAD_CRD,
    TRAINING_JOB,
)
from tds_operator.api.trainingjob import ADMITTED_REASON, TrainingJob
from tds_operator.audit.chain import AuditEntry
from tds_operator.audit.events import admission_event, job_key
from tds_operator.audit.usage import admitted_jobs
from tds_operator.config import KueueMode
from tds_operator.desired.cleanroom import CLEAN_ROOM_PREFIX, clean_room_namespace
from tds_operator.desired.isolation import GPU_RESOURCE
from tds_operator.desired.labels import MANAGED_BY, Manifest
from tds_operator.desired.queues import (
    CONTRACT_CHECK,
    clean_room_queue,
    contract_check,
    contract_check_active,
    contract_check_status,
    gpu_borrowing_limit,
    gpu_flavor,
    organisation_queue,
    organisation_queue_name,
)
from tds_operator.desired.trainingjob import JOB_NAME_LABEL, JOB_NAMESPACE_LABEL
from tds_operator.handlers.context import Operator, utcnow
from tds_operator.handlers.gather import admission_input, data_space, known_contracts_of_space
from tds_operator.kube import Kube, KubeError, comparable, is_subset
from tds_operator.metrics import count_admission
from tds_operator.policy.admissioncheck import (
    check_of,
    gpus_admitted,
    holds,
    organisation_gpus,
    waiting_reason,
)
from tds_operator.policy.conditions import timestamp
from tds_operator.policy.decision import Decision
from tds_operator.policy.enforcement import contract_lets_jobs_run, stop_reason
from tds_operator.policy.outputs import output_size_allowed
from tds_operator.policy.training import admit_training_job

logger = logging.getLogger(__name__)

WORKLOAD = "Workload"
"""The reconcile queue of the contract check, keyed by a Workload's namespace/name."""
NOT_A_TRAINING_JOB = "NotATrainingJob"


async def uses_kueue(kube: Kube, mode: KueueMode) -> bool:
    """Whether TrainingJobs queue in Kueue: never when `off`; when `auto`, if the cluster serves
    Kueue's Workload CRD; when `on`, it must."""
    if mode == "off":
        return False
    crd = "apiextensions.k8s.io/v1", "CustomResourceDefinition", KUEUE_WORKLOAD_CRD
    served = await kube.get(*crd) is not None
    if mode == "on" and not served:
        raise kopf.PermanentError(
            f"TDS_KUEUE is on (Helm value kueue.enabled: true) but the cluster does not serve "
            f"{KUEUE_WORKLOAD_CRD}: install Kueue, or set it to auto or off"
        )
    return served


async def ensure_pool(op: Operator) -> None:
    """The GPU pool's ResourceFlavor and the contract's AdmissionCheck, reported Active."""
    await op.kube.ensure(gpu_flavor(op.rules))
    check = contract_check()
    await op.kube.ensure(check)
    live = await op.kube.get(KUEUE, "AdmissionCheck", CONTRACT_CHECK)
    if not holds(live or {}, "Active"):
        await op.kube.patch_status(
            KUEUE, "AdmissionCheck", CONTRACT_CHECK, contract_check_active(timestamp(utcnow()))
        )


async def ensure_queues(op: Operator, contract: DataContract) -> None:
    """The pool, the consumer organisation's ClusterQueue (open to the clean rooms of all its
    contracts) and the contract's LocalQueue in its clean room."""
    await ensure_pool(op)
    consumer = contract.spec.consumer.space
    space = await data_space(op, consumer)
    if space is None:
        raise RuntimeError(f"the consumer DataSpace {consumer} is gone or does not parse")
    clean_rooms = {clean_room_namespace(contract.metadata.name or "")} | {
        clean_room_namespace(other["metadata"]["name"])
        for other in await known_contracts_of_space(op, consumer)
        if ((other.get("spec") or {}).get("consumer") or {}).get("space") == consumer
    }
    await ensure_organisation_queue(op, space, clean_rooms)
    await op.kube.ensure(clean_room_queue(contract.metadata.name or "", consumer))


async def ensure_organisation_queue(op: Operator, space: DataSpace, clean_rooms: set[str]) -> None:
    """The organisation's ClusterQueue with the hub rules' weight and borrowing limit, applied
    when anything differs (a limit the rules lifted too: the live queue still has it)."""
    name = space.metadata.name or ""
    desired = organisation_queue(
        space,
        clean_rooms,
        weight=op.rules.fair_sharing_weight_of(name),
        borrowing_limit=op.rules.gpu_borrowing_limit_of(name),
    )
    live = await op.kube.get(KUEUE, "ClusterQueue", organisation_queue_name(name))
    if (
        live is None
        or not is_subset(comparable(desired), live)
        or gpu_borrowing_limit(live) != gpu_borrowing_limit(desired)
    ):
        await op.kube.apply(desired)


async def workload_of_job(kube: Kube, batch: Manifest) -> Manifest | None:
    """Kueue's Workload of a batch Job (the one its owner reference names), if made yet."""
    uid = batch["metadata"]["uid"]
    for workload in await kube.list(KUEUE, WORKLOAD, batch["metadata"]["namespace"]):
        if any(
            owner.get("uid") == uid for owner in workload["metadata"].get("ownerReferences") or []
        ):
            return workload
    return None


async def why_queued(op: Operator, job: TrainingJob, workload: Manifest | None) -> Decision:
    """Why a TrainingJob's Workload still waits: its contract, its organisation's quota or the
    hub's capacity."""
    contract = await op.kube.get(API_VERSION, DATA_CONTRACT, job.spec.contract)
    space = (((contract or {}).get("spec") or {}).get("consumer") or {}).get("space")
    cluster_queue = (
        await op.kube.get(KUEUE, "ClusterQueue", organisation_queue_name(space)) if space else None
    )
    usage = organisation_gpus(cluster_queue, GPU_RESOURCE)
    return waiting_reason(workload, CONTRACT_CHECK, job.spec.total_gpus, usage)


async def contract_decision(
    op: Operator, job: TrainingJob, contract: Manifest | None, recorded: list[AuditEntry]
) -> Decision:
    """The contract's answer to a job Kueue would admit now: its terms, with the GPUs of the
    contract's other admitted, unfinished jobs counted against maxConcurrentGpus."""
    if contract is not None and not contract_lets_jobs_run(contract):
        return stop_reason(contract)
    case = await admission_input(op, job, contract, recorded)
    jobs = await op.kube.list(API_VERSION, TRAINING_JOB)
    held = gpus_admitted(
        jobs, job.spec.contract, admitted_jobs(recorded), except_uid=job.metadata.uid or ""
    )
    decision = admit_training_job(
        dataclasses.replace(case, gpus_held_by_others=held, queued_ahead=0)
    )
    if decision.allowed and job.spec.output is not None:
        decision = output_size_allowed(job.spec.output.size, op.rules)
    return decision


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
            self.op.enqueue(TRAINING_JOB, job_key(metadata["namespace"], metadata["name"]))
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
        name, uid = job.spec.contract, job.metadata.uid or ""
        async with self._locks.setdefault(name, asyncio.Lock()):
            contract = await self.op.kube.get(API_VERSION, DATA_CONTRACT, name)
            recorded = (await self.op.ledger.load(name)).entries
            if uid in admitted_jobs(recorded):
                if contract_lets_jobs_run(contract):
                    return Decision.allow(
                        ADMITTED_REASON, "admitted (recorded in the audit ledger)"
                    )
                return stop_reason(contract)
            decision = await contract_decision(self.op, job, contract, recorded)
            if decision.allowed:
                key = job_key(job.metadata.namespace or "", job.metadata.name or "")
                event = admission_event(
                    name, uid, key, job.spec.total_gpus, True, decision.reason, utcnow()
                )
                await self.op.ledger.record(name, [event])
                count_admission(name, True, decision.reason)
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
                if (
                    body is not None
                    and (body.get("spec") or {}).get("contract")
                    and (clean_room_namespace(body["spec"]["contract"]) == namespace)
                ):
                    return body
        return None


async def workload_changed(name: str, namespace: str | None, memo: Operator, **_: Any) -> None:
    """A Kueue Workload changed: answer its contract check if it is a clean room's."""
    if memo.kueue and (namespace or "").startswith(CLEAN_ROOM_PREFIX):
        memo.enqueue(WORKLOAD, job_key(namespace or "", name))
