"""A TrainingJob queued in Kueue shows its place in its clean room's LocalQueue (Kueue's visibility
API, aggregated into the hub's API server: HUB_KUEUE=1 make hub-up; make integration-kueue), 1
being next, and moves up as the jobs ahead leave; without that API a queued job has no position
and runs all the same; no party reads a queue through that API, neither another organisation's nor
its own. The hub has 16 GPUs (two nodes of 8)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest

from bench.hubkit.hub import Person, clean_room, kubectl, member_of, owner_of, refusal
from bench.hubkit.kueue import admitted, cluster_queue, queued, submit, wait_for_pool, workloads
from bench.hubkit.processes import OperatorProcess
from bench.hubkit.training import Deal, Story
from bench.hubkit.waiting import wait_for, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.kueue]

VISIBILITY = "/apis/visibility.kueue.x-k8s.io/v1beta2"
VISIBILITY_API = "apiservice/v1beta2.visibility.kueue.x-k8s.io"
UNAVAILABLE = "Kueue's visibility API (visibility.kueue.x-k8s.io/v1beta2) is not available"


def position(story: Story, deal: Deal, name: str) -> int | None:
    status = (story.job(deal.namespace, name) or {}).get("status") or {}
    found: int | None = status.get("queuePosition")
    return found


def workload_made(story: Story, deal: Deal, job: str) -> float:
    """When Kueue made the Workload of a job's batch Job (epoch seconds, whole: the API server's
    creationTimestamp)."""

    def made() -> str | None:
        for workload in workloads(story, deal.contract):
            owners = workload["metadata"].get("ownerReferences") or []
            if any(owner.get("name") == job for owner in owners):
                return str(workload["metadata"]["creationTimestamp"])
        return None

    stamp = wait_until(made, timeout=30, what=f"the Workload of {job}")
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def pending_workloads_path(deal: Deal) -> str:
    room = clean_room(deal.contract)
    return f"{VISIBILITY}/namespaces/{room}/localqueues/tds-jobs/pendingworkloads"


def test_queued_jobs_show_their_places_in_creation_order_and_move_up(story: Story) -> None:
    # Each job takes all 16 GPUs of the pool: one runs, the others wait in Kueue. The first runs
    # long enough for both others to be queued and their places read (a look every 10 s) on a
    # loaded machine: with 30 s it sometimes ended first, and with 60 s the places were once not
    # both seen within 60 s on a quiet machine (CI): 150 s, and two minutes to see them.
    deal = story.deal(compute={"maxGpuHours": 10, "maxConcurrentGpus": 16})
    # The pool is the hub's 16 GPUs, all this organisation's: with the queue of an earlier test
    # still there it holds more than the nodes have, and Kueue reserves GPUs for the queued jobs
    # too (which the contract check hands back): not the queue this test is about.
    wait_for_pool(story, 16)
    (first,) = submit(story, deal, 1, run_for="150s")
    story.wait_job(deal.namespace, first, "Running", timeout=30)
    (second,) = submit(story, deal, 1, run_for="60s")
    queued(story, deal, second)
    # Kueue orders a queue's workloads of one priority by when they were made, to the second: two
    # made within one second come in either order (CI once saw the third job ahead, both made at
    # 10:45:40). The third is made a second after the second's Workload.
    made = workload_made(story, deal, second)
    time.sleep(max(0.0, made + 1.05 - time.time()))
    (third,) = submit(story, deal, 1, run_for="60s")
    queued(story, deal, third)
    try:
        wait_for(
            lambda: (position(story, deal, second), position(story, deal, third)),
            lambda places: places == (1, 2),
            timeout=120,
            what="the queued jobs at places 1 and 2, in the order they were created",
        )
    except AssertionError as error:
        queue = kubectl("get", "--raw", pending_workloads_path(deal))
        raise AssertionError(f"{error}; Kueue's queue now: {queue}") from None
    assert position(story, deal, first) is None
    # The first ends: Kueue admits the second, the third moves up to 1.
    story.wait_job(deal.namespace, second, "Admitted", "Running", timeout=180)
    wait_until(
        lambda: position(story, deal, third) == 1,
        timeout=30,
        what="the last queued job moved up to place 1",
    )
    assert position(story, deal, second) is None
    assert (story.job(deal.namespace, third) or {})["status"]["phase"] == "Queued"


@contextmanager
def visibility_api_gone() -> Iterator[None]:
    """The hub without Kueue's visibility API (its APIService deleted), restored afterwards."""
    saved = json.loads(kubectl("get", VISIBILITY_API, "-o", "json"))
    kubectl("delete", VISIBILITY_API)
    try:
        yield
    finally:
        manifest = {key: saved[key] for key in ("apiVersion", "kind", "spec")}
        manifest["metadata"] = {"name": saved["metadata"]["name"]}
        Person().create(manifest)
        kubectl("wait", "--for=condition=Available", "--timeout=60s", VISIBILITY_API)


def test_without_the_visibility_api_a_queued_job_has_no_position_and_runs_all_the_same(
    story: Story, operator: OperatorProcess
) -> None:
    with visibility_api_gone():
        deal = story.deal(compute={"maxGpuHours": 10, "maxConcurrentGpus": 16})
        (first,) = submit(story, deal, 1, run_for="10s")
        story.wait_job(deal.namespace, first, "Running", timeout=30)
        (second,) = submit(story, deal, 1, run_for="2s")
        queued(story, deal, second)
        # Until Kueue admits it, it waits with no position; then it runs.
        while (body := story.job(deal.namespace, second) or {})["status"]["phase"] == "Queued":
            assert "queuePosition" not in body["status"], body["status"]
            time.sleep(0.2)
        story.wait_job(deal.namespace, second, "Running", "Succeeded", timeout=60)
    # Said once, not at every reconcile of the queued job.
    assert operator.log_path.read_text().count(UNAVAILABLE) == 1


def test_no_party_reads_a_queue_through_kueues_visibility_api(story: Story) -> None:
    """The position a consumer sees is its own job's, written by the operator; the queue itself,
    with other jobs' names, is for the hub staff only: Kueue authorizes each read with the
    reader's RBAC, which grants the parties none."""
    deal = story.deal(compute={"maxGpuHours": 10, "maxConcurrentGpus": 16})
    (running,) = submit(story, deal, 1, run_for="120s")
    story.wait_job(deal.namespace, running, "Running", timeout=30)
    (waiting,) = submit(story, deal, 1, run_for="60s")
    queued(story, deal, waiting)
    wait_until(lambda: position(story, deal, waiting) == 1, timeout=30, what="place 1")
    # The hub staff see the queue there: the path the attackers try is the right one.
    path = pending_workloads_path(deal)
    pending = json.loads(kubectl("get", "--raw", path))
    names = {item["metadata"]["name"] for item in pending["items"]}
    waiting_workloads = [w for w in workloads(story, deal.contract) if not admitted(w)]
    not_admitted = {w["metadata"]["name"] for w in waiting_workloads}
    assert len(names) == 1, pending
    assert names == not_admitted, pending
    queue = cluster_queue(story, deal.consumer)
    assert queue is not None
    other = story.deal(members=True)
    attackers = [
        member_of(other.consumer),
        owner_of(other.consumer),
        owner_of(deal.provider),
        owner_of(deal.consumer),
    ]
    paths = [path, f"{VISIBILITY}/clusterqueues/{queue['metadata']['name']}/pendingworkloads"]
    for attacker in attackers:
        for attempt in paths:
            message = refusal(lambda a=attacker, p=attempt: a.kubectl("get", "--raw", p))
            assert "forbidden" in message.lower(), (attacker, attempt, message)
            assert "pendingworkloads" in message, message
            assert "visibility.kueue.x-k8s.io" in message, message
