"""A DataSpace's children: isolation, quota, access, all derived from the spec alone."""

from __future__ import annotations

from typing import Any

import pytest

from tds_operator.api.dataspace import DataSpace
from tds_operator.desired.rbac import (
    MEMBER_ROLE,
    OWNER_ROLE,
    observer_role,
    participant_role,
    space_member_role,
    space_owner_role,
)
from tds_operator.desired.space import (
    DEFAULT_DENY_POLICY,
    DNS_POLICY,
    SAME_SPACE_POLICY,
    space_children,
    space_ledger_access,
)

pytestmark = pytest.mark.unit


def a_space(**spec: Any) -> DataSpace:
    body = {
        "apiVersion": "tds.io/v1alpha1",
        "kind": "DataSpace",
        "metadata": {"name": "sgcc", "uid": "uid-1", "generation": 1},
        "spec": {
            "organization": "State Grid",
            "owners": [{"kind": "Group", "name": "sgcc-admins"}],
            "members": [{"kind": "User", "name": "li.wei"}],
            "quota": {"cpu": "256", "memory": "1Ti", "gpu": 16, "pods": 500},
            **spec,
        },
    }
    return DataSpace.model_validate(body)


def by_kind_and_name(children: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["kind"], c["metadata"]["name"]): c for c in children}


def test_namespace_is_restricted_labelled_and_owned_by_the_space() -> None:
    namespace = by_kind_and_name(space_children(a_space()))[("Namespace", "tds-sgcc")]
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["tds.io/space"] == "sgcc"
    assert labels["app.kubernetes.io/managed-by"] == "tds-operator"
    [owner] = namespace["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("DataSpace", "sgcc", "uid-1")


def test_every_namespaced_child_lives_in_the_space_namespace() -> None:
    for child in space_children(a_space()):
        if child["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert child["metadata"]["namespace"] == "tds-sgcc", child["metadata"]["name"]


def test_network_policies_deny_by_default_and_allow_dns_and_the_space_itself() -> None:
    children = by_kind_and_name(space_children(a_space()))
    deny = children[("NetworkPolicy", DEFAULT_DENY_POLICY)]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = children[("NetworkPolicy", DNS_POLICY)]["spec"]
    assert dns["policyTypes"] == ["Egress"]
    assert {p["port"] for p in dns["egress"][0]["ports"]} == {53}
    assert dns["egress"][0]["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "kube-system"
    }
    same = children[("NetworkPolicy", SAME_SPACE_POLICY)]["spec"]
    assert same["ingress"] == [{"from": [{"podSelector": {}}]}]
    assert same["egress"] == [{"to": [{"podSelector": {}}]}]


def test_quota_covers_cpu_memory_gpus_and_pods_as_strings() -> None:
    quota = by_kind_and_name(space_children(a_space()))[("ResourceQuota", "tds-quota")]
    assert quota["spec"]["hard"] == {
        "requests.cpu": "256",
        "limits.cpu": "256",
        "requests.memory": "1Ti",
        "limits.memory": "1Ti",
        "requests.nvidia.com/gpu": "16",
        "pods": "500",
    }


def test_owners_get_the_owner_role_and_members_the_member_role() -> None:
    children = by_kind_and_name(space_children(a_space()))
    owners = children[("RoleBinding", "tds-owners")]
    assert owners["roleRef"]["name"] == OWNER_ROLE
    assert owners["subjects"] == [
        {"kind": "Group", "name": "sgcc-admins", "apiGroup": "rbac.authorization.k8s.io"}
    ]
    members = children[("RoleBinding", "tds-members")]
    assert members["roleRef"]["name"] == MEMBER_ROLE
    assert [s["name"] for s in members["subjects"]] == ["li.wei"]


def test_a_space_without_members_has_no_members_binding() -> None:
    children = by_kind_and_name(space_children(a_space(members=[])))
    assert ("RoleBinding", "tds-members") not in children


def test_owners_cannot_change_the_guard_rails_of_their_space() -> None:
    rules = space_owner_role()["rules"]
    for resource in (
        "networkpolicies",
        "resourcequotas",
        "limitranges",
        "rolebindings",
        "endpoints",
    ):
        verbs = {v for rule in rules if resource in rule["resources"] for v in rule["verbs"]}
        assert verbs == {"get", "list", "watch"}, resource


def test_members_only_read_and_never_see_secrets() -> None:
    rules = space_member_role()["rules"]
    assert all(set(rule["verbs"]) == {"get", "list", "watch"} for rule in rules)
    assert not any("secrets" in rule["resources"] for rule in rules)


def test_the_children_are_a_pure_function_of_the_spec() -> None:
    assert space_children(a_space()) == space_children(a_space())


def test_owners_take_part_in_the_data_space_and_members_observe_it() -> None:
    children = by_kind_and_name(space_children(a_space()))
    owners = children[("ClusterRoleBinding", "tds-space-sgcc-owners")]
    assert owners["roleRef"]["name"] == "tds-participant"
    assert [s["name"] for s in owners["subjects"]] == ["sgcc-admins"]
    members = children[("ClusterRoleBinding", "tds-space-sgcc-members")]
    assert members["roleRef"]["name"] == "tds-observer"
    assert ("ClusterRoleBinding", "tds-space-sgcc-members") not in by_kind_and_name(
        space_children(a_space(members=[]))
    )


def test_participants_read_the_catalogue_and_write_only_contracts() -> None:
    rules = participant_role()["rules"]
    writable = {r for rule in rules if "create" in rule["verbs"] for r in rule["resources"]}
    assert writable == {"datacontracts"}
    assert all("delete" not in rule["verbs"] for rule in rules)


def test_participants_and_observers_list_no_contract() -> None:
    for role in (participant_role(), observer_role()):
        for rule in role["rules"]:
            if "datacontracts" in rule["resources"]:
                assert rule["verbs"] == ["create"], role["metadata"]["name"]
            assert not any(r.startswith("datacontracts/") for r in rule["resources"])


def contract_rules_of(space: DataSpace, contracts: list[str]) -> dict[str, list[Any]]:
    children = space_children(space, contracts)
    return {c["metadata"]["name"]: c["rules"] for c in children if c["kind"] == "ClusterRole"}


def test_owners_and_members_reach_exactly_the_contracts_of_their_space_by_name() -> None:
    roles = contract_rules_of(a_space(), ["sgcc-to-cmcc-load", "cmcc-to-sgcc-traffic"])
    [owners, own_space] = roles["tds-space-sgcc-contract-owners"]
    assert own_space == {
        "apiGroups": ["tds.io"],
        "resources": ["dataspaces"],
        "verbs": ["patch"],
        "resourceNames": ["sgcc"],
    }
    assert owners["resources"] == ["datacontracts"]
    assert owners["resourceNames"] == ["cmcc-to-sgcc-traffic", "sgcc-to-cmcc-load"]
    assert owners["verbs"] == ["get", "list", "watch", "patch"]
    [members] = roles["tds-space-sgcc-contract-members"]
    assert members["resourceNames"] == owners["resourceNames"]
    assert members["verbs"] == ["get", "list", "watch"]


def test_a_space_without_contracts_is_granted_none_not_all() -> None:
    # A rule without resourceNames would grant every contract in the cluster.
    roles = contract_rules_of(a_space(), [])
    # Owners still patch their own space (its signing keys), by name.
    [own_space] = roles["tds-space-sgcc-contract-owners"]
    assert (own_space["resources"], own_space["resourceNames"]) == (["dataspaces"], ["sgcc"])
    assert roles["tds-space-sgcc-contract-members"] == []


def test_the_contract_roles_are_bound_to_owners_and_to_members() -> None:
    children = by_kind_and_name(space_children(a_space(), ["c1"]))
    for who, subject in (("owners", "sgcc-admins"), ("members", "li.wei")):
        name = f"tds-space-sgcc-contract-{who}"
        binding = children[("ClusterRoleBinding", name)]
        assert binding["roleRef"]["name"] == name
        assert [s["name"] for s in binding["subjects"]] == [subject]
        assert children[("ClusterRole", name)]["metadata"]["ownerReferences"][0]["name"] == "sgcc"
    alone = by_kind_and_name(space_children(a_space(members=[]), ["c1"]))
    assert ("ClusterRoleBinding", "tds-space-sgcc-contract-members") not in alone


def test_owners_read_their_contracts_ledger_pages_by_name_and_nothing_else() -> None:
    role, binding = space_ledger_access(a_space(), ["tds-audit-c-1a2b3c4d-0"], "tds-system")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "tds-system"
    assert role["metadata"]["name"] == "tds-space-sgcc-ledger-readers"
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "verbs": ["get"],
            "resourceNames": ["tds-audit-c-1a2b3c4d-0"],
        }
    ]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "tds-space-sgcc-ledger-readers",
    }
    assert [s["name"] for s in binding["subjects"]] == ["sgcc-admins"]  # owners, not members


def test_a_space_without_ledgers_is_granted_no_configmap_at_all() -> None:
    role, _ = space_ledger_access(a_space(), [], "tds-system")
    assert role["rules"] == []
