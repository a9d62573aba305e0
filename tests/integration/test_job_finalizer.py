"""A deleted running job really stops (THREATS F3): its finalizer cannot be stripped.

The attack is race-free: the consumer's owner strips the TrainingJob's finalizer and deletes the
job with a resourceVersion precondition, so the operator has no moment to put its finalizer back;
without the seal the job is gone at once while its batch Job runs on, unmetered. The spaces'
job-finalizers admission policy refuses the strip in the API server, so this holds with the
operator stopped and its webhook configuration gone. The positive control: the operator itself
still removes its finalizer when the deleted job's workers are stopped and metered.
"""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from bench.hubkit.hub import CLUSTER_ADMIN, Person, operator_down, owner_of, refusal, unique
from bench.hubkit.manifests import Body, training_job_body
from bench.hubkit.processes import OperatorProcess
from bench.hubkit.training import Deal, Story
from bench.hubkit.waiting import wait_until
from tds_operator import GROUP, VERSION
from tds_operator.desired.admission import JOB_FINALIZER_POLICY, OPERATOR_FINALIZER

pytestmark = pytest.mark.integration

STRIP = json.dumps([{"op": "remove", "path": "/metadata/finalizers"}])


def running_job(story: Story, deal: Deal) -> str:
    """A one-GPU TrainingJob of the consumer that runs far longer than the test."""
    body = training_job_body(unique("j"), deal.namespace, deal.contract, run_for="600s")
    name = story.submit(owner_of(deal.consumer), body)
    story.wait_job(deal.namespace, name, "Running", timeout=30)
    return name


def delete_at(by: Person, deal: Deal, name: str, resource_version: str) -> None:
    """Delete the job only if it is still at `resource_version` (no one changed it since)."""
    options = client.V1DeleteOptions(
        preconditions=client.V1Preconditions(resource_version=resource_version)
    )
    by.api().delete_namespaced_custom_object(
        GROUP, VERSION, deal.namespace, "trainingjobs", name, body=options
    )


def strip_and_delete(by: Person, deal: Deal, name: str) -> None:
    """The attack: the finalizer stripped, then the job deleted at the version the strip made."""
    resource_version = by.kubectl(
        "patch", "trainingjob", name, "-n", deal.namespace, "--type=json", "-p", STRIP,
        "-o", "jsonpath={.metadata.resourceVersion}",
    )  # fmt: skip
    delete_at(by, deal, name, resource_version)


def finalizers(job: Body | None) -> list[str]:
    assert job is not None
    return list(job["metadata"].get("finalizers") or [])


def test_nobody_but_the_operator_strips_a_running_jobs_finalizer(
    story: Story, operator: OperatorProcess, api_client: client.ApiClient
) -> None:
    deal = story.deal()
    consumer = owner_of(deal.consumer)
    name = running_job(story, deal)
    started = story.job(deal.namespace, name)
    assert started is not None
    uid = started["metadata"]["uid"]
    with operator_down(operator, api_client):
        answer = refusal(lambda: strip_and_delete(consumer, deal, name))
        assert f"ValidatingAdmissionPolicy '{JOB_FINALIZER_POLICY}'" in answer, answer
        assert "metadata.finalizers" in answer, answer
        job = story.job(deal.namespace, name)
        assert OPERATOR_FINALIZER in finalizers(job)
        # Deleted anyway, at the version just read: the finalizer holds the job, and its
        # batch Job waits for the operator.
        delete_at(consumer, deal, name, job["metadata"]["resourceVersion"])  # type: ignore[index]
        held = story.job(deal.namespace, name)
        assert held is not None
        assert held["metadata"].get("deletionTimestamp"), held
        assert OPERATOR_FINALIZER in finalizers(held)
        assert story.batch_job(deal.contract, name) is not None
    # The positive control: back, the operator stops the deleted job's workers, meters them on
    # the record and then removes its own finalizer, which the policy lets it do.
    wait_until(lambda: story.job(deal.namespace, name) is None, timeout=30, what="job let go")
    assert story.batch_job(deal.contract, name) is None
    wait_until(lambda: not story.pods(deal.contract, name), timeout=30, what="worker pods gone")
    kinds = [e["kind"] for e in story.ledger(deal.contract) if e["details"].get("uid") == uid]
    assert "UsageMetered" in kinds, kinds


def test_a_job_let_go_by_hub_staff_anyway_stops_its_workers_at_once(story: Story) -> None:
    deal = story.deal()
    name = running_job(story, deal)
    assert story.batch_job(deal.contract, name) is not None
    # Hub staff may strip the finalizer (the policy lets who may update the finalizers); the job
    # is then gone before the operator can stop it, as the attack above would have made it.
    # The operator may write the job between the strip and the delete (and put its finalizer
    # back): the precondition then refuses the delete, and staff try again.
    for _ in range(10):
        try:
            strip_and_delete(CLUSTER_ADMIN, deal, name)
            break
        except client.ApiException as error:
            if error.status != 409:
                raise
    assert story.job(deal.namespace, name) is None
    # Nothing meters or ends its workers any more: the operator deletes them at once.
    wait_until(
        lambda: story.batch_job(deal.contract, name) is None, timeout=10, what="batch Job gone"
    )
    wait_until(lambda: not story.pods(deal.contract, name), timeout=10, what="worker pods gone")
