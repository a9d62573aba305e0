"""Kueue on the hub (HUB_KUEUE=1 make hub-up; run by make integration-kueue): a 2 x 8 GPU Indexed
Job that names a queue starts all of its workers together or none of them, and a job cannot skip
the queue by asking not to be suspended. The hub has 16 GPUs, two nodes of 8."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from bench.hubkit.manifests import Body, cmcc
from bench.hubkit.waiting import wait_until
from tds_operator.api.dataspace import DataSpace
from tds_operator.desired.queues import (
    clean_room_queue,
    contract_check,
    gpu_flavor,
    organisation_queue,
)
from tds_operator.policy.rules import HubRules

pytestmark = [pytest.mark.integration, pytest.mark.kueue]

KUEUE, KUEUE_VERSION = "kueue.x-k8s.io", "v1beta2"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
GPU = "nvidia.com/gpu"


def kueue_object(kind: str, name: str, spec: Body, namespace: str | None = None) -> Body:
    metadata: Body = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": f"{KUEUE}/{KUEUE_VERSION}", "kind": kind, "metadata": metadata,
            "spec": spec}  # fmt: skip


@pytest.fixture
def queue(api_client: client.ApiClient, namespace: str) -> Iterator[str]:
    """A LocalQueue in `namespace` onto a ClusterQueue of the hub's 16 GPUs (a ResourceFlavor
    of the GPU pool); its name. Removed afterwards."""
    objects = client.CustomObjectsApi(api_client)
    name = f"gpus-{uuid.uuid4().hex[:8]}"
    flavor = kueue_object(
        "ResourceFlavor",
        name,
        {
            "nodeLabels": {"hub.tds.io/pool": "gpu"},
            "tolerations": [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}],
        },
    )
    cluster_queue = kueue_object(
        "ClusterQueue",
        name,
        {
            "namespaceSelector": {},
            "resourceGroups": [
                {
                    "coveredResources": [GPU],
                    "flavors": [{"name": name, "resources": [{"name": GPU, "nominalQuota": 16}]}],
                }
            ],
        },
    )
    local_queue = kueue_object("LocalQueue", name, {"clusterQueue": name}, namespace)
    objects.create_cluster_custom_object(KUEUE, KUEUE_VERSION, "resourceflavors", flavor)
    objects.create_cluster_custom_object(KUEUE, KUEUE_VERSION, "clusterqueues", cluster_queue)
    objects.create_namespaced_custom_object(
        KUEUE, KUEUE_VERSION, namespace, "localqueues", local_queue
    )
    try:
        yield name
    finally:
        for plural in ("clusterqueues", "resourceflavors"):
            objects.delete_cluster_custom_object(KUEUE, KUEUE_VERSION, plural, name)


def gpu_job(name: str, queue: str, *, workers: int, run_for: str, suspend: bool) -> Body:
    """An Indexed Job of `workers` x 8 GPUs on the queue; its simulated workers run `run_for`."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {QUEUE_LABEL: queue}},
        "spec": {
            "completionMode": "Indexed",
            "completions": workers,
            "parallelism": workers,
            "backoffLimit": 0,
            "suspend": suspend,
            "template": {
                "metadata": {"annotations": {"hub.tds.io/run-for": run_for}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "worker",
                            "image": "registry.local/forecast:1.0",
                            "resources": {"requests": {GPU: "8"}, "limits": {GPU: "8"}},
                        }
                    ],
                },
            },
        },
    }


def pods_of(core: client.CoreV1Api, namespace: str, job: str) -> list[client.V1Pod]:
    selector = f"batch.kubernetes.io/job-name={job}"
    return list(core.list_namespaced_pod(namespace, label_selector=selector).items)


def workload_condition(
    api_client: client.ApiClient, namespace: str, job: str, type: str
) -> dict[str, Any] | None:
    """A condition of the Kueue Workload of a Job, once Kueue has made it."""
    workloads = client.CustomObjectsApi(api_client).list_namespaced_custom_object(
        KUEUE, KUEUE_VERSION, namespace, "workloads"
    )["items"]
    for workload in workloads:
        owners = workload["metadata"].get("ownerReferences") or []
        if any(owner["name"] == job for owner in owners):
            conditions = (workload.get("status") or {}).get("conditions") or []
            return next((c for c in conditions if c["type"] == type), None)
    return None


def test_a_two_by_eight_gpu_job_starts_all_its_workers_together_or_none(
    api_client: client.ApiClient, batch: client.BatchV1Api, core: client.CoreV1Api,
    namespace: str, queue: str,
) -> None:  # fmt: skip
    # 8 of the 16 GPUs are taken by a one-worker job of the queue.
    holder = batch.create_namespaced_job(
        namespace, gpu_job("holder", queue, workers=1, run_for="12s", suspend=True)
    )
    assert holder.spec.suspend is True
    wait_until(
        lambda: [p for p in pods_of(core, namespace, "holder") if p.status.phase == "Running"],
        timeout=30,
        what="the holder's worker Running",
    )
    # The attacker's 2 x 8 job asks not to be suspended, to start a worker on the 8 free GPUs
    # now: Kueue's webhook suspends it on creation, and it waits for the quota of both workers.
    gang = batch.create_namespaced_job(
        namespace, gpu_job("gang", queue, workers=2, run_for="3s", suspend=False)
    )
    assert gang.spec.suspend is True, "Kueue's webhook did not suspend a queued Job"
    pending = wait_until(
        lambda: workload_condition(api_client, namespace, "gang", "QuotaReserved"),
        timeout=30,
        what="the gang's Workload reporting QuotaReserved",
    )
    assert pending["status"] == "False", pending
    # While the holder runs, not one of the gang's workers exists.
    while batch.read_namespaced_job("holder", namespace).status.succeeded != 1:
        assert pods_of(core, namespace, "gang") == [], "a worker started on half the GPUs"
        assert batch.read_namespaced_job("gang", namespace).spec.suspend is True
        time.sleep(0.2)
    # Once 16 GPUs are free, Kueue admits it: both workers, each on a GPU node of its own.
    done = wait_until(
        lambda: batch.read_namespaced_job("gang", namespace).status.succeeded == 2,
        timeout=60,
        what="the gang's two workers Succeeded",
    )
    assert done
    workers = pods_of(core, namespace, "gang")
    assert len(workers) == 2
    assert len({pod.spec.node_name for pod in workers}) == 2
    for pod in workers:
        assert pod.spec.node_selector == {"hub.tds.io/pool": "gpu"}, "not the flavor's nodes"
    admitted = workload_condition(api_client, namespace, "gang", "Admitted")
    assert admitted is not None
    assert admitted["status"] == "True"


def test_kueue_accepts_the_operators_queue_tree(
    api_client: client.ApiClient, namespace: str
) -> None:
    # Created as a server-side dry run: Kueue's CRD schemas and webhooks judge every object (an
    # object they refuse raises).
    objects = client.CustomObjectsApi(api_client)
    consumer = DataSpace(metadata={"name": "cmcc"}, spec=cmcc())
    cluster_scoped = {
        "resourceflavors": gpu_flavor(HubRules()),
        "admissionchecks": contract_check(),
        "clusterqueues": organisation_queue(consumer, [namespace], weight=2, borrowing_limit=8),
    }
    for plural, body in cluster_scoped.items():
        # A name of its own: an operator that ran on this hub with Kueue made the real ones.
        body["metadata"]["name"] += f"-{uuid.uuid4().hex[:6]}"
        created = objects.create_cluster_custom_object(
            KUEUE, KUEUE_VERSION, plural, body, dry_run="All"
        )
        assert created["metadata"]["name"] == body["metadata"]["name"]
        if plural == "clusterqueues":
            assert created["spec"]["cohortName"] == "tds-gpu-pool"
            assert str(created["spec"]["fairSharing"]["weight"]) == "2"
    local = clean_room_queue("sgcc-to-cmcc", "cmcc")
    local["metadata"]["namespace"] = namespace
    created = objects.create_namespaced_custom_object(
        KUEUE, KUEUE_VERSION, namespace, "localqueues", local, dry_run="All"
    )
    assert created["spec"]["clusterQueue"] == "tds-cmcc"
