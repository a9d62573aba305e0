"""The ClusterRoles that RoleBindings in a space refer to: what owners and members may do there.

Owners administer what they run but not the space's guard rails: NetworkPolicies, quota, limit
ranges and role bindings are the operator's, so owners can read them and nothing more. Nor do they
write Endpoints: the cluster keeps a Service's endpoints from its selector, and hand-written ones
point a Service at any address (the reason Kubernetes' own `edit` role dropped them). What owners
may write but not everything inside it (Services, claims, pods) is refused by the spaces'
admission policies (desired/admission.py). Members read, and do not see Secrets. Both read the
space's Contracts, the operator's copies of the contracts it is party to (desired/mirror.py).
"""

from __future__ import annotations

from tds_operator import GROUP
from tds_operator.api.resources import Manifest
from tds_operator.desired.labels import managed_labels

OWNER_ROLE = "tds-space-owner"
MEMBER_ROLE = "tds-space-member"
PARTICIPANT_ROLE = "tds-participant"
OBSERVER_ROLE = "tds-observer"
GATEWAY_ROLE = "tds-dataset-gateway"

READ = ["get", "list", "watch"]
WRITE = [*READ, "create", "update", "patch", "delete", "deletecollection"]

_RUNNABLE_CORE = ["pods", "services", "configmaps", "persistentvolumeclaims", "serviceaccounts"]
_RUNNABLE_APPS = ["deployments", "statefulsets", "replicasets", "daemonsets"]
_RUNNABLE_BATCH = ["jobs", "cronjobs"]
_GUARD_RAILS = [
    ("", ["resourcequotas", "limitranges"]),
    ("networking.k8s.io", ["networkpolicies"]),
    ("rbac.authorization.k8s.io", ["rolebindings", "roles"]),
]


def _rule(group: str, resources: list[str], verbs: list[str]) -> dict[str, list[str]]:
    return {"apiGroups": [group], "resources": resources, "verbs": verbs}


def _cluster_role(name: str, rules: list[dict[str, list[str]]]) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": managed_labels()},
        "rules": rules,
    }


def space_owner_role() -> Manifest:
    """What an owner may do inside their own space (bound there by a RoleBinding)."""
    return _cluster_role(
        OWNER_ROLE,
        [
            _rule("", [*_RUNNABLE_CORE, "secrets"], WRITE),
            _rule("", ["endpoints", "pods/log", "pods/status", "events"], READ),
            _rule("", ["pods/exec", "pods/attach", "pods/portforward"], ["create", "get"]),
            _rule("apps", _RUNNABLE_APPS, WRITE),
            _rule("batch", _RUNNABLE_BATCH, WRITE),
            _rule(GROUP, ["trainingjobs", "modelreleases", "contractproposals"], WRITE),
            _rule(
                GROUP,
                [
                    "trainingjobs/status",
                    "modelreleases/status",
                    "contracts",
                    "contractproposals/status",
                ],
                READ,
            ),
            *(_rule(group, resources, READ) for group, resources in _GUARD_RAILS),
        ],
    )


def space_member_role() -> Manifest:
    """What a member may do inside the space: read, Secrets excepted."""
    return _cluster_role(
        MEMBER_ROLE,
        [
            _rule("", [*_RUNNABLE_CORE, "endpoints", "pods/log", "events"], READ),
            _rule("apps", _RUNNABLE_APPS, READ),
            _rule("batch", _RUNNABLE_BATCH, READ),
            _rule(
                GROUP,
                [
                    "trainingjobs",
                    "trainingjobs/status",
                    "modelreleases",
                    "modelreleases/status",
                    "contracts",
                    "contractproposals",
                    "contractproposals/status",
                ],
                READ,
            ),
            *(_rule(group, resources, READ) for group, resources in _GUARD_RAILS),
        ],
    )


def participant_role() -> Manifest:
    """What an owner may do at cluster scope: read the catalogue and propose contracts.

    Reading, signing and revoking a contract takes its own grant by name (`contract_rules`): RBAC
    cannot filter a list, so nobody but the hub's staff lists contracts.
    """
    return _cluster_role(
        PARTICIPANT_ROLE,
        [
            _rule(GROUP, ["dataspaces"], READ),
            _rule(GROUP, ["datacontracts"], ["create"]),
        ],
    )


def observer_role() -> Manifest:
    """What a member may see at cluster scope: the catalogue of spaces."""
    return _cluster_role(OBSERVER_ROLE, [_rule(GROUP, ["dataspaces"], READ)])


CONTRACT_OWNER_VERBS = ["get", "list", "watch", "patch"]
"""What a party's owners may do to the contracts of their space: read them, sign and revoke
(a PATCH, as `kubectl patch`, `kubectl apply` and `kubectl edit` send); never delete them."""
CONTRACT_MEMBER_VERBS = READ
"""What a party's members may do to the contracts of their space: read them."""


def contract_rules(contracts: list[str], verbs: list[str]) -> list[dict[str, list[str]]]:
    """Rules granting `verbs` on exactly these contracts, by name (`list` and `watch` only with a
    `metadata.name` field selector, as `kubectl get dc <name> --watch` sends).

    No contracts, no rule: a rule with no resourceNames would grant every contract.
    """
    if not contracts:
        return []
    return [{**_rule(GROUP, ["datacontracts"], verbs), "resourceNames": sorted(set(contracts))}]


def gateway_role() -> Manifest:
    """What a dataset gateway's account may do: ask TokenReviews, nothing else.

    Its proxy authorizes each request from its own configuration (desired/gateway.py), so the
    account needs no SubjectAccessReviews: a token the provider mints for it (the provider
    administers the namespace it runs in) asks the API server nothing about anyone.
    """
    return _cluster_role(
        GATEWAY_ROLE, [_rule("authentication.k8s.io", ["tokenreviews"], ["create"])]
    )


def space_roles() -> list[Manifest]:
    """Every ClusterRole that spaces bind, and the one their dataset gateways are bound to."""
    return [
        space_owner_role(),
        space_member_role(),
        participant_role(),
        observer_role(),
        gateway_role(),
    ]
