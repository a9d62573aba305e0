"""The joint clean room of one TrainingJob that trains on several providers' data together.

A joint job runs in a namespace of its own, `tds-jr-<job uid>`, never in one of its contracts'
clean rooms (whose identity that contract's grant alone authorises). It carries the same seals
as a contract's clean room: Pod Security `restricted`, no resolver, default-deny both ways, its
workers may reach each other and each contract's dataset endpoints (Services and gateways) and
nothing else (no contract's `egress` entries: one provider's open door would let another's data
out), no consumer RBAC, and its own worker ServiceAccount, which no single contract's jobs share.

Access is per provider: in each provider's namespace, a Role granting `get` on THAT contract's
datasets (those the job reads) bound to the joint room's ServiceAccount, and a NetworkPolicy
admitting the joint room to the dataset pods. Both are controlled by that contract and labelled
with it, so the contract's own reconcile takes them away the moment it is not Active, whatever
the job does; the job's end takes them away too.

The namespace is controlled by the job's first contract (a namespaced TrainingJob cannot own
it), what is in it by nobody: they are the job's by their labels, its uid among them.
Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tds_operator import GROUP
from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import DataSpace, space_namespace
from tds_operator.api.resources import Manifest
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.desired.cleanroom import (
    CLEAN_ROOM_LABEL,
    DATASETS_POLICY,
    WORKER_SERVICE_ACCOUNT,
    WORKERS_POLICY,
    DatasetEndpoint,
    contract_owner,
    joint_room_namespace,
)
from tds_operator.desired.grants import DATASET_READ_VERB, DATASET_RESOURCE, RBAC, granted_datasets
from tds_operator.desired.isolation import (
    CONTAINER_DEFAULT_LIMIT,
    CONTAINER_DEFAULT_REQUEST,
    DEFAULT_DENY_POLICY,
    GPU_RESOURCE,
    LIMIT_RANGE,
    QUOTA,
    default_deny_spec,
    namespace_selector,
    same_namespace_spec,
)
from tds_operator.desired.labels import (
    CONTRACT_LABEL,
    RESTRICTED_POD_SECURITY,
    managed_labels,
)
from tds_operator.desired.trainingjob import (
    JOB_NAME_LABEL,
    JOB_NAMESPACE_LABEL,
    JOB_UID_LABEL,
    joint_annotations,
)

JOINT_ROOM_LABEL = "tds.io/joint-room"
"""On the joint room and on every object made for it, also in the providers' namespaces."""
JOINT_GRANT_PREFIX = "tds-joint-"
JOINT_INGRESS_PREFIX = "tds-allow-tds-jr-"


@dataclass(frozen=True)
class JointPart:
    """One contract of a joint job: the contract, its provider's space, and where the joint
    room reaches each of its datasets served over the network (Services and gateways)."""

    contract: DataContract
    provider: DataSpace
    endpoints: dict[str, DatasetEndpoint]


def joint_grant_name(job_uid: str) -> str:
    """The Role and RoleBinding in each provider's namespace."""
    return f"{JOINT_GRANT_PREFIX}{job_uid}"[:63].rstrip("-")


def joint_ingress_name(job_uid: str) -> str:
    """The NetworkPolicy in each provider's namespace that admits the joint room."""
    return f"{JOINT_INGRESS_PREFIX}{job_uid}"[:63].rstrip("-")


def joint_worker_identity(job_uid: str) -> str:
    """The user name the API server knows the joint room's workers by."""
    return f"system:serviceaccount:{joint_room_namespace(job_uid)}:{WORKER_SERVICE_ACCOUNT}"


def joint_labels(job: TrainingJob, **extra: str) -> dict[str, str]:
    """The labels of everything made for a joint job's room."""
    return managed_labels(
        **{
            JOINT_ROOM_LABEL: "true",
            JOB_NAMESPACE_LABEL: job.metadata.namespace or "",
            JOB_NAME_LABEL: job.metadata.name or "",
            JOB_UID_LABEL: job.metadata.uid or "",
            **extra,
        }
    )


def _inside(job: TrainingJob, kind: str, name: str, api_version: str = "v1") -> Manifest:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": joint_room_namespace(job.metadata.uid or ""),
            "labels": joint_labels(job),
        },
    }


def _policy(job: TrainingJob, name: str, spec: Manifest) -> Manifest:
    return {**_inside(job, "NetworkPolicy", name, "networking.k8s.io/v1"), "spec": spec}


def _dataset_egress(parts: Sequence[JointPart]) -> list[Manifest]:
    rules = []
    for part in parts:
        provider_namespace = space_namespace(part.contract.spec.provider.space)
        for dataset in sorted(part.endpoints):
            endpoint = part.endpoints[dataset]
            peer: Manifest = {"namespaceSelector": namespace_selector(provider_namespace)}
            if endpoint.pod_labels:
                peer["podSelector"] = {"matchLabels": dict(sorted(endpoint.pod_labels.items()))}
            rules.append({"to": [peer], "ports": [{"protocol": "TCP", "port": endpoint.port}]})
    return rules


def joint_room_policies(job: TrainingJob, parts: Sequence[JointPart]) -> list[Manifest]:
    """The NetworkPolicies that seal the joint room, each provider's ingress policy among them:
    workers start only once each is in place as built here."""
    policies = [
        _policy(job, DEFAULT_DENY_POLICY, default_deny_spec()),
        _policy(job, WORKERS_POLICY, same_namespace_spec()),
    ]
    egress = _dataset_egress(parts)
    if egress:
        spec = {"podSelector": {}, "policyTypes": ["Egress"], "egress": egress}
        policies.append(_policy(job, DATASETS_POLICY, spec))
    policies += [ingress for part in parts if (ingress := provider_ingress(job, part)) is not None]
    return policies


def joint_room_children(job: TrainingJob, parts: Sequence[JointPart]) -> list[Manifest]:
    """Everything the joint room consists of, namespace first, then its worker account, its
    policies (the providers' ingress among them), quota and defaults. The grants come apart
    (joint_grants): nothing may read a dataset before the room is sealed."""
    uid = job.metadata.uid or ""
    first = contract_owner(parts[0].contract)
    labels = joint_labels(job, **{CLEAN_ROOM_LABEL: "true", CONTRACT_LABEL: first.name})
    namespace: Manifest = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": joint_room_namespace(uid),
            "labels": {**labels, **RESTRICTED_POD_SECURITY},
            # Its contracts, so that the orphan sweep finds an emptied room's job by them.
            **joint_annotations(job),
            # A namespaced TrainingJob cannot own it: its first contract does, as the operator's
            # confinement wants of every namespace it makes (its deletion takes the room too).
            "ownerReferences": first.metadata("")["ownerReferences"],
        },
    }
    account = {**_inside(job, "ServiceAccount", WORKER_SERVICE_ACCOUNT)}
    account["automountServiceAccountToken"] = False
    quota = _inside(job, "ResourceQuota", QUOTA)
    quota["spec"] = {"hard": {f"requests.{GPU_RESOURCE}": str(job.spec.total_gpus)}}
    defaults = _inside(job, "LimitRange", LIMIT_RANGE)
    defaults["spec"] = {
        "limits": [
            {
                "type": "Container",
                "defaultRequest": dict(CONTAINER_DEFAULT_REQUEST),
                "default": dict(CONTAINER_DEFAULT_LIMIT),
            }
        ]
    }
    return [namespace, account, *joint_room_policies(job, parts), quota, defaults]


def provider_metadata(job: TrainingJob, contract: DataContract, name: str) -> Manifest:
    """Metadata of an object in a provider's namespace: controlled by the contract (so it goes
    with the contract), labelled with it (so its reconcile finds it) and with the job."""
    owner = contract_owner(contract)
    metadata = owner.metadata(name, space_namespace(contract.spec.provider.space))
    metadata["labels"] = joint_labels(job, **{CONTRACT_LABEL: owner.name})
    return metadata


def provider_ingress(job: TrainingJob, part: JointPart) -> Manifest | None:
    """In the provider's namespace: its dataset pods (and gateways) accept the joint room on
    their ports; None if the contract has no dataset served over the network."""
    if not part.endpoints:
        return None
    ports = sorted({endpoint.port for endpoint in part.endpoints.values()})
    room = joint_room_namespace(job.metadata.uid or "")
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": provider_metadata(
            job, part.contract, joint_ingress_name(job.metadata.uid or "")
        ),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"namespaceSelector": namespace_selector(room)}],
                    "ports": [{"protocol": "TCP", "port": port} for port in ports],
                }
            ],
        },
    }


def joint_datasets(job: TrainingJob, contract: DataContract, provider: DataSpace) -> list[str]:
    """The datasets of this contract the joint job may read: those the provider offers (core
    data never) and the job reads (all of the contract's if it names none)."""
    offered = granted_datasets(contract, provider)
    if job.spec.datasets is None:
        return offered
    return [name for name in offered if name in job.spec.datasets]


def joint_grant(job: TrainingJob, part: JointPart) -> list[Manifest]:
    """The Role granting `get` on this contract's datasets the job reads, in its provider's
    namespace, and its binding to the joint room's ServiceAccount. No datasets, no grant: a
    rule without resourceNames would grant every dataset of the provider."""
    datasets = joint_datasets(job, part.contract, part.provider)
    if not datasets:
        return []
    uid = job.metadata.uid or ""
    name = joint_grant_name(uid)
    role = {
        "apiVersion": RBAC,
        "kind": "Role",
        "metadata": provider_metadata(job, part.contract, name),
        "rules": [
            {
                "apiGroups": [GROUP],
                "resources": [DATASET_RESOURCE],
                "verbs": [DATASET_READ_VERB],
                "resourceNames": datasets,
            }
        ],
    }
    binding = {
        "apiVersion": RBAC,
        "kind": "RoleBinding",
        "metadata": provider_metadata(job, part.contract, name),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [
            {
                "kind": "ServiceAccount",
                "name": WORKER_SERVICE_ACCOUNT,
                "namespace": joint_room_namespace(uid),
            }
        ],
    }
    return [role, binding]


def joint_grants(job: TrainingJob, parts: Sequence[JointPart]) -> list[Manifest]:
    """Every provider's grant to the joint room, each for that provider's contract only."""
    return [grant for part in parts for grant in joint_grant(job, part)]
