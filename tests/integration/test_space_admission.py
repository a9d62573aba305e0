"""The owner role's sharp edges, tried by a space owner on the hub: each is refused with the rule
named (the spaces' admission policies, or RBAC for Endpoints), while the ordinary objects pass."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bench.hubkit.hub import (
    CLUSTER_ADMIN,
    KubectlError,
    Person,
    Spaces,
    kubectl,
    owner_of,
    refusal,
    space_namespace,
    unique,
)
from bench.hubkit.waiting import wait_until
from tds_operator.desired.admission import CLAIMS_POLICY, PODS_POLICY, SERVICES_POLICY
from tds_operator.policy.rules import HubRules

pytestmark = pytest.mark.integration

Body = dict[str, Any]
# The operator under test runs with the default hub rules.
RULES = HubRules()


def policy(name: str) -> str:
    return f"ValidatingAdmissionPolicy '{name}'"


def owned_space(spaces: Spaces) -> tuple[Person, str]:
    name = spaces.create()
    spaces.wait_ready(name)
    return owner_of(name), space_namespace(name)


def service(namespace: str, **spec: Any) -> Body:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": unique("svc-"), "namespace": namespace},
        "spec": {"selector": {"app": "records"}, "ports": [{"port": 8443}], **spec},
    }


def restricted_pod(namespace: str, **spec: Any) -> Body:
    """A pod Pod Security `restricted` admits, with `spec` added."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": unique("pod-"), "namespace": namespace},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000},
            "containers": [
                {
                    "name": "c",
                    "image": "busybox",
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                }
            ],
            **spec,
        },
    }


def test_services_stay_inside_the_cluster(spaces: Spaces) -> None:
    owner, namespace = owned_space(spaces)
    for exposed in ({"type": "NodePort"}, {"type": "LoadBalancer"}):
        answer = refusal(lambda exposed=exposed: owner.create(service(namespace, **exposed)))
        assert policy(SERVICES_POLICY) in answer
        assert "spec.type" in answer
    answer = refusal(lambda: owner.create(service(namespace, externalIPs=["192.0.2.10"])))
    assert policy(SERVICES_POLICY) in answer
    assert "spec.externalIPs" in answer
    owner.create(service(namespace))


def test_owners_read_endpoints_but_do_not_write_them(spaces: Spaces) -> None:
    owner, namespace = owned_space(spaces)
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "records", "namespace": namespace},
        "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 443}]}],
    }
    answer = refusal(lambda: owner.create(endpoints))
    assert 'cannot create resource "endpoints"' in answer
    slice_ = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "records", "namespace": namespace},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.1"]}],
    }
    answer = refusal(lambda: owner.create(slice_))
    assert 'cannot create resource "endpointslices"' in answer
    assert owner.kubectl("auth", "can-i", "list", "endpoints", "-n", namespace).strip() == "yes"


def test_claims_do_not_name_a_volume(spaces: Spaces) -> None:
    owner, namespace = owned_space(spaces)

    def claim(**spec: Any) -> Body:
        return {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": unique("claim-"), "namespace": namespace},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
                **spec,
            },
        }

    answer = refusal(lambda: owner.create(claim(volumeName="retained-by-another-tenant")))
    assert policy(CLAIMS_POLICY) in answer
    assert "spec.volumeName" in answer
    owner.create(claim())


@pytest.fixture
def high_priority() -> Iterator[str]:
    """A PriorityClass above the clean-room workers' 0, as a hub may well have."""
    name = unique("tds-test-high-")
    CLUSTER_ADMIN.create(
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": 1000,
        }
    )
    yield name
    kubectl("delete", "priorityclass", name, "--ignore-not-found")


def test_pods_keep_off_the_gpu_pool_and_do_not_preempt(spaces: Spaces, high_priority: str) -> None:
    owner, namespace = owned_space(spaces)
    ((pool_key, pool_value),) = RULES.gpu_node_selector.items()
    pool_term = {"matchExpressions": [{"key": pool_key, "operator": "In", "values": [pool_value]}]}
    beside_workers = {
        "topologyKey": "kubernetes.io/hostname",
        "namespaces": ["tds-cr-victim"],
        "labelSelector": {"matchLabels": {"tds.io/training-job": "victim"}},
    }
    attempts = {
        "spec.tolerations": {
            "tolerations": [{"key": RULES.gpu_toleration_key, "operator": "Exists"}]
        },
        "nor every taint": {"tolerations": [{"operator": "Exists"}]},
        "spec.nodeSelector": {"nodeSelector": dict(RULES.gpu_node_selector)},
        "spec.affinity.nodeAffinity": {
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [pool_term]
                    }
                }
            }
        },
        "spec.nodeName": {"nodeName": "gpu-node-0"},
        "own namespace": {
            "affinity": {
                "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [beside_workers]}
            }
        },
        "spec.priorityClassName": {"priorityClassName": high_priority},
    }
    for rule, spec in attempts.items():
        answer = refusal(lambda spec=spec: owner.create(restricted_pod(namespace, **spec)))
        assert policy(PODS_POLICY) in answer, answer
        assert rule in answer, answer
    owner.create(
        restricted_pod(namespace, tolerations=[{"key": "example.com/other", "operator": "Exists"}])
    )


def test_a_workloads_pods_are_refused_with_the_rule_in_its_events(spaces: Spaces) -> None:
    """The policies bind the controllers too: a Deployment cannot carry the toleration in."""
    owner, namespace = owned_space(spaces)
    pod = restricted_pod(
        namespace, tolerations=[{"key": RULES.gpu_toleration_key, "operator": "Exists"}]
    )
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "miner", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "miner"}},
            "template": {"metadata": {"labels": {"app": "miner"}}, "spec": pod["spec"]},
        },
    }
    owner.create(deployment)

    def refused_in_events() -> bool:
        try:
            events = kubectl("get", "events", "-n", namespace, "-o", "jsonpath={.items[*].message}")
        except KubectlError:
            return False
        return policy(PODS_POLICY) in events

    wait_until(refused_in_events, timeout=30, what="the ReplicaSet's refusal in the events")
    assert not kubectl("get", "pods", "-n", namespace, "-l", "app=miner", "-o", "name").strip()


def test_a_pending_claim_cannot_be_pointed_at_a_volume_by_update(spaces: Spaces) -> None:
    """A claim made without a volume, then patched to name a retained volume that is not the
    owner's, is refused; the volume binder (who may update PersistentVolumes) may still bind it."""
    owner, namespace = owned_space(spaces)
    storage_class = unique("tds-test-class-")
    volume = unique("tds-test-retained-")
    CLUSTER_ADMIN.create(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": volume},
            "spec": {
                "storageClassName": storage_class,
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": f"/var/lib/tds-hub/test/{volume}"},
            },
        }
    )
    try:
        pending = unique("claim-")
        owner.create(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": pending, "namespace": namespace},
                "spec": {
                    "storageClassName": storage_class,
                    "accessModes": ["ReadWriteOnce"],
                    # Larger than the volume: nothing binds it on its own.
                    "resources": {"requests": {"storage": "2Gi"}},
                },
            }
        )
        patch = json.dumps({"spec": {"volumeName": volume}})
        answer = refusal(
            lambda: owner.kubectl("patch", "pvc", pending, "-n", namespace, "-p", patch)
        )
        assert policy(CLAIMS_POLICY) in answer
        assert "spec.volumeName" in answer
        claim_spec = kubectl("get", "pvc", pending, "-n", namespace, "-o", "jsonpath={.spec}")
        assert volume not in claim_spec
        # The positive control: the same update by who may bind volumes passes.
        kubectl("patch", "pvc", pending, "-n", namespace, "-p", patch)
        assert volume in kubectl("get", "pvc", pending, "-n", namespace, "-o", "jsonpath={.spec}")
    finally:
        kubectl("delete", "pv", volume, "--ignore-not-found", "--wait=false")
