"""A TrainingJob gone without the operator's finalizer (THREATS F3: hub staff stripped it, or the
API server's policy that keeps it was gone) leaves nothing that runs unmetered, nothing unrecorded,
and nothing a later job could adopt.

Both attacks run with the operator stopped, as the gap they use is the operator's absence: the
job is stripped and deleted with a resourceVersion precondition, so that no operator could put
its finalizer back in between.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from bench.hubkit.hub import CLUSTER_ADMIN, clean_room, get_or_none, operator_down, owner_of, unique
from bench.hubkit.manifests import Body, training_job_body
from bench.hubkit.processes import OperatorProcess
from bench.hubkit.training import Deal, Story
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
