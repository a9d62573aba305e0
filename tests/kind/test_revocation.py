"""Revocation on the wire (this module runs last: it revokes the tier's contract): a clean-room
read through the gateway is refused within 1 s, and the job's worker process ends within 2 s."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import pytest

from bench.hubkit.waiting import wait_until
from tds_operator.desired.cleanroom import WORKER_SERVICE_ACCOUNT
from tests.e2e.cluster import kubectl
from tests.e2e.story import Story
from tests.kind.watch import container_ids, exits_on, last_exit, watched, worker_ended
from tests.kind.wire import Prober, gateway_url, program, start_pod, token_pod

pytestmark = pytest.mark.kind

READS_REFUSED_WITHIN = 1.0
WORKER_ENDED_WITHIN = 2.0


@dataclass(frozen=True)
class Revocation:
    at: float  # epoch seconds, when the provider's owner sent it
    reads: list[tuple[float, str]]  # (start, ok|refused) of the watcher's reads
    worker_ended: float  # epoch seconds, when the watch first showed the worker's container ended
    worker_exited: float | None  # when containerd reported the last of the worker's processes ended
    worker_deleted: float | None  # when it first showed the worker's pod deleted (terminating)


def reads(namespace: str) -> list[tuple[float, str]]:
    lines = kubectl("logs", "watcher", "-n", namespace, check=False).split("\n")
    found = []
    for line in lines:
        start, _, outcome = line.partition(" ")
        if outcome in ("ok", "refused"):
            found.append((float(start), outcome))
    return found


@pytest.fixture(scope="module")
def revocation(story: Story, worker: Prober) -> Revocation:
    url = gateway_url(story)
    watcher = token_pod(
        "watcher",
        story.clean_room,
        program("watch", url, "/token/token"),
        service_account=WORKER_SERVICE_ACCOUNT,
    )
    start_pod(watcher)
    wait_until(
        lambda: [r for r in reads(story.clean_room) if r[1] == "ok"],
        timeout=60,
        what="the watcher's first read (positive control)",
    )
    pod = json.loads(kubectl("get", "pod", worker.name, "-n", worker.namespace, "-o", "json"))
    ids, node = container_ids(pod), pod["spec"]["nodeName"]
    assert ids, f"the worker's pod shows no container: {pod.get('status')}"
    with watched("pod", worker.name, worker.namespace) as events, exits_on(node) as exits:
        wait_until(lambda: events.got, timeout=30, what="the watch on the worker's pod")
        assert not events.first(worker_ended), "positive control: the worker ended before"
        time.sleep(1)  # the exit stream is open (`docker exec` starts it in a few tenths)
        assert last_exit(exits.got, ids) is None, "positive control: the worker's process ended"
        at = time.time()
        story.owner(story.provider).kubectl(
            "patch",
            "datacontract",
            story.contract_name,
            "--type=merge",
            "-p",
            '{"spec":{"revoked":true}}',
        )
        ended = wait_until(
            lambda: events.first(worker_ended, since=at),
            timeout=120,
            interval=0.05,
            what="the worker's container to end",
        )
        deleted = events.first(lambda _, pod: bool(pod["metadata"].get("deletionTimestamp")), at)
        exited = last_exit(exits.got, ids)
    time.sleep(READS_REFUSED_WITHIN + 2)
    revocation = Revocation(at, reads(story.clean_room), ended, exited, deleted)
    print(figures(revocation))  # shown with -rP: the bounds' margins, run by run
    return revocation


def figures(revocation: Revocation) -> str:
    """The last read served and the first refused after the revocation, and the worker's end,
    in seconds after it."""
    after = [(start - revocation.at, o) for start, o in revocation.reads if start >= revocation.at]
    served = [t for t, o in after if o == "ok"]
    refused = [t for t, o in after if o == "refused"]
    return (
        f"revocation figures: last read served {max(served, default=float('nan')):.3f}s, "
        f"first refused {min(refused, default=float('nan')):.3f}s, "
        f"worker deleted {(revocation.worker_deleted or float('nan')) - revocation.at:.3f}s, "
        f"worker's process ended {(revocation.worker_exited or float('nan')) - revocation.at:.3f}s"
        f", its pod reported so {revocation.worker_ended - revocation.at:.3f}s after"
    )


def test_a_clean_room_read_is_refused_within_1_s_of_revocation(revocation: Revocation) -> None:
    before = [o for start, o in revocation.reads if start < revocation.at]
    assert "ok" in before, f"positive control: no read succeeded before: {revocation.reads}"
    late = [
        (round(start - revocation.at, 3), o)
        for start, o in revocation.reads
        if start >= revocation.at + READS_REFUSED_WITHIN
    ]
    assert late, "no read after the revocation"
    assert all(o == "refused" for _, o in late), f"read after {READS_REFUSED_WITHIN}s: {late}"


# The worker's container ends at SIGTERM (the stand-in worker and the trainer's program handle it):
# the revocation's reconcile, the pods' deletion (grace 1 s, unused), the kubelet's SIGTERM. Timed
# by containerd's exit events on the worker's node: the process's own end. The pod's status says
# so only at the kubelet's next look at its containers (a relist each second), which the figures
# show beside it; the pod's watch confirms the end the runtime reported.
def test_a_revoked_jobs_worker_process_ends_within_2_s(revocation: Revocation) -> None:
    assert revocation.worker_exited is not None, "containerd reported no end of the worker"
    took = revocation.worker_exited - revocation.at
    assert took <= WORKER_ENDED_WITHIN, f"the worker's process ended {took:.2f}s after"
    assert revocation.worker_ended >= revocation.worker_exited, "the pod ended before its process"
