"""TrainingJobs queued in Kueue (HUB_KUEUE=1 make hub-up; make integration-kueue), the contract
as Kueue's AdmissionCheck: jobs that do not fit yet run one after another, none denied, each
metered for its own run; a 2 x 8 job starts all its workers together or none; revocation stops the
running job and denies the queued ones; the consumer can neither edit Kueue's objects nor answer
the contract check itself. The hub has 16 GPUs (two nodes of 8)."""

from __future__ import annotations

import itertools
import time
from datetime import datetime
from typing import Any

import pytest

from bench.hubkit.hub import (
    clean_room,
    get_or_none,
    owner_of,
    refusal,
)
from bench.hubkit.kueue import (
    KUEUE,
    VERSION,
    WAITING_REASONS,
    admitted,
    cluster_queue,
    queued,
    running_gpus,
    submit,
    workloads,
)
from bench.hubkit.manifests import Body, condition
from bench.hubkit.training import STOP_LATENCY_TARGET, Deal, Story
from bench.hubkit.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.kueue]

RUN_SECONDS = 3


def test_jobs_that_do_not_fit_run_one_after_another_each_metered_for_its_own_run(
    story: Story,
) -> None:
    deal = story.deal(compute={"maxGpuHours": 10, "maxConcurrentGpus": 16})
    names = submit(story, deal, 3, run_for=f"{RUN_SECONDS}s")
    # One at a time: while one runs, the others wait Queued, saying why, never Denied.
    give_up = time.monotonic() + 120
    reasons: set[str] = set()
    while not all(_ended(story, deal, name) for name in names):
        assert time.monotonic() < give_up, "the jobs did not all end"
        for name in names:
            body = story.job(deal.namespace, name) or {}
            status = body.get("status") or {}
            assert status.get("phase") != "Denied", status
            if status.get("phase") == "Queued" and not story.pods(deal.contract, name):
                assert not status.get("gpuSeconds"), status
                reasons.add((condition(body, "Queued") or {}).get("reason") or "")
        time.sleep(0.2)
    assert reasons, "no job was seen Queued"
    assert reasons <= WAITING_REASONS | {"CleanRoomNotReady"}, reasons
    windows = []
    for name in names:
        body = story.job(deal.namespace, name) or {}
        assert body["status"]["phase"] == "Succeeded", body["status"]
        # 2 workers x 8 GPUs for its own run alone: not the time it waited.
        used = body["status"]["gpuSeconds"]
        assert 16 * RUN_SECONDS <= used <= 16 * (RUN_SECONDS + 2), body["status"]
        pods = story.pods(deal.contract, name)
        assert len(pods) == 2
        windows.append((min(p.status.start_time for p in pods), max(_finished_at(p) for p in pods)))
    windows.sort()
    for (_, end), (start, _) in itertools.pairwise(windows):
        assert start >= end, f"two jobs ran at once: {windows}"
    assert not [w for w in workloads(story, deal.contract) if admitted(w) and not _finished(w)]


def _ended(story: Story, deal: Deal, name: str) -> bool:
    phase = ((story.job(deal.namespace, name) or {}).get("status") or {}).get("phase")
    return phase in ("Succeeded", "Failed", "Stopped", "Denied")


def _finished_at(pod: Any) -> datetime:
    finished: datetime = pod.status.container_statuses[0].state.terminated.finished_at
    return finished


def _finished(workload: Body) -> bool:
    conditions = (workload.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Finished" and c["status"] == "True" for c in conditions)


def test_a_two_by_eight_job_waits_for_sixteen_free_gpus(story: Story) -> None:
    deal = story.deal(compute={"maxGpuHours": 10, "maxConcurrentGpus": 16})
    (holder,) = submit(story, deal, 1, workers=1, run_for="6s")
    story.wait_job(deal.namespace, holder, "Running", timeout=30)
    (gang,) = submit(story, deal, 1, run_for="2s")
    queued(story, deal, gang)
    # While the holder runs on 8 GPUs, not one of the gang's workers exists.
    while (story.job(deal.namespace, holder) or {}).get("status", {}).get("phase") == "Running":
        assert story.pods(deal.contract, gang) == [], "a worker started on half the GPUs"
        time.sleep(0.2)
    body = story.wait_job(deal.namespace, gang, "Succeeded", timeout=60)
    assert len({pod.spec.node_name for pod in story.pods(deal.contract, gang)}) == 2
    assert body["status"]["gpuSeconds"] >= 16 * 2


def test_revocation_stops_a_job_running_in_kueue_as_soon_as_without_it(story: Story) -> None:
    """Kueue admitted the job; the operator's stop does not wait for Kueue to evict it."""
    deal = story.deal()
    (name,) = submit(story, deal, 1, run_for="60s")
    story.wait_job(deal.namespace, name, "Running", timeout=30)
    time.sleep(2.0)  # some GPU time to meter at the stop
    stop_lag, gone_lag = story.revoke_timed(deal, name)
    assert stop_lag <= STOP_LATENCY_TARGET
    assert gone_lag <= STOP_LATENCY_TARGET
    stopped = story.job(deal.namespace, name) or {}
    assert (condition(stopped, "Finished") or {}).get("reason") == "Revoked", stopped.get("status")
    assert stopped["status"]["gpuSeconds"] > 0


def test_revocation_stops_the_running_job_and_denies_the_queued_ones(story: Story) -> None:
    deal = story.deal(compute={"maxGpuHours": 10, "maxConcurrentGpus": 16})
    first, *waiting = submit(story, deal, 3, run_for="120s")
    story.wait_job(deal.namespace, first, "Running", timeout=30)
    for name in waiting:
        queued(story, deal, name)
    # The same bound as for a job running alone; the docs give the figures.
    stop_lag, gone_lag = story.revoke_timed(deal, first)
    assert stop_lag <= STOP_LATENCY_TARGET
    assert gone_lag <= STOP_LATENCY_TARGET
    stopped = story.wait_job(deal.namespace, first, "Stopped", timeout=10)
    assert (condition(stopped, "Finished") or {}).get("reason") == "Revoked", stopped["status"]
    for name in waiting:
        denied = story.wait_job(deal.namespace, name, "Denied", timeout=10)
        assert (condition(denied, "Admitted") or {}).get("reason") == "Revoked", denied["status"]
        assert not denied["status"].get("gpuSeconds")
    # No workload of the contract is left admitted (nor left at all, once the GC ran).
    wait_until(
        lambda: not [w for w in workloads(story, deal.contract) if admitted(w)],
        timeout=10,
        what="no admitted Workload of the revoked contract",
    )


def test_the_consumer_can_neither_edit_kueues_objects_nor_answer_the_contract_check(
    story: Story,
) -> None:
    deal = story.deal(compute={"maxGpuHours": 10, "maxConcurrentGpus": 16})
    (name,) = submit(story, deal, 1, run_for="120s")
    # Its Workload is what the attacker goes for. With the GPU pool free, Kueue admits the job
    # within a second, so it may never be seen Queued: any phase with a Workload will do.
    story.wait_job(deal.namespace, name, "Queued", "Admitted", "Running", timeout=60)
    room = clean_room(deal.contract)
    workload = wait_until(
        lambda: next(iter(workloads(story, deal.contract)), None),
        timeout=30,
        what="the job's Workload",
    )
    attacker = owner_of(deal.consumer)
    ready = (
        '{"status":{"admissionChecks":[{"name":"tds-contract","state":"Ready",'
        '"message":"self-approved","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}'
    )
    attacks = [
        ("patch", "workloads.kueue.x-k8s.io", workload["metadata"]["name"], "-n", room,
         "--subresource=status", "--type=merge", "-p", ready),
        ("patch", "workloads.kueue.x-k8s.io", workload["metadata"]["name"], "-n", room,
         "--type=merge", "-p", '{"spec":{"priority":1000000}}'),
        ("patch", "localqueues.kueue.x-k8s.io", "tds-jobs", "-n", room, "--type=merge",
         "-p", '{"spec":{"clusterQueue":"elsewhere"}}'),
        ("patch", "clusterqueues.kueue.x-k8s.io", f"tds-{deal.consumer}", "--type=merge",
         "-p", '{"spec":{"admissionChecksStrategy":null}}'),
        ("patch", "admissionchecks.kueue.x-k8s.io", "tds-contract", "--type=merge",
         "-p", '{"spec":{"controllerName":"attacker"}}'),
    ]  # fmt: skip
    for attack in attacks:
        assert "forbidden" in refusal(lambda a=attack: attacker.kubectl(*a)).lower(), attack
    # Its own LocalQueue onto another organisation's ClusterQueue: refused too.
    local = {
        "apiVersion": f"{KUEUE}/{VERSION}",
        "kind": "LocalQueue",
        "metadata": {"name": "borrowed", "namespace": deal.namespace},
        "spec": {"clusterQueue": f"tds-{deal.provider}"},
    }
    assert "forbidden" in refusal(lambda: attacker.create(local)).lower()
    # The job still waits for the contract's answer, which the attacker could not give.
    live = story.job(deal.namespace, name) or {}
    assert live["status"]["phase"] in ("Queued", "Admitted", "Running")


def test_each_organisation_gets_its_guaranteed_share_and_borrows_an_idle_ones(
    story: Story,
) -> None:
    # Two consumer organisations, each guaranteed 8 of the hub's 16 GPUs.
    first = story.deal(gpus=8, compute={"maxGpuHours": 10, "maxConcurrentGpus": 16})
    second = story.deal(gpus=8, compute={"maxGpuHours": 10, "maxConcurrentGpus": 16})
    (warm_up,) = submit(story, second, 1, workers=1, run_for="1s")
    story.wait_job(second.namespace, warm_up, "Succeeded", timeout=60)
    # The second is idle: the first borrows its share and runs two 8-GPU jobs at once.
    a1, a2, a3 = (
        submit(story, first, 1, workers=1, run_for=run)[0] for run in ("20s", "30s", "4s")
    )
    wait_until(
        lambda: running_gpus(story, first, [a1, a2]) == 16,
        timeout=30,
        what="the first organisation running 16 GPUs, 8 of them borrowed",
    )
    # The second wants its share back: when a GPU node frees, its job (within its guarantee)
    # comes before the first's third job (which would borrow), although queued later.
    b1, b2 = (submit(story, second, 1, workers=1, run_for="4s")[0] for _ in range(2))
    wait_until(
        lambda: len(workloads(story, second.contract)) == 3,
        timeout=30,
        what="the second organisation's two jobs waiting in Kueue",
    )
    assert running_gpus(story, first, [a1, a2]) == 16, "the borrowed GPUs ended before the test"
    for deal, name in ((first, a1), (first, a2), (first, a3), (second, b1), (second, b2)):
        story.wait_job(deal.namespace, name, "Succeeded", timeout=90)
    runs = {
        label: (
            min(pod.status.start_time for pod in story.pods(deal.contract, name)),
            max(_finished_at(pod) for pod in story.pods(deal.contract, name)),
        )
        for label, deal, name in (
            ("a1", first, a1), ("a2", first, a2), ("a3", first, a3),
            ("b1", second, b1), ("b2", second, b2),
        )
    }  # fmt: skip
    origin = runs["a1"][0]
    print("\nruns (s from the first start, 8 GPUs each):", {
        label: ((begin - origin).total_seconds(), (end - origin).total_seconds())
        for label, (begin, end) in runs.items()
    })  # fmt: skip
    assert runs["a1"][1] <= runs["b1"][0] < runs["a3"][0], runs


def test_an_organisation_joins_the_pool_when_its_contract_becomes_active(story: Story) -> None:
    """Its ClusterQueue, open to the contract's clean room, and the clean room's LocalQueue exist
    before any job starts; the consumer can still not point that LocalQueue elsewhere."""
    deal = story.deal()
    story.wait_contract(deal.contract, "Active")
    room = clean_room(deal.contract)

    def pool_member() -> Body | None:
        found = cluster_queue(story, deal.consumer)
        selector = ((found or {}).get("spec") or {}).get("namespaceSelector") or {}
        names = {n for e in selector.get("matchExpressions") or [] for n in e.get("values", [])}
        return found if room in names else None

    queue = wait_until(pool_member, timeout=30, what=f"ClusterQueue tds-{deal.consumer} for {room}")
    assert queue["spec"]["cohortName"] == "tds-gpu-pool", queue["spec"]
    local = wait_until(
        lambda: get_or_none(
            lambda: story.hub.custom.get_namespaced_custom_object(
                KUEUE, VERSION, room, "localqueues", "tds-jobs"
            )
        ),
        timeout=30,
        what=f"LocalQueue tds-jobs in {room}",
    )
    assert local["spec"]["clusterQueue"] == f"tds-{deal.consumer}", local["spec"]
    assert not workloads(story, deal.contract), "a Workload before any job"
    message = refusal(
        lambda: owner_of(deal.consumer).kubectl(
            "patch", "localqueues.kueue.x-k8s.io", "tds-jobs", "-n", room, "--type=merge",
            "-p", '{"spec":{"clusterQueue":"elsewhere"}}',
        )
    )  # fmt: skip
    assert "forbidden" in message, message
