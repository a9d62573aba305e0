"""Kueue, when the cluster runs it (TDS_KUEUE): the queue tree the operator keeps, and where a
queued TrainingJob's Workload stands.

The queue tree (desired/queues.py): the GPU pool's ResourceFlavor and the AdmissionCheck
`tds-contract` once, a ClusterQueue per consumer organisation and a LocalQueue per clean room once
a contract of theirs is Active (and again as their jobs start). The contract check itself, which
answers each clean-room Workload's `tds-contract` check, is handlers/trainingjob/kueue_check.py.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from tds_operator import API_VERSION
from tds_operator.api.compare import comparable, is_subset
from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import DataSpace, space_namespace
from tds_operator.api.jobcontracts import contracts_of
from tds_operator.api.resources import (
    DATA_CONTRACT,
    KUEUE,
    KUEUE_WORKLOAD_CRD,
    TRAINING_JOB,
    Manifest,
)
from tds_operator.api.trainingjob import FINISHED_PHASES, TrainingJob
from tds_operator.config import KueueMode
from tds_operator.desired.cleanroom import (
    CLEAN_ROOM_PREFIX,
    JOINT_ROOM_PREFIX,
    clean_room_namespace,
    joint_room_namespace,
)
from tds_operator.desired.isolation import GPU_RESOURCE
from tds_operator.desired.queues import (
    CONTRACT_CHECK,
    contract_check,
    contract_check_active,
    gpu_borrowing_limit,
    gpu_flavor,
    organisation_queue,
    organisation_queue_name,
    room_queue,
)
from tds_operator.handlers.context import Operator, utcnow
from tds_operator.handlers.gather import data_space, known_contracts_of_space
from tds_operator.handlers.queue import queue_key
from tds_operator.kube import Kube
from tds_operator.policy.admissioncheck import (
    holds,
    organisation_gpus,
    waiting_reason,
)
from tds_operator.policy.conditions import timestamp
from tds_operator.policy.decision import Decision

logger = logging.getLogger(__name__)

WORKLOAD = "Workload"
"""The reconcile queue of the contract check, keyed by a Workload's namespace/name."""


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


async def ensure_queues(op: Operator, contract: DataContract, room: str | None = None) -> None:
    """The pool, the consumer organisation's ClusterQueue (open to the clean rooms of all its
    contracts and the rooms of its joint jobs) and the LocalQueue in the contract's clean room
    (in `room` instead, a joint job's own, if given)."""
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
    clean_rooms |= await joint_rooms_of(op, space_namespace(consumer))
    if room is not None:
        clean_rooms.add(room)
    await ensure_organisation_queue(op, space, clean_rooms)
    await op.kube.ensure(
        room_queue(room or clean_room_namespace(contract.metadata.name or ""), consumer)
    )


async def joint_rooms_of(op: Operator, namespace: str) -> set[str]:
    """The rooms of the joint jobs in a consumer's namespace that have not finished."""
    rooms = set()
    for job in await op.kube.list(API_VERSION, TRAINING_JOB, namespace):
        spec, status = job.get("spec") or {}, job.get("status") or {}
        if len(contracts_of(spec)) > 1 and status.get("phase") not in FINISHED_PHASES:
            rooms.add(joint_room_namespace(job["metadata"].get("uid") or ""))
    return rooms


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


async def workload_changed(name: str, namespace: str | None, memo: Operator, **_: Any) -> None:
    """A Kueue Workload changed: answer its contract check if it is a clean room's (a joint
    job's own room among them)."""
    if memo.kueue and (namespace or "").startswith((CLEAN_ROOM_PREFIX, JOINT_ROOM_PREFIX)):
        memo.enqueue(WORKLOAD, queue_key(namespace or "", name))
