"""Seconds are metered even when the worker pods are taken away behind the operator's back.

Hub staff (or the Job controller at a deadline, or the garbage collector after an API server
restart) deleting the running pods, or the batch Job while orphaning its pods, must neither lose
the seconds the pods ran since the operator last metered them nor leave pods running unmetered:
every worker pod carries the operator's metering finalizer, so a deleted pod stays, terminated
with its finish time, until its seconds are on the record.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kubernetes import client

from bench.hubkit.hub import clean_room, owner_of, unique
from bench.hubkit.manifests import Body, condition, training_job_body
from bench.hubkit.training import Deal, Story
from bench.hubkit.waiting import wait_until

pytestmark = pytest.mark.integration

GPUS_PER_WORKER = 4
WORKERS = 2
ENDS = ("JobSucceeded", "JobFailed", "JobStopped")


def _long_job(story: Story, deal: Deal) -> str:
    """A job of WORKERS workers that would run for five minutes."""
    body = training_job_body(
        unique("j"),
        deal.namespace,
        deal.contract,
        workers=WORKERS,
        gpus_per_worker=GPUS_PER_WORKER,
        run_for="300s",
    )
    return story.submit(owner_of(deal.consumer), body)


def _running_pods(story: Story, contract: str, job: str) -> list[client.V1Pod]:
    def all_running() -> list[client.V1Pod] | None:
        pods = story.pods(contract, job)
        started = [p for p in pods if _started(p) is not None]
        return pods if len(started) == WORKERS else None

    return wait_until(all_running, timeout=30, what=f"{job}'s {WORKERS} workers running")


def _started(pod: client.V1Pod) -> datetime | None:
    for status in pod.status.container_statuses or []:
        if status.state.running is not None:
            return status.state.running.started_at  # type: ignore[no-any-return]
    return None


def _metered_on_record(story: Story, contract: str, job: Body) -> int:
    """The job's final figure as the ledger records it (its end entry), equal to its usage."""
    uid = job["metadata"]["uid"]
    ledger = story.ledger(contract)
    (end,) = [e for e in ledger if e["kind"] in ENDS and e["details"].get("uid") == uid]
    usage = [e for e in ledger if e["kind"] == "UsageMetered" and e["details"]["uid"] == uid]
    assert sum(int(e["details"]["increment"]) for e in usage) == end["details"]["gpuSeconds"]
    return int(end["details"]["gpuSeconds"])


def _no_pod_left(story: Story, contract: str, job: str) -> None:
    """Metered, the pods are let go: the metering finalizer does not keep them."""
    wait_until(lambda: not story.pods(contract, job), timeout=30, what=f"{job}'s pods gone")


def test_pods_deleted_behind_the_operators_back_are_metered_to_their_deletion(
    story: Story,
) -> None:
    deal = story.deal()
    name = _long_job(story, deal)
    pods = _running_pods(story, deal.contract, name)
    wait_until(
        lambda: (story.job(deal.namespace, name) or {}).get("status", {}).get("gpuSeconds", 0) > 0,
        timeout=20,
        what=f"{name} metering",
    )
    # As hub staff: the running workers are deleted at once, without a grace period.
    ran = 0.0
    for pod in pods:
        deleted = story.hub.core.delete_namespaced_pod(
            pod.metadata.name, clean_room(deal.contract), grace_period_seconds=0
        )
        stamp = deleted.metadata.deletion_timestamp or datetime.now(UTC)
        start = _started(pod)
        assert start is not None
        ran += (stamp - start).total_seconds() * GPUS_PER_WORKER
    ended = story.wait_job(deal.namespace, name, "Failed", "Stopped", "Succeeded", timeout=30)
    assert ended["status"]["phase"] == "Failed", ended["status"]
    metered = int(ended["status"]["gpuSeconds"])
    # Within one second per pod of what the pods ran.
    assert abs(metered - ran) <= WORKERS * GPUS_PER_WORKER, (metered, ran)
    assert _metered_on_record(story, deal.contract, ended) == metered
    _no_pod_left(story, deal.contract, name)


def test_pods_orphaned_by_their_vanished_batch_job_are_stopped_and_metered(
    story: Story,
) -> None:
    deal = story.deal()
    name = _long_job(story, deal)
    pods = _running_pods(story, deal.contract, name)
    starts = [_started(pod) for pod in pods]
    # As hub staff: the batch Job goes, its pods are orphaned and would run on without it.
    story.hub.batch.delete_namespaced_job(
        name, clean_room(deal.contract), propagation_policy="Orphan"
    )
    vanished = datetime.now(UTC)
    ended = story.wait_job(deal.namespace, name, "Failed", "Stopped", "Succeeded", timeout=30)
    seen = datetime.now(UTC)
    assert ended["status"]["phase"] == "Failed", ended["status"]
    assert (condition(ended, "Finished") or {}).get("reason") == "JobLost"
    # The operator stopped the orphaned pods itself, between the loss and the end it reported.
    _no_pod_left(story, deal.contract, name)
    least = sum((vanished - s).total_seconds() for s in starts if s) * GPUS_PER_WORKER
    most = sum((seen - s).total_seconds() for s in starts if s) * GPUS_PER_WORKER
    metered = int(ended["status"]["gpuSeconds"])
    tolerance = WORKERS * GPUS_PER_WORKER
    assert least - tolerance <= metered <= most + tolerance, (least, metered, most)
    assert _metered_on_record(story, deal.contract, ended) == metered
