"""What a DataSpace must have: its namespace and the guard rails and access inside it."""

from __future__ import annotations

from tds_operator.api.common import Subject
from tds_operator.api.dataspace import DataSpace, space_namespace
from tds_operator.desired.labels import (
    RESTRICTED_POD_SECURITY,
    SPACE_LABEL,
    Manifest,
    managed_labels,
    owner_reference,
)
from tds_operator.desired.network import default_deny_spec, dns_egress_spec, same_namespace_spec
from tds_operator.desired.rbac import MEMBER_ROLE, OBSERVER_ROLE, OWNER_ROLE, PARTICIPANT_ROLE

GPU_RESOURCE = "nvidia.com/gpu"
DEFAULT_DENY_POLICY = "tds-default-deny"
DNS_POLICY = "tds-allow-dns"
SAME_SPACE_POLICY = "tds-allow-same-space"
QUOTA = "tds-quota"
LIMIT_RANGE = "tds-defaults"
OWNERS_BINDING = "tds-owners"
MEMBERS_BINDING = "tds-members"

# Containers that state no resources still get these, so that a quota on requests and limits does
# not reject them.
CONTAINER_DEFAULT_REQUEST = {"cpu": "100m", "memory": "128Mi"}
CONTAINER_DEFAULT_LIMIT = {"cpu": "1", "memory": "1Gi"}


def _metadata(space: DataSpace, name: str, namespace: str | None = None) -> Manifest:
    space_name = space.metadata.name or ""
    metadata: Manifest = {
        "name": name,
        "labels": managed_labels(**{SPACE_LABEL: space_name}),
        "ownerReferences": [owner_reference("DataSpace", space_name, space.metadata.uid or "")],
    }
    if namespace is not None:
        metadata["namespace"] = namespace
    return metadata


def space_namespace_manifest(space: DataSpace) -> Manifest:
    """The space's namespace, under Pod Security `restricted`."""
    name = space_namespace(space.metadata.name or "")
    metadata = _metadata(space, name)
    metadata["labels"].update(RESTRICTED_POD_SECURITY)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


def _network_policy(space: DataSpace, name: str, spec: Manifest) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(space, name, space.namespace_name),
        "spec": spec,
    }


def space_network_policies(space: DataSpace) -> list[Manifest]:
    """Default-deny in both directions, then DNS and traffic inside the space allowed."""
    return [
        _network_policy(space, DEFAULT_DENY_POLICY, default_deny_spec()),
        _network_policy(space, DNS_POLICY, dns_egress_spec()),
        _network_policy(space, SAME_SPACE_POLICY, same_namespace_spec()),
    ]


def space_resource_quota(space: DataSpace) -> Manifest:
    """The space's CPU, memory, GPU and pod quota."""
    quota = space.spec.quota
    hard = {
        "requests.cpu": str(quota.cpu),
        "limits.cpu": str(quota.cpu),
        "requests.memory": str(quota.memory),
        "limits.memory": str(quota.memory),
        f"requests.{GPU_RESOURCE}": str(quota.gpu),
        "pods": str(quota.pods),
    }
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _metadata(space, QUOTA, space.namespace_name),
        "spec": {"hard": hard},
    }


def space_limit_range(space: DataSpace) -> Manifest:
    """Default container requests and limits, so pods that state none are still admitted."""
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _metadata(space, LIMIT_RANGE, space.namespace_name),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "defaultRequest": dict(CONTAINER_DEFAULT_REQUEST),
                    "default": dict(CONTAINER_DEFAULT_LIMIT),
                }
            ]
        },
    }


def _role_binding(space: DataSpace, name: str, role: str, subjects: list[Manifest]) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _metadata(space, name, space.namespace_name),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    }


def space_role_bindings(space: DataSpace) -> list[Manifest]:
    """Owners administer the space, members read it; no binding for an empty list of members."""
    bindings = [_role_binding(space, OWNERS_BINDING, OWNER_ROLE, _subjects(space.spec.owners))]
    if space.spec.members:
        bindings.append(
            _role_binding(space, MEMBERS_BINDING, MEMBER_ROLE, _subjects(space.spec.members))
        )
    return bindings


def space_cluster_role_bindings(space: DataSpace) -> list[Manifest]:
    """Owners take part in the data space (catalogue, contracts); members observe it."""
    name = space.metadata.name or ""
    bindings = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _metadata(space, f"tds-space-{name}-owners"),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": PARTICIPANT_ROLE,
            },
            "subjects": _subjects(space.spec.owners),
        }
    ]
    if space.spec.members:
        bindings.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": _metadata(space, f"tds-space-{name}-members"),
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": OBSERVER_ROLE,
                },
                "subjects": _subjects(space.spec.members),
            }
        )
    return bindings


def _subjects(subjects: list[Subject]) -> list[Manifest]:
    return [
        {"kind": s.kind, "name": s.name, "apiGroup": "rbac.authorization.k8s.io"} for s in subjects
    ]


def space_children(space: DataSpace) -> list[Manifest]:
    """Everything a DataSpace owns, namespace first."""
    return [
        space_namespace_manifest(space),
        *space_network_policies(space),
        space_resource_quota(space),
        space_limit_range(space),
        *space_role_bindings(space),
        *space_cluster_role_bindings(space),
    ]
