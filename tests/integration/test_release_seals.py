"""A release's review holds without the operator: with the operator stopped and its webhook
configuration gone, the API server refuses a consumer owner's review (the spaces' releases
policy), and the reconciler acts on no review its webhook did not seal. Each attack has its
positive control beside it."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from bench.hubkit.hub import (
    CLUSTER_ADMIN,
    Person,
    audit_verify,
    clean_room,
    operator_down,
    owner_of,
    refusal,
)
from bench.hubkit.processes import OperatorProcess
from bench.hubkit.training import (
    RELEASES,
    Deal,
    Story,
    ask_release,
    finished_job_with_output,
    output_kinds,
    release,
    wait_release,
)
from tds_operator.desired.admission import RELEASES_POLICY

pytestmark = pytest.mark.integration


def set_review(by: Person, deal: Deal, name: str, reviewer: Person, digest: str) -> None:
    """`by` writes an approval naming `reviewer` (as the webhook would have written it)."""
    review = {
        "decision": "Approved",
        "manifestDigest": digest,
        "reviewer": {"user": reviewer.user, "groups": list(reviewer.groups)},
    }
    patch = json.dumps({"spec": {"review": review}})
    by.kubectl("patch", RELEASES, name, "-n", deal.namespace, "--type=merge", "-p", patch)


def awaiting_release(story: Story, deal: Deal) -> tuple[str, str, str]:
    """A finished job's output asked for and waiting for review: job, release, manifest."""
    job, _ = finished_job_with_output(story, deal)
    name = ask_release(deal, job)
    body = wait_release(story, deal, name, "AwaitingReview")
    return job, name, body["status"]["manifestDigest"]


def output_stays(story: Story, deal: Deal, job: str, name: str) -> None:
    """The output is still in the clean room and nothing was released on the record."""
    room_claims = story.hub.core.list_namespaced_persistent_volume_claim(clean_room(deal.contract))
    assert f"{job}-output" in [c.metadata.name for c in room_claims.items]
    assert name not in [
        c.metadata.name
        for c in story.hub.core.list_namespaced_persistent_volume_claim(deal.namespace).items
    ]
    body = story.job(deal.namespace, job)
    assert body is not None
    kinds = output_kinds(story, deal, body)
    assert "ReviewApproved" not in kinds, kinds
    assert "OutputReleased" not in kinds, kinds


def test_without_the_webhook_the_api_server_refuses_the_consumers_review(
    story: Story, operator: OperatorProcess, api_client: client.ApiClient
) -> None:
    deal = story.deal(outputs={"modelExport": "review"})
    consumer, provider = owner_of(deal.consumer), owner_of(deal.provider)
    job, name, digest = awaiting_release(story, deal)
    with operator_down(operator, api_client):
        answer = refusal(lambda: set_review(consumer, deal, name, provider, digest))
        assert f"ValidatingAdmissionPolicy '{RELEASES_POLICY}'" in answer, answer
        assert "review" not in release(story, deal, name)["spec"]
        # The positive control: the provider's owner, given access to review it, may write it.
        set_review(provider, deal, name, provider, digest)
        assert release(story, deal, name)["spec"]["review"]["decision"] == "Approved"
    # Written while the webhook was absent, even the provider's review carries no seal: the
    # operator does not act on it.
    body = wait_release(story, deal, name, "Refused")
    by_type = {c["type"]: c for c in body["status"]["conditions"]}
    assert set(by_type) == {"Released", "Ended"}, by_type
    assert by_type["Released"]["reason"] == "ReviewNotSealed", by_type
    assert by_type["Ended"]["reason"] == "ReviewNotSealed", by_type
    output_stays(story, deal, job, name)


def test_the_operator_acts_on_no_review_its_webhook_did_not_seal(
    story: Story, operator: OperatorProcess, api_client: client.ApiClient
) -> None:
    deal = story.deal(outputs={"modelExport": "review"})
    provider = owner_of(deal.provider)
    job, name, digest = awaiting_release(story, deal)
    # Past the API server's policy (as anyone who may bypass it): a forged approval in the
    # provider owner's name, written while the webhook is absent.
    with operator_down(operator, api_client):
        set_review(CLUSTER_ADMIN, deal, name, provider, digest)
    body = wait_release(story, deal, name, "Refused")
    assert body["status"]["conditions"][0]["reason"] == "ReviewNotSealed"
    output_stays(story, deal, job, name)
    # The positive control: the same approval through the webhook releases the output.
    other_job, other, other_digest = awaiting_release(story, deal)
    set_review(provider, deal, other, provider, other_digest)
    sealed = wait_release(story, deal, other, "Released")
    assert sealed["spec"]["review"]["seal"].startswith("hmac-sha256:")
    entries = [e for e in story.hub.entries(deal.contract) if e["kind"] == "ReviewApproved"]
    assert [e["actor"] for e in entries] == [provider.user]
    assert audit_verify(deal.contract).returncode == 0
    assert other_job != job
