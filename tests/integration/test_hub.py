"""The local hub is a real cluster: scheduler, controllers, quota, RBAC and GPU nodes all work."""

from __future__ import annotations

import subprocess
import uuid
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bench.hubkit.hub import REPO_ROOT, KubectlError, kubectl
from bench.hubkit.waiting import wait_until

pytestmark = pytest.mark.integration

GPU = "nvidia.com/gpu"
GPU_TOLERATION = {"key": GPU, "operator": "Exists", "effect": "NoSchedule"}
GPU_NODE_SELECTOR = {"hub.tds.io/pool": "gpu"}


def gpu_container(gpus: int) -> dict[str, Any]:
    return {
        "name": "train",
        "image": "registry.local/train:1.0",
        "resources": {"requests": {GPU: str(gpus)}, "limits": {GPU: str(gpus)}},
    }


def test_gpu_nodes_advertise_eight_gpus(core: client.CoreV1Api) -> None:
    nodes = core.list_node(label_selector="hub.tds.io/pool=gpu").items
    assert len(nodes) >= 2
    for node in nodes:
        assert node.status.allocatable[GPU] == "8"
        assert node.metadata.labels["nvidia.com/gpu.product"]
        assert any(t.key == GPU and t.effect == "NoSchedule" for t in node.spec.taints)
        ready = next(c for c in node.status.conditions if c.type == "Ready")
        assert ready.status == "True"


def test_job_requesting_eight_gpus_runs_on_a_gpu_node_and_completes(
    core: client.CoreV1Api, batch: client.BatchV1Api, namespace: str
) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "eight-gpus"},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"annotations": {"hub.tds.io/run-for": "2s"}},
                "spec": {
                    "restartPolicy": "Never",
                    "tolerations": [GPU_TOLERATION],
                    "nodeSelector": GPU_NODE_SELECTOR,
                    "containers": [gpu_container(8)],
                },
            },
        },
    }
    batch.create_namespaced_job(namespace, job)

    def complete() -> bool:
        status = batch.read_namespaced_job_status("eight-gpus", namespace).status
        return any(c.type == "Complete" and c.status == "True" for c in status.conditions or [])

    wait_until(complete, timeout=60, what="Job eight-gpus to complete")
    pods = core.list_namespaced_pod(namespace, label_selector="job-name=eight-gpus").items
    assert len(pods) == 1
    node = core.read_node(pods[0].spec.node_name)
    assert node.metadata.labels["hub.tds.io/pool"] == "gpu"
    assert pods[0].status.phase == "Succeeded"


def test_pod_requesting_more_gpus_than_any_node_has_stays_unschedulable(
    core: client.CoreV1Api, namespace: str
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "nine-gpus"},
        "spec": {"tolerations": [GPU_TOLERATION], "containers": [gpu_container(9)]},
    }
    core.create_namespaced_pod(namespace, pod)

    def unschedulable() -> client.V1PodCondition | None:
        status = core.read_namespaced_pod_status("nine-gpus", namespace).status
        return next(
            (
                c
                for c in status.conditions or []
                if c.type == "PodScheduled" and c.status == "False"
            ),
            None,
        )

    condition = wait_until(unschedulable, timeout=30, what="PodScheduled=False")
    assert condition.reason == "Unschedulable"
    assert "Insufficient nvidia.com/gpu" in condition.message
    assert core.read_namespaced_pod("nine-gpus", namespace).status.phase == "Pending"


def test_deleting_a_namespace_with_objects_finishes(
    core: client.CoreV1Api, batch: client.BatchV1Api
) -> None:
    name = f"t-del-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    core.create_namespaced_config_map(name, {"metadata": {"name": "data"}, "data": {"k": "v"}})
    core.create_namespaced_service_account(name, {"metadata": {"name": "worker"}})
    core.delete_namespace(name)

    def gone() -> bool:
        try:
            core.read_namespace(name)
        except ApiException as error:
            return error.status == 404
        return False

    wait_until(gone, timeout=60, what=f"namespace {name} to be deleted")


def test_gpu_resource_quota_rejects_a_pod_that_would_exceed_it(
    core: client.CoreV1Api, namespace: str
) -> None:
    quota = {
        "metadata": {"name": "gpus"},
        "spec": {"hard": {f"requests.{GPU}": "8"}},
    }
    core.create_namespaced_resource_quota(namespace, quota)
    wait_until(
        lambda: core.read_namespaced_resource_quota("gpus", namespace).status.hard or {},
        timeout=30,
        what="quota status",
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "too-many-gpus"},
        "spec": {"tolerations": [GPU_TOLERATION], "containers": [gpu_container(9)]},
    }
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(namespace, pod)
    assert refused.value.status == 403
    assert "exceeded quota: gpus" in refused.value.body


def test_rbac_refuses_an_impersonated_user_without_rights(namespace: str) -> None:
    with pytest.raises(KubectlError) as refused:
        kubectl("get", "pods", "-n", namespace, user="mallory", groups=("outsiders",))
    assert "Forbidden" in str(refused.value)
    assert 'User "mallory" cannot list resource "pods"' in str(refused.value)


def test_hub_up_on_a_serving_hub_builds_and_restarts_nothing(core: client.CoreV1Api) -> None:
    before = {n.metadata.name: n.metadata.uid for n in core.list_node().items}
    result = subprocess.run(
        [str(REPO_ROOT / "hack" / "hub" / "up.sh")], capture_output=True, text=True, check=True
    )
    assert "already serving" in result.stderr
    assert "built in" not in result.stderr
    assert "starting hub" not in result.stderr
    after = {n.metadata.name: n.metadata.uid for n in core.list_node().items}
    assert after == before
