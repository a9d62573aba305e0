"""What a clean room must no longer hold: the batch Jobs, pods, Services and output claims of
TrainingJobs that are gone (their finalizer removed by a path the operator did not take). Pure.

An object belongs to the TrainingJob whose uid it is labelled with; one made before objects
carried the uid belongs to the job of its namespace and name labels. Only objects in their
contract's clean room (a joint job's: in its own room, named after its uid) count: nobody but
the operator writes there, while labels elsewhere are anybody's to set. A joint room emptied of
them (its job waited for a dataset's address, or its output went) is found by its namespace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tds_operator.api.resources import Manifest
from tds_operator.desired.cleanroom import clean_room_namespace, joint_room_namespace
from tds_operator.desired.isolation import GPU_RESOURCE
from tds_operator.desired.labels import CONTRACT_LABEL
from tds_operator.desired.trainingjob import (
    CONTRACTS_ANNOTATION,
    JOB_NAME_LABEL,
    JOB_NAMESPACE_LABEL,
    JOB_UID_LABEL,
)


@dataclass(frozen=True, order=True)
class Orphan:
    """A gone TrainingJob whose objects are still in its contract's clean room; `uid` is empty
    for objects made before they carried it."""

    contract: str
    namespace: str
    name: str
    uid: str
    contracts: tuple[str, ...] = ()
    """A joint job's contracts (its first is `contract`); empty for a job of one contract."""

    def body(self) -> Manifest:
        """A stand-in for the gone TrainingJob, enough to find and end what it left: the
        objects made for it (by uid; without one, by name, whatever their age)."""
        spec: Manifest = (
            {"contracts": list(self.contracts)} if self.contracts else {"contract": self.contract}
        )
        return {
            "metadata": {"namespace": self.namespace, "name": self.name, "uid": self.uid},
            "spec": spec,
        }


def owner_of(live: Mapping[str, Any]) -> Orphan | None:
    """The TrainingJob a clean-room object was made for, as its labels say; None for an object
    that is not in its contract's clean room or does not say."""
    metadata = live.get("metadata") or {}
    labels = metadata.get("labels") or {}
    contract = labels.get(CONTRACT_LABEL)
    namespace, name = labels.get(JOB_NAMESPACE_LABEL), labels.get(JOB_NAME_LABEL)
    if not (contract and namespace and name):
        return None
    uid = labels.get(JOB_UID_LABEL, "")
    annotation = str((metadata.get("annotations") or {}).get(CONTRACTS_ANNOTATION) or "")
    contracts = tuple(name for name in annotation.split(",") if name)
    if len(contracts) > 1 and uid and _of_room(metadata, uid, contracts[0]):
        # In a joint job's own room, which it names by its uid, or that room itself.
        return Orphan(contracts[0], namespace, name, uid, contracts)
    if metadata.get("namespace") != clean_room_namespace(contract):
        return None
    return Orphan(contract, namespace, name, uid)


def _of_room(metadata: Mapping[str, Any], uid: str, first: str) -> bool:
    """Whether an object lies in the joint room named by `uid`, or is that room's namespace,
    controlled by the job's first contract (an emptied room holds nothing else to find)."""
    room = joint_room_namespace(uid)
    if metadata.get("namespace") == room:
        return True
    controllers = [r for r in metadata.get("ownerReferences") or [] if r.get("controller")]
    return (
        "namespace" not in metadata
        and metadata.get("name") == room
        and [(r.get("kind"), r.get("name")) for r in controllers] == [("DataContract", first)]
    )


def orphans_of(
    objects: Iterable[Mapping[str, Any]], live_jobs: Iterable[Mapping[str, Any]]
) -> list[Orphan]:
    """The gone TrainingJobs whose `objects` are left: those whose uid no live job has (or,
    without a uid, whose namespace and name no live job has)."""
    uids, keys = set(), set()
    for job in live_jobs:
        metadata = job.get("metadata") or {}
        uids.add(metadata.get("uid"))
        keys.add((metadata.get("namespace"), metadata.get("name")))
    found = set()
    for live in objects:
        owner = owner_of(live)
        if owner is None:
            continue
        gone = owner.uid not in uids if owner.uid else (owner.namespace, owner.name) not in keys
        if gone:
            found.add(owner)
    return sorted(found)


def gpus_per_worker(pods: Iterable[Mapping[str, Any]]) -> int:
    """The GPUs each worker pod asked for (its containers' GPU limits), as its pods show it."""
    for pod in pods:
        total = 0
        for container in (pod.get("spec") or {}).get("containers") or []:
            limits = (container.get("resources") or {}).get("limits") or {}
            total += int(str(limits.get(GPU_RESOURCE, 0)))
        if total:
            return total
    return 0
