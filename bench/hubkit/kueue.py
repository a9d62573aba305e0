"""What the Kueue tests share (test_kueue_*.py): jobs submitted in bulk, the Workloads and
ClusterQueues Kueue keeps for them, and the GPUs their workers hold."""

from __future__ import annotations

from typing import Any

from bench.hubkit.hub import clean_room, get_or_none, owner_of, unique
from bench.hubkit.manifests import Body, condition, training_job_body
from bench.hubkit.training import Deal, Story
from bench.hubkit.waiting import wait_for

KUEUE, VERSION = "kueue.x-k8s.io", "v1beta2"
GPU = "nvidia.com/gpu"
WAITING_REASONS = {"ContractConcurrency", "OrganisationQuota", "HubCapacity"}


def submit(story: Story, deal: Deal, count: int, **job: Any) -> list[str]:
    """`count` jobs of 2 x 8 GPUs (unless told), created in order by the consumer's owner."""
    base = unique("k")
    names = [f"{base}-{index}" for index in range(count)]
    shape = {"workers": 2, "gpus_per_worker": 8, **job}
    for name in names:
        story.submit(
            owner_of(deal.consumer), training_job_body(name, deal.namespace, deal.contract, **shape)
        )
    return names


def workloads(story: Story, contract: str) -> list[Body]:
    items: list[Body] = story.hub.custom.list_namespaced_custom_object(
        KUEUE, VERSION, clean_room(contract), "workloads"
    )["items"]
    return items


def admitted(workload: Body) -> bool:
    conditions = (workload.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Admitted" and c["status"] == "True" for c in conditions)


def queued(story: Story, deal: Deal, name: str) -> Body:
    """The job once Queued with a waiting reason, its batch Job suspended in the clean room."""
    # Not a latency promise: on a hub busy with the objects of earlier tests, a new operator's
    # first look at a job can take a while.
    body = story.wait_job(deal.namespace, name, "Queued", timeout=60)
    why = condition(body, "Queued")
    assert why is not None
    assert why["status"] == "True"
    assert why["reason"] in WAITING_REASONS | {"CleanRoomNotReady"}, why
    return body


def running_gpus(story: Story, deal: Deal, names: list[str], per_worker: int = 8) -> int:
    """The GPUs the jobs' Running workers hold now (`per_worker` each)."""
    return sum(
        per_worker
        for name in names
        for pod in story.pods(deal.contract, name)
        if pod.status.phase == "Running"
    )


def cluster_queue(story: Story, space: str) -> Body | None:
    """The consumer organisation's ClusterQueue, if the operator made it."""
    found: Body | None = get_or_none(
        lambda: story.hub.custom.get_cluster_custom_object(
            KUEUE, VERSION, "clusterqueues", f"tds-{space}"
        )
    )
    return found


def pool_shares(story: Story) -> dict[str, int]:
    """The guaranteed GPUs of each organisation's queue in the pool's cohort."""
    queues = story.hub.custom.list_cluster_custom_object(KUEUE, VERSION, "clusterqueues")
    return {
        queue["metadata"]["name"]: sum(
            int(quota["nominalQuota"])
            for group in queue["spec"]["resourceGroups"]
            for flavor in group["flavors"]
            for quota in flavor["resources"]
            if quota["name"] == GPU
        )
        for queue in queues["items"]
        if queue["spec"].get("cohortName") == "tds-gpu-pool"
    }


def wait_for_pool(story: Story, gpus: int, timeout: float = 60) -> None:
    """Until the pool's cohort holds `gpus` GPUs (the hub's 16, for a test whose organisations
    guarantee them all): a queue of an earlier test not gone yet adds its share, and Kueue would
    then reserve more GPUs than the hub's nodes have."""
    wait_for(
        lambda: pool_shares(story),
        lambda shares: sum(shares.values()) == gpus,
        timeout=timeout,
        what=f"the GPU pool's queues to come to {gpus} GPUs",
    )
