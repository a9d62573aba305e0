"""DataSpace on the real hub: provisioned, isolated, repaired, updated, deleted, idempotent."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bench.hubkit.hub import (
    SPACES,
    Contracts,
    KubectlError,
    Spaces,
    kubectl,
    owner_of,
    refusal,
)
from bench.hubkit.manifests import GROUP, VERSION, contract_body
from bench.hubkit.processes import OperatorProcess
from bench.hubkit.waiting import wait_until

pytestmark = pytest.mark.integration

CHILD_KINDS = {
    "NetworkPolicy": {"tds-default-deny", "tds-allow-dns", "tds-allow-same-space"},
    "ResourceQuota": {"tds-quota"},
    "LimitRange": {"tds-defaults"},
    "RoleBinding": {"tds-owners", "tds-members"},
}


def child_names(api_client: client.ApiClient, namespace: str) -> dict[str, set[str]]:
    core = client.CoreV1Api(api_client)
    net = client.NetworkingV1Api(api_client)
    rbac = client.RbacAuthorizationV1Api(api_client)
    selector = "app.kubernetes.io/managed-by=tds-operator"
    return {
        "NetworkPolicy": {
            p.metadata.name
            for p in net.list_namespaced_network_policy(namespace, label_selector=selector).items
        },
        "ResourceQuota": {
            q.metadata.name
            for q in core.list_namespaced_resource_quota(namespace, label_selector=selector).items
        },
        "LimitRange": {
            r.metadata.name
            for r in core.list_namespaced_limit_range(namespace, label_selector=selector).items
        },
        "RoleBinding": {
            b.metadata.name
            for b in rbac.list_namespaced_role_binding(namespace, label_selector=selector).items
        },
    }


def can(api_client: client.ApiClient, user: str, groups: list[str], **attributes: str) -> bool:
    """Ask the API server's authorizer whether a user may do something (SubjectAccessReview)."""
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=user,
            groups=groups,
            resource_attributes=client.V1ResourceAttributes(**attributes),
        )
    )
    result = client.AuthorizationV1Api(api_client).create_subject_access_review(review)
    return bool(result.status.allowed)


def test_a_new_space_becomes_ready_with_every_child(
    spaces: Spaces, api_client: client.ApiClient
) -> None:
    name = spaces.create()
    body = spaces.wait_ready(name)
    namespace = f"tds-{name}"
    assert body["status"]["namespace"] == namespace
    assert body["status"]["datasets"] == 1
    ready = spaces.condition(name)
    assert ready is not None
    assert ready["reason"] == "Provisioned"
    assert ready["observedGeneration"] == body["metadata"]["generation"]
    ns = client.CoreV1Api(api_client).read_namespace(namespace)
    assert ns.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert ns.metadata.owner_references[0].uid == body["metadata"]["uid"]
    assert child_names(api_client, namespace) == CHILD_KINDS
    quota = client.CoreV1Api(api_client).read_namespaced_resource_quota("tds-quota", namespace)
    assert quota.spec.hard["requests.nvidia.com/gpu"] == "8"
    assert quota.spec.hard["requests.cpu"] == "16"

    # The Event is posted beside the status, so it may come just after Ready.
    def reasons() -> set[str] | None:
        events = client.CoreV1Api(api_client).list_namespaced_event(
            namespace, field_selector=f"involvedObject.name={name}"
        )
        found = {e.reason for e in events.items}
        return found if "Provisioned" in found else None

    wait_until(reasons, timeout=10, what=f"DataSpace {name}'s Provisioned Event")


def test_access_is_confined_to_each_participants_own_space(
    spaces: Spaces, api_client: client.ApiClient
) -> None:
    a, b = spaces.create(), spaces.create()
    spaces.wait_ready(a)
    spaces.wait_ready(b)
    owner = {a: (f"{a}-boss", [f"{a}-admins"]), b: (f"{b}-boss", [f"{b}-admins"])}
    member = {a: (f"{a}-analyst", []), b: (f"{b}-analyst", [])}
    resources = [
        ("", "pods"),
        ("", "secrets"),
        ("batch", "jobs"),
        ("networking.k8s.io", "networkpolicies"),
        ("", "resourcequotas"),
        ("rbac.authorization.k8s.io", "rolebindings"),
    ]
    writable_by_owner = {"pods", "secrets", "jobs"}
    readable_by_member = {"pods", "jobs", "networkpolicies", "resourcequotas", "rolebindings"}
    mismatches = []
    for space in (a, b):
        for other in (a, b):
            namespace = f"tds-{other}"
            own = space == other
            for group, resource in resources:
                expected = {
                    ("owner", "list"): own,
                    ("owner", "create"): own and resource in writable_by_owner,
                    ("owner", "delete"): own and resource in writable_by_owner,
                    ("member", "list"): own and resource in readable_by_member,
                    ("member", "create"): False,
                    ("member", "delete"): False,
                }
                for (role, verb), allowed in expected.items():
                    user, groups = (owner if role == "owner" else member)[space]
                    actual = can(
                        api_client,
                        user,
                        groups,
                        namespace=namespace,
                        verb=verb,
                        group=group,
                        resource=resource,
                    )
                    if actual != allowed:
                        mismatches.append((role, space, verb, resource, namespace, actual))
    # At cluster scope: the catalogue is public, contracts are never listed, only proposed.
    for space in (a, b):
        for role, (user, groups) in (("owner", owner[space]), ("member", member[space])):
            expected = {
                ("dataspaces", "list"): True,
                ("datacontracts", "list"): False,
                ("datacontracts", "watch"): False,
                ("datacontracts", "create"): role == "owner",
                ("datacontracts", "delete"): False,
            }
            for (resource, verb), allowed in expected.items():
                actual = can(api_client, user, groups, verb=verb, group="tds.io", resource=resource)
                if actual != allowed:
                    mismatches.append((role, space, verb, resource, "cluster", actual))
    assert mismatches == []


def test_owners_cannot_remove_their_network_policies_or_raise_their_quota(
    spaces: Spaces,
) -> None:
    name = spaces.create()
    spaces.wait_ready(name)
    as_owner = {"user": f"{name}-boss", "groups": (f"{name}-admins",)}
    with pytest.raises(KubectlError, match="Forbidden"):
        kubectl("delete", "networkpolicy", "tds-default-deny", "-n", f"tds-{name}", **as_owner)
    with pytest.raises(KubectlError, match="Forbidden"):
        kubectl(
            "patch", "resourcequota", "tds-quota", "-n", f"tds-{name}", "--type=merge",
            "-p", '{"spec":{"hard":{"requests.nvidia.com/gpu":"1000"}}}', **as_owner,
        )  # fmt: skip


def test_pod_security_and_gpu_quota_are_enforced_in_the_space(
    spaces: Spaces, api_client: client.ApiClient
) -> None:
    name = spaces.create()
    spaces.wait_ready(name)
    namespace = f"tds-{name}"
    core = client.CoreV1Api(api_client)
    wait_until(
        lambda: (
            core.list_namespaced_service_account(
                namespace, field_selector="metadata.name=default"
            ).items
        ),
        timeout=30,
        what="default ServiceAccount",
    )
    privileged = {
        "metadata": {"name": "privileged"},
        "spec": {
            "containers": [{"name": "c", "image": "x", "securityContext": {"privileged": True}}]
        },
    }
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(namespace, privileged)
    assert refused.value.status == 403
    assert 'violates PodSecurity "restricted' in json.loads(refused.value.body)["message"]

    restricted_container = {
        "name": "train",
        "image": "registry.local/train:1.0",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "resources": {"limits": {"nvidia.com/gpu": "9"}, "requests": {"nvidia.com/gpu": "9"}},
    }
    too_many_gpus = {"metadata": {"name": "greedy"}, "spec": {"containers": [restricted_container]}}
    with pytest.raises(ApiException) as over_quota:
        core.create_namespaced_pod(namespace, too_many_gpus)
    assert over_quota.value.status == 403
    message = json.loads(over_quota.value.body)["message"]
    assert "exceeded quota: tds-quota" in message
    assert "requests.nvidia.com/gpu" in message


def test_drift_in_owned_objects_is_repaired_within_seconds(
    spaces: Spaces, api_client: client.ApiClient
) -> None:
    name = spaces.create()
    spaces.wait_ready(name)
    namespace = f"tds-{name}"
    net = client.NetworkingV1Api(api_client)
    core = client.CoreV1Api(api_client)
    rbac = client.RbacAuthorizationV1Api(api_client)

    net.delete_namespaced_network_policy("tds-default-deny", namespace)
    wait_until(
        lambda: child_names(api_client, namespace)["NetworkPolicy"] == CHILD_KINDS["NetworkPolicy"],
        timeout=10,
        what="deleted NetworkPolicy restored",
    )
    core.patch_namespaced_resource_quota(
        "tds-quota", namespace, {"spec": {"hard": {"requests.nvidia.com/gpu": "1000"}}}
    )
    wait_until(
        lambda: (
            core.read_namespaced_resource_quota("tds-quota", namespace).spec.hard[
                "requests.nvidia.com/gpu"
            ]
            == "8"
        ),
        timeout=10,
        what="edited quota restored",
    )
    rbac.patch_namespaced_role_binding(
        "tds-members",
        namespace,
        {
            "subjects": [
                {"kind": "User", "name": "intruder", "apiGroup": "rbac.authorization.k8s.io"}
            ]
        },
    )
    wait_until(
        lambda: (
            [s.name for s in rbac.read_namespaced_role_binding("tds-members", namespace).subjects]
            == [f"{name}-analyst"]
        ),
        timeout=10,
        what="edited binding restored",
    )
    events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}")
    assert "DriftRepaired" in {e.reason for e in events.items}


def test_spec_changes_are_applied_in_place_and_removed_owners_lose_access(
    spaces: Spaces, api_client: client.ApiClient
) -> None:
    name = spaces.create(
        owners=[{"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"}]
    )
    spaces.wait_ready(name)
    namespace = f"tds-{name}"
    assert can(api_client, "bob", [], namespace=namespace, verb="create", resource="pods")

    spaces.patch_spec(
        name,
        {
            "owners": [{"kind": "User", "name": "alice"}],
            "members": [],
            "quota": {"cpu": "32", "memory": "128Gi", "gpu": 16, "pods": 80},
        },
    )
    spaces.wait_ready(name)
    quota = client.CoreV1Api(api_client).read_namespaced_resource_quota("tds-quota", namespace)
    assert quota.spec.hard["requests.nvidia.com/gpu"] == "16"
    assert quota.spec.hard["limits.memory"] == "128Gi"
    assert not can(api_client, "bob", [], namespace=namespace, verb="create", resource="pods")
    assert can(api_client, "alice", [], namespace=namespace, verb="create", resource="pods")
    assert child_names(api_client, namespace)["RoleBinding"] == {"tds-owners"}
    assert not can(
        api_client, f"{name}-analyst", [], namespace=namespace, verb="list", resource="pods"
    )


def test_a_converged_space_costs_no_write(spaces: Spaces, operator: OperatorProcess) -> None:
    # Quantities the API server stores in another (canonical) form must not look like drift.
    name = spaces.create(quota={"cpu": "0.5", "memory": "1024Mi", "gpu": 1, "pods": 10})
    spaces.wait_ready(name)
    time.sleep(1.0)  # let the events of the operator's own writes come back and settle
    before = operator.writes()
    reconciles_before = operator.metric("tds_reconcile_total", kind="DataSpace")
    # A label change is an event that triggers a full reconcile without changing the spec.
    spaces.hub.custom.patch_cluster_custom_object(
        GROUP, VERSION, SPACES, name, {"metadata": {"labels": {"touched": "yes"}}}
    )
    wait_until(
        lambda: operator.metric("tds_reconcile_total", kind="DataSpace") > reconciles_before,
        timeout=10,
        what="a reconcile after the label change",
    )
    time.sleep(1.0)
    assert operator.writes() == before


def test_deleting_a_space_removes_everything_it_created(
    spaces: Spaces, api_client: client.ApiClient
) -> None:
    name = spaces.create()
    spaces.wait_ready(name)
    spaces.hub.custom.delete_cluster_custom_object(GROUP, VERSION, SPACES, name)
    wait_until(lambda: not spaces.exists(name), timeout=60, what=f"DataSpace {name} gone")
    with pytest.raises(ApiException) as gone:
        client.CoreV1Api(api_client).read_namespace(f"tds-{name}")
    assert gone.value.status == 404


def test_a_space_in_an_active_contract_is_not_deleted(
    spaces: Spaces, contracts: Contracts, api_client: client.ApiClient
) -> None:
    provider, consumer = spaces.create(), spaces.create()
    spaces.wait_ready(provider)
    spaces.wait_ready(consumer)
    contract = contracts.propose(
        owner_of(provider), contract_body(f"{provider}-to-{consumer}", provider, consumer)
    )
    contracts.consent(owner_of(consumer), contract, "consumer")
    contracts.wait_phase(contract, "Active")

    message = refusal(lambda: kubectl("delete", "dataspace", provider, "--wait=false"))
    assert "denied the request: ActiveContracts: " in message
    assert f"DataSpace {provider} is party to active contracts {contract}" in message
    assert spaces.exists(provider)
    assert "deletionTimestamp" not in spaces.get(provider)["metadata"]
    client.CoreV1Api(api_client).read_namespace(f"tds-{provider}")

    contracts.revoke(owner_of(provider), contract)
    contracts.wait_phase(contract, "Revoked")
    kubectl("delete", "dataspace", provider, "--wait=false")
    wait_until(lambda: not spaces.exists(provider), timeout=60, what="space deleted")
    with pytest.raises(ApiException) as gone:
        client.CoreV1Api(api_client).read_namespace(f"tds-{provider}")
    assert gone.value.status == 404


def test_a_namespace_owned_by_someone_else_is_reported_not_taken(
    spaces: Spaces, api_client: client.ApiClient
) -> None:
    name = f"s{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": f"tds-{name}", "labels": {"team": "other"}}})
    try:
        spaces.create(name)

        def conflict() -> dict[str, Any] | None:
            condition = spaces.condition(name)
            return condition if condition and condition["reason"] == "NamespaceConflict" else None

        condition = wait_until(conflict, timeout=20, what="NamespaceConflict")
        assert condition["status"] == "False"
        assert f"tds-{name}" in condition["message"]
        namespace = core.read_namespace(f"tds-{name}")
        assert namespace.metadata.labels.get("app.kubernetes.io/managed-by") is None
        assert not namespace.metadata.owner_references
    finally:
        core.delete_namespace(f"tds-{name}")


def test_a_restart_in_the_middle_of_provisioning_converges_without_duplicates(
    spaces: Spaces, api_client: client.ApiClient, operator: OperatorProcess
) -> None:
    names = [spaces.create() for _ in range(3)]
    operator.restart(kill=True)
    for name in names:
        spaces.wait_ready(name)
        assert child_names(api_client, f"tds-{name}") == CHILD_KINDS
