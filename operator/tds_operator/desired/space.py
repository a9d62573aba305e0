"""What a DataSpace must have: its namespace and the guard rails and access inside it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tds_operator import GROUP
from tds_operator.api.dataspace import DataSpace, space_namespace
from tds_operator.api.resources import Manifest
from tds_operator.api.subject import Subject
from tds_operator.desired.isolation import (
    DEFAULT_DENY_POLICY,
    DNS_POLICY,
    GPU_RESOURCE,
    Owner,
    isolation_policies,
    limit_range,
    namespace_manifest,
    resource_quota,
)
from tds_operator.desired.labels import SPACE_LABEL
from tds_operator.desired.rbac import (
    CONTRACT_MEMBER_VERBS,
    CONTRACT_OWNER_VERBS,
    MEMBER_ROLE,
    OBSERVER_ROLE,
    OWNER_ROLE,
    PARTICIPANT_ROLE,
    contract_rules,
)

__all__ = [
    # The policies every isolated namespace has, named here too for readers of a space.
    "DEFAULT_DENY_POLICY",
    "DNS_POLICY",
    "MEMBERS_BINDING",
    "OWNERS_BINDING",
    "SAME_SPACE_POLICY",
    "space_children",
    "space_cluster_role_bindings",
    "space_contract_roles",
    "space_ledger_access",
    "space_limit_range",
    "space_namespace_manifest",
    "space_network_policies",
    "space_resource_quota",
    "space_role_bindings",
]

SAME_SPACE_POLICY = "tds-allow-same-space"
OWNERS_BINDING = "tds-owners"
MEMBERS_BINDING = "tds-members"


def _owner(space: DataSpace) -> Owner:
    return Owner("DataSpace", space.metadata.name or "", space.metadata.uid or "", SPACE_LABEL)


def space_namespace_manifest(space: DataSpace) -> Manifest:
    """The space's namespace, under Pod Security `restricted`."""
    return namespace_manifest(_owner(space), space_namespace(space.metadata.name or ""))


def space_network_policies(space: DataSpace) -> list[Manifest]:
    """Default-deny in both directions, then DNS and traffic inside the space allowed."""
    return isolation_policies(_owner(space), space.namespace_name, SAME_SPACE_POLICY)


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
    return resource_quota(_owner(space), space.namespace_name, hard)


def space_limit_range(space: DataSpace) -> Manifest:
    """Default container requests and limits, so pods that state none are still admitted."""
    return limit_range(_owner(space), space.namespace_name)


def _binding(
    space: DataSpace, kind: str, name: str, role: str, subjects: list[Subject]
) -> Manifest:
    """A RoleBinding in the space's namespace, or a ClusterRoleBinding, to a ClusterRole."""
    namespace = space.namespace_name if kind == "RoleBinding" else None
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": _owner(space).metadata(name, namespace),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": _subjects(subjects),
    }


def space_role_bindings(space: DataSpace) -> list[Manifest]:
    """Owners administer the space, members read it; no binding for an empty list of members."""
    bindings = [_binding(space, "RoleBinding", OWNERS_BINDING, OWNER_ROLE, space.spec.owners)]
    if space.spec.members:
        bindings.append(
            _binding(space, "RoleBinding", MEMBERS_BINDING, MEMBER_ROLE, space.spec.members)
        )
    return bindings


def _prefix(space: DataSpace) -> str:
    return f"tds-space-{space.metadata.name or ''}"


def contract_owners_role(space: str) -> str:
    """The ClusterRole (and its binding) through which a space's owners reach its contracts."""
    return f"tds-space-{space}-contract-owners"


def contract_members_role(space: str) -> str:
    """The ClusterRole (and its binding) through which a space's members read its contracts."""
    return f"tds-space-{space}-contract-members"


def space_contract_roles(space: DataSpace, contracts: Sequence[str]) -> list[Manifest]:
    """The contracts the space is party to, by name: owners read, sign and revoke them, members
    read them. Nobody else reads them (the catalogue of spaces stays public). Owners also patch
    their own space, for its signing keys."""
    name = space.metadata.name or ""
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _owner(space).metadata(role, None),
            "rules": contract_rules(list(contracts), verbs) + extra,
        }
        for role, verbs, extra in (
            (contract_owners_role(name), CONTRACT_OWNER_VERBS, [own_space_rule(name)]),
            (contract_members_role(name), CONTRACT_MEMBER_VERBS, []),
        )
    ]


def own_space_rule(space: str) -> dict[str, Any]:
    """Owners patch their own DataSpace, by name, to register signing keys (the admission webhook
    lets them change nothing else of it)."""
    return {
        "apiGroups": [GROUP],
        "resources": ["dataspaces"],
        "verbs": ["patch"],
        "resourceNames": [space],
    }


def ledger_readers(space: str) -> str:
    """The Role (and its binding), in the operator's namespace, through which a space's owners
    read the ledgers of its contracts."""
    return f"tds-space-{space}-ledger-readers"


def space_ledger_access(space: DataSpace, pages: Sequence[str], namespace: str) -> list[Manifest]:
    """The owners read the ledger pages of the space's contracts, by name, in the operator's
    namespace `namespace`: they check their evidence themselves, and see no other ledger, the
    signing key, or anything else there. No pages, no rule (none would grant every ConfigMap)."""
    name = ledger_readers(space.metadata.name or "")
    rules = (
        [
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "verbs": ["get"],
                "resourceNames": sorted(set(pages)),
            }
        ]
        if pages
        else []
    )
    rbac = "rbac.authorization.k8s.io"
    return [
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "Role",
            "metadata": _owner(space).metadata(name, namespace),
            "rules": rules,
        },
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "RoleBinding",
            "metadata": _owner(space).metadata(name, namespace),
            "roleRef": {"apiGroup": rbac, "kind": "Role", "name": name},
            "subjects": _subjects(space.spec.owners),
        },
    ]


def space_cluster_role_bindings(space: DataSpace) -> list[Manifest]:
    """Owners take part in the data space (catalogue, proposals, their contracts); members see
    the catalogue and their contracts."""
    prefix, name, kind = _prefix(space), space.metadata.name or "", "ClusterRoleBinding"
    owners, members = space.spec.owners, space.spec.members
    bindings = [
        _binding(space, kind, f"{prefix}-owners", PARTICIPANT_ROLE, owners),
        _binding(space, kind, contract_owners_role(name), contract_owners_role(name), owners),
    ]
    if members:
        bindings += [
            _binding(space, kind, f"{prefix}-members", OBSERVER_ROLE, members),
            _binding(
                space, kind, contract_members_role(name), contract_members_role(name), members
            ),
        ]
    return bindings


def _subjects(subjects: list[Subject]) -> list[Manifest]:
    return [
        {"kind": s.kind, "name": s.name, "apiGroup": "rbac.authorization.k8s.io"} for s in subjects
    ]


def space_children(space: DataSpace, contracts: Sequence[str] = ()) -> list[Manifest]:
    """Everything a DataSpace owns, namespace first; `contracts` are those it is party to."""
    return [
        space_namespace_manifest(space),
        *space_network_policies(space),
        space_resource_quota(space),
        space_limit_range(space),
        *space_role_bindings(space),
        *space_contract_roles(space, contracts),
        *space_cluster_role_bindings(space),
    ]
