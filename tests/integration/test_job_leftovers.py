"""A TrainingJob gone without the operator's finalizer (THREATS F3: hub staff stripped it, or the
API server's policy that keeps it was gone) leaves nothing that runs unmetered, nothing unrecorded,
and nothing a later job could adopt.

Both attacks run with the operator stopped, as the gap they use is the operator's absence: the
job is stripped and deleted with a resourceVersion precondition, so that no operator could put
its finalizer back in between.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from kubernetes import client

from bench.hubkit.hub import CLUSTER_ADMIN, clean_room, get_or_none, operator_down, owner_of, unique
from bench.hubkit.manifests import Body, training_job_body
from bench.hubkit.processes import OperatorProcess
from bench.hubkit.training import Deal, Story
from bench.hubkit.waiting import wait_until
from tds_operator import GROUP, VERSION

pytestmark = pytest.mark.integration

STRIP = json.dumps([{"op": "remove", "path": "/metadata/finalizers"}])
UID_LABEL = "tds.io/training-job-uid"


def submit_running(story: Story, deal: Deal, name: str | None = None) -> Body:
    """A one-GPU TrainingJob with an output, running far longer than the test."""
    body = training_job_body(
        name or unique("j"),
        deal.namespace,
        deal.contract,
        gpus_per_worker=1,
        run_for="600s",
        output={"size": "1Gi"},
    )
    name = story.submit(owner_of(deal.consumer), body)
    return story.wait_job(deal.namespace, name, "Running", timeout=60)


def let_go(deal: Deal, name: str) -> None:
    """Hub staff strip the job's finalizer and delete it at the version the strip made."""
    version = CLUSTER_ADMIN.kubectl(
        "patch", "trainingjob", name, "-n", deal.namespace, "--type=json", "-p", STRIP,
        "-o", "jsonpath={.metadata.resourceVersion}",
    )  # fmt: skip
    options = client.V1DeleteOptions(preconditions=client.V1Preconditions(resource_version=version))
    CLUSTER_ADMIN.api().delete_namespaced_custom_object(
        GROUP, VERSION, deal.namespace, "trainingjobs", name, body=options
    )


def claim(story: Story, deal: Deal, name: str) -> client.V1PersistentVolumeClaim | None:
    core = story.hub.core
    return get_or_none(
        lambda: core.read_namespaced_persistent_volume_claim(
            f"{name}-output", clean_room(deal.contract)
        )
    )


def entries_of(story: Story, deal: Deal, uid: str) -> dict[str, dict[str, Any]]:
    """The ledger's entries about the job `uid`, by kind (the latest of each)."""
    return {e["kind"]: e for e in story.ledger(deal.contract) if e["details"].get("uid") == uid}


def test_a_new_job_of_a_gone_jobs_name_adopts_nothing_it_left(
    story: Story, operator: OperatorProcess, api_client: client.ApiClient
) -> None:
    deal = story.deal(outputs={"modelExport": "review"})
    gone = submit_running(story, deal)
    name, gone_uid = gone["metadata"]["name"], gone["metadata"]["uid"]
    old_batch, old_claim = story.batch_job(deal.contract, name), claim(story, deal, name)
    assert old_batch is not None
    assert old_claim is not None
    with operator_down(operator, api_client):
        let_go(deal, name)
        assert story.job(deal.namespace, name) is None
        # What it left runs on; a job of the same name comes while nobody looks.
        assert story.batch_job(deal.contract, name) is not None
        body = training_job_body(
            name, deal.namespace, deal.contract, gpus_per_worker=1, run_for="600s",
            output={"size": "1Gi"},
        )  # fmt: skip
        story.submit(owner_of(deal.consumer), body)
    # The positive control: the new job runs, on a batch Job and an output of its own.
    new = story.wait_job(deal.namespace, name, "Running", timeout=60)
    new_uid = new["metadata"]["uid"]
    assert new_uid != gone_uid
    batch, own_claim = story.batch_job(deal.contract, name), claim(story, deal, name)
    assert batch is not None
    assert own_claim is not None
    assert batch.metadata.uid != old_batch.metadata.uid, "the old batch Job was adopted"
    assert own_claim.metadata.uid != old_claim.metadata.uid, "the old output claim was adopted"
    assert batch.metadata.labels[UID_LABEL] == new_uid
    assert own_claim.metadata.labels[UID_LABEL] == new_uid
    pods = story.pods(deal.contract, name)
    assert pods
    assert all(pod.metadata.labels[UID_LABEL] == new_uid for pod in pods)
    # What the gone job left was ended on its own record, not the new job's.
    gone_entries = entries_of(story, deal, gone_uid)
    assert gone_entries["JobStopped"]["details"]["reason"] == "TrainingJobGone"
    assert gone_entries["OutputDeleted"]["details"]["reason"] == "TrainingJobGone"
    assert "OutputDeleted" not in entries_of(story, deal, new_uid)


def test_a_job_gone_without_its_finalizer_is_metered_and_its_output_discarded_on_the_record(
    story: Story, operator: OperatorProcess, api_client: client.ApiClient
) -> None:
    deal = story.deal(outputs={"modelExport": "review"})
    sibling = submit_running(story, deal)
    gone = submit_running(story, deal)
    name, uid = gone["metadata"]["name"], gone["metadata"]["uid"]
    volume = claim(story, deal, name).spec.volume_name  # type: ignore[union-attr]
    started = time.monotonic()
    with operator_down(operator, api_client):
        let_go(deal, name)
        time.sleep(3)  # it runs on, unmetered, while nobody looks
        ran_at_least = time.monotonic() - started
    # The operator, back, stops what the gone job left and meters it to that moment.
    wait_until(lambda: story.batch_job(deal.contract, name) is None, timeout=30, what="batch Job")
    wait_until(lambda: not story.pods(deal.contract, name), timeout=30, what="worker pods gone")
    wait_until(lambda: claim(story, deal, name) is None, timeout=30, what="output claim gone")
    entries = wait_until(
        lambda: (lambda e: e if "OutputDeleted" in e else None)(entries_of(story, deal, uid)),
        timeout=30,
        what="the discard on the ledger",
    )
    assert entries["JobStopped"]["details"]["reason"] == "TrainingJobGone"
    assert entries["OutputDeleted"]["details"]["reason"] == "TrainingJobGone"
    assert entries["OutputDeleted"]["details"]["volume"] == volume
    metered = entries["UsageMetered"]["details"]["gpuSeconds"]
    assert metered >= int(ran_at_least), (metered, ran_at_least)
    # On the contract's usage too.
    wait_until(
        lambda: (
            (story.contract(deal.contract).get("status") or {}).get("usage", {}).get("gpuHours", 0)
            * 3600
            >= metered
        ),
        timeout=30,
        what="the gone job's usage on the contract",
    )
    # The positive control: the contract's live job runs on untouched.
    live = story.job(deal.namespace, sibling["metadata"]["name"])
    assert live is not None
    assert live["status"]["phase"] == "Running"
    assert story.batch_job(deal.contract, sibling["metadata"]["name"]) is not None
    assert not entries_of(story, deal, sibling["metadata"]["uid"]).get("JobStopped")
