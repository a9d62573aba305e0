"""A running job whose batch Job vanishes (deleted behind the operator's back; the chaos campaign
saw it after an API server restart) fails as JobLost, and the ledger records the GPU-seconds it
had metered, as its status and the contract's usage do, not zero."""

from __future__ import annotations

import pytest

from bench.hubkit.hub import clean_room, owner_of, unique
from bench.hubkit.manifests import condition, training_job_body
from bench.hubkit.training import Story
from bench.hubkit.waiting import wait_until

pytestmark = pytest.mark.integration


def test_a_vanished_batch_job_fails_as_lost_with_its_metered_seconds_on_the_record(
    story: Story,
) -> None:
    deal = story.deal()
    name = story.submit(
        owner_of(deal.consumer),
        training_job_body(
            unique("j"), deal.namespace, deal.contract, gpus_per_worker=2, run_for="300s"
        ),
    )
    running = story.wait_job(deal.namespace, name, "Running", timeout=30)
    wait_until(
        lambda: (story.job(deal.namespace, name) or {}).get("status", {}).get("gpuSeconds", 0) > 0,
        timeout=20,
        what=f"{name} metering",
    )
    # As hub staff: the batch Job disappears (with its pods) while the job runs.
    story.hub.batch.delete_namespaced_job(
        name, clean_room(deal.contract), propagation_policy="Background"
    )
    failed = story.wait_job(deal.namespace, name, "Failed", "Stopped", "Succeeded", timeout=30)
    assert failed["status"]["phase"] == "Failed", failed["status"]
    assert (condition(failed, "Finished") or {}).get("reason") == "JobLost"
    metered = int(failed["status"]["gpuSeconds"])
    assert metered > 0
    uid = running["metadata"]["uid"]
    ledger = story.ledger(deal.contract)
    (end,) = [e for e in ledger if e["kind"] == "JobFailed" and e["details"]["uid"] == uid]
    assert end["details"]["gpuSeconds"] == metered
    recorded = [e for e in ledger if e["kind"] == "UsageMetered" and e["details"]["uid"] == uid]
    assert sum(int(e["details"]["increment"]) for e in recorded) == metered
