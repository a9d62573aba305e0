"""Act on a joint job's own clean room (desired/joint_room.py): open it, sealed, before the job's
workers start; take it and every provider's grant to it away when the job ends.

The room is opened fail-closed: its namespace is claimed (made for this very job, by its uid
label), its account and policies and each provider's ingress written, then read back; only once
every one is in place as built are the providers' grants written, and only then may workers
start. A contract's own reconcile removes its grant and ingress the moment it is not Active
(handlers/cleanroom.py), whatever the job does.
"""

from __future__ import annotations

import asyncio

from tds_operator.api.compare import is_subset
from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import DataSpace, space_namespace
from tds_operator.api.jobcontracts import contracts_of
from tds_operator.api.resources import Manifest
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.desired.cleanroom import joint_room_namespace
from tds_operator.desired.gateway import GATEWAY_LABEL
from tds_operator.desired.gateway_network import api_server_egress
from tds_operator.desired.grants import RBAC
from tds_operator.desired.joint_gateway import joint_endpoints, joint_gateway_names, joint_gateways
from tds_operator.desired.joint_room import (
    JOINT_ROOM_LABEL,
    JointPart,
    joint_grants,
    joint_room_children,
    joint_room_policies,
)
from tds_operator.desired.trainingjob import JOB_UID_LABEL, dataset_addresses
from tds_operator.handlers.batch_run import made_for
from tds_operator.handlers.context import Operator
from tds_operator.handlers.gateways import kill_gateway_pods, remove_gateways
from tds_operator.handlers.gather import api_server_slice, data_space, dataset_services
from tds_operator.kube import KubeError
from tds_operator.policy.decision import Decision
from tds_operator.policy.sealing import CleanRoomObservation, clean_room_sealed

NETWORK_POLICY = ("networking.k8s.io/v1", "NetworkPolicy")
PROVIDER_SIDE = ((RBAC, "RoleBinding"), (RBAC, "Role"), NETWORK_POLICY)
"""What a joint room holds in each provider's namespace, in the order it is taken away."""
JOINT_ROOM_OPEN = "JointRoomOpen"


async def joint_parts(
    op: Operator, job: TrainingJob, contracts: list[DataContract]
) -> list[JointPart] | None:
    """Each contract with its provider and where the joint room reaches its datasets (a volume
    dataset at the job's own gateway); None if a provider's space is gone (or does not parse)."""
    parts = []
    for contract in contracts:
        provider = await data_space(op, contract.spec.provider.space)
        if provider is None:
            return None
        parts.append(await _reached(op, job, contract, provider))
    return parts


async def _reached(
    op: Operator, job: TrainingJob, contract: DataContract, provider: DataSpace
) -> JointPart:
    """The contract with where the room reaches its datasets, their Services read now: the
    provider's own, and the job's gateways'."""
    services = await dataset_services(op, contract, provider)
    namespace = space_namespace(contract.spec.provider.space)
    for dataset, name in joint_gateway_names(job, contract, provider).items():
        services[dataset] = await op.kube.get("v1", "Service", name, namespace)
    return JointPart(contract, provider, joint_endpoints(job, contract, provider, services))


def _opened() -> Decision:
    return Decision.allow(JOINT_ROOM_OPEN, "the joint room is opened by the job's own reconcile")


async def open_joint_room(
    op: Operator, job: TrainingJob, body: Manifest, parts: list[JointPart]
) -> tuple[Decision, dict[str, str]]:
    """Claim and write the joint room, read its seals back, then write the providers' grants
    and the job's dataset gateways: the CleanRoomReady decision, and the address of each
    dataset the job reads."""
    children = joint_room_children(job, parts)
    room = children[0]["metadata"]["name"]
    live = await op.kube.get("v1", "Namespace", room)
    if live is None:
        try:
            live = await op.kube.create(children[0])
        except KubeError as error:
            if error.status != 409:
                raise
            live = await op.kube.get("v1", "Namespace", room)
    if not made_for(live, body) or (live or {}).get("metadata", {}).get("deletionTimestamp"):
        observed = CleanRoomObservation(room, namespace_exists=False)
        return clean_room_sealed(_opened(), observed), {}
    for child in children[1:]:
        await op.kube.ensure(child)
    missing, altered = await _policies_observed(op, job, parts)
    if not missing and not altered:
        # Only now, the room sealed: each provider's grant to it, and the job's gateways (whose
        # Services give the addresses of its volume datasets).
        for grant in joint_grants(job, parts):
            await op.kube.ensure(grant)
        api_server = await _api_server(op, job, parts)
        for part in parts:
            for gateway in joint_gateways(job, part.contract, part.provider, op.rules, api_server):
                await op.kube.ensure(gateway)
        parts = [await _reached(op, job, part.contract, part.provider) for part in parts]
    datasets = _addresses(job, parts)
    observation = CleanRoomObservation(
        namespace=room,
        namespace_exists=True,
        policies_missing=missing,
        policies_altered=altered,
        datasets_without_address=[d for d, address in datasets.items() if address is None],
    )
    decision = clean_room_sealed(_opened(), observation)
    return decision, {name: address for name, address in datasets.items() if address}


async def _api_server(op: Operator, job: TrainingJob, parts: list[JointPart]) -> list[Manifest]:
    """The egress rules to the API server the job's gateways ask (none without gateways)."""
    for part in parts:
        if joint_gateway_names(job, part.contract, part.provider):
            return api_server_egress(await api_server_slice(op, part.contract, part.provider))
    return []


async def _policies_observed(
    op: Operator, job: TrainingJob, parts: list[JointPart]
) -> tuple[list[str], list[str]]:
    """Read back every policy that seals the joint room, as a clean room's are: those missing,
    those altered."""
    policies = joint_room_policies(job, parts)
    found = await asyncio.gather(
        *(
            op.kube.get(*NETWORK_POLICY, p["metadata"]["name"], p["metadata"]["namespace"])
            for p in policies
        )
    )
    missing, altered = [], []
    for policy, live in zip(policies, found, strict=True):
        where = f"{policy['metadata']['namespace']}/{policy['metadata']['name']}"
        if live is None:
            missing.append(where)
        elif not is_subset(policy["spec"], live.get("spec")):
            altered.append(where)
    return missing, altered


def _addresses(job: TrainingJob, parts: list[JointPart]) -> dict[str, str | None]:
    """Each dataset the job reads, keyed `<provider>/<dataset>` (two providers may each name a
    dataset alike), by its address (None if it has none yet)."""
    datasets: dict[str, str | None] = {}
    for part in parts:
        provider = part.contract.spec.provider.space
        for name, address in dataset_addresses(job, part.contract, part.endpoints).items():
            datasets[f"{provider}/{name}"] = address
    return datasets


async def close_joint_room(op: Operator, body: Manifest, *, keep_room: bool = False) -> None:
    """Take every provider's grant and ingress to the job's joint room away, then the room
    itself (unless `keep_room`: an output waits in it, behind its default-deny). Only what was
    made for this very job is touched: in a provider's namespace, what one of the job's
    contracts controls; the room, if its labels carry the job's uid."""
    uid = body["metadata"].get("uid") or ""
    if not uid:
        return
    names = set(contracts_of(body.get("spec") or {}))
    selector = f"{JOINT_ROOM_LABEL}=true,{JOB_UID_LABEL}={uid}"
    gateways = f"{selector},{GATEWAY_LABEL}"

    def ours(live: Manifest) -> bool:
        return _of_contracts(live["metadata"], names)

    await kill_gateway_pods(op.kube, None, gateways, ours)
    for api_version, kind in PROVIDER_SIDE:
        for live in await op.kube.list(api_version, kind, None, selector):
            metadata = live["metadata"]
            if not ours(live) or GATEWAY_LABEL in metadata.get("labels", {}):
                continue
            await op.kube.delete(
                api_version, kind, metadata["name"], metadata["namespace"], uid=metadata["uid"]
            )
    await remove_gateways(op.kube, None, gateways, ours)
    if keep_room:
        return
    room = joint_room_namespace(uid)
    namespace = await op.kube.get("v1", "Namespace", room)
    if namespace is None or not made_for(namespace, body):
        return
    if not namespace["metadata"].get("deletionTimestamp"):
        await op.kube.delete("v1", "Namespace", room, uid=namespace["metadata"]["uid"])


def _of_contracts(metadata: Manifest, names: set[str]) -> bool:
    """Whether an object's controller is one of these DataContracts."""
    return any(
        ref.get("kind") == "DataContract" and ref.get("controller") and ref.get("name") in names
        for ref in metadata.get("ownerReferences") or []
    )
