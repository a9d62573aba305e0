"""An output is listed only once nothing can write to it any more: a worker stopped by a
revocation keeps running through its termination grace period (on the hub, the annotation
`hub.tds.io/grace`), and a byte it wrote after the hash would leave the clean room unlisted."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from bench.hubkit.hub import clean_room, get_or_none, owner_of, unique
from bench.hubkit.manifests import training_job_body
from bench.hubkit.training import (
    Story,
    end_manifest_step,
    listed_manifest,
    output_files,
)
from bench.hubkit.waiting import wait_until
from tds_operator.desired.outputs import manifest_pod_name
from tds_operator.policy.manifest import WRITERS_OVERDUE, WRITERS_WAIT_SECONDS, read_message

pytestmark = pytest.mark.integration

GRACE = 15
"""Seconds a stopped worker keeps running (and may write to /output)."""


def test_the_manifest_waits_for_workers_in_their_grace_period(story: Story) -> None:
    """The attacker, a consumer's workload, keeps writing to /output after its contract is
    revoked, inside its grace period. The manifest step starts only once no worker runs.
    Positive control: it does start then, and the output is listed."""
    deal = story.deal(outputs={"modelExport": "review"})
    name = unique("j")
    body = training_job_body(
        name, deal.namespace, deal.contract, run_for="600s", output={"size": "1Gi"}
    )
    body["metadata"]["annotations"]["hub.tds.io/grace"] = f"{GRACE}s"
    story.submit(owner_of(deal.consumer), body)
    story.wait_job(deal.namespace, name, "Running", timeout=30)
    story.contracts.revoke(owner_of(deal.provider), deal.contract)

    def running_workers() -> list[str]:
        return [
            p.metadata.name
            for p in story.pods(deal.contract, name)
            if p.status.phase in ("Pending", "Running")
        ]

    def in_grace() -> list[str] | None:
        pods = story.pods(deal.contract, name)
        held = [p.metadata.name for p in pods if p.metadata.deletion_timestamp]
        return held if held and running_workers() else None

    wait_until(in_grace, timeout=30, what=f"a worker of {name} inside its grace period")
    room, step = clean_room(deal.contract), manifest_pod_name(name)
    overlaps: list[str] = []
    deadline = time.monotonic() + GRACE + 60
    while time.monotonic() < deadline:
        # The step's pod first, the workers after: a worker running after the step exists
        # overlapped it.
        pod = get_or_none(lambda: story.hub.core.read_namespaced_pod(step, room))
        if pod is not None:
            overlaps = running_workers()
            break
        time.sleep(0.2)
    assert pod is not None, "the manifest step never started"
    assert overlaps == [], f"the manifest step started while {overlaps} still ran"

    with tempfile.TemporaryDirectory() as directory:
        message = listed_manifest(output_files(Path(directory)))
    end_manifest_step(story, deal, name, message)
    manifest = read_message(message)
    assert manifest is not None

    def listed() -> str | None:
        output = ((story.job(deal.namespace, name) or {}).get("status") or {}).get("output") or {}
        return output.get("manifestDigest") if output.get("state") == "Quarantined" else None

    assert wait_until(listed, timeout=30, what=f"output of {name} listed") == manifest.digest


def test_a_worker_that_never_ends_leaves_the_output_unlisted_not_inventorying_forever(
    story: Story,
) -> None:
    """A stopped worker that never ends (its node gone silent; on the hub a grace of a day)
    would keep the output Inventorying for good, and its job with it. After the bound the output
    is recorded Quarantined without a manifest, saying why: it can never be approved. (The
    positive control, a worker that does end within the bound and an output listed after it,
    is the test above.)"""
    deal = story.deal(outputs={"modelExport": "review"})
    name = unique("j")
    body = training_job_body(
        name, deal.namespace, deal.contract, run_for="600s", output={"size": "1Gi"}
    )
    body["metadata"]["annotations"]["hub.tds.io/grace"] = "24h"
    story.submit(owner_of(deal.consumer), body)
    story.wait_job(deal.namespace, name, "Running", timeout=30)
    story.contracts.revoke(owner_of(deal.provider), deal.contract)
    try:

        def output() -> dict[str, Any]:
            job = story.job(deal.namespace, name) or {}
            return dict((job.get("status") or {}).get("output") or {})

        wait_until(lambda: output().get("state") == "Inventorying", timeout=30, what="Inventorying")
        assert story.pods(deal.contract, name)[0].status.phase == "Running"
        wait_until(
            lambda: output().get("state") == "Quarantined",
            timeout=WRITERS_WAIT_SECONDS + 30,
            what=f"output of {name} out of Inventorying",
        )
        assert output().get("manifestMessage") == WRITERS_OVERDUE
        assert output().get("manifestDigest") is None
        # The worker still runs: nothing was hashed while it could write.
        assert story.pods(deal.contract, name)[0].status.phase == "Running"
        assert (
            get_or_none(
                lambda: story.hub.core.read_namespaced_pod(
                    manifest_pod_name(name), clean_room(deal.contract)
                )
            )
            is None
        )
    finally:
        for pod in story.pods(deal.contract, name):
            story.hub.core.delete_namespaced_pod(
                pod.metadata.name, clean_room(deal.contract), grace_period_seconds=0
            )
