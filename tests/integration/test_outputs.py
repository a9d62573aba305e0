"""Governed outputs on the real hub: a TrainingJob's output volume is Quarantined when it ends,
and leaves the clean room only by a ModelRelease the contract's outputs clause allows; the very
PersistentVolume is re-bound in the consumer's namespace, every step on the ledger. Each hostile
request is made as the attacker and refused, naming the rule."""

from __future__ import annotations

import pytest
from kubernetes import client

from bench.hubkit.hub import (
    audit_verify,
    clean_room,
    member_of,
    owner_of,
    refusal,
    unique,
)
from bench.hubkit.manifests import Body, training_job_body
from bench.hubkit.training import (
    Deal,
    Story,
    ask_release,
    finished_job_with_output,
    output_kinds,
    release,
    release_body,
    review,
    wait_release,
)
from bench.hubkit.waiting import wait_until

pytestmark = pytest.mark.integration


def running_job_with_output(story: Story, deal: Deal, size: str = "1Gi") -> str:
    """A job with an output that runs for ten minutes, created by the consumer's owner."""
    name = unique("j")
    body = training_job_body(
        name,
        deal.namespace,
        deal.contract,
        run_for="600s",
        output={"size": size},
        gpus_per_worker=1,
    )
    return story.submit(owner_of(deal.consumer), body)


def assert_released_same_volume(story: Story, deal: Deal, job: Body, name: str) -> None:
    """The claim in the consumer's namespace is bound to the very volume the job wrote."""
    core = story.hub.core
    body = wait_release(story, deal, name, "Released")
    volume = body["status"]["volume"]
    claim = core.read_namespaced_persistent_volume_claim(name, deal.namespace)
    assert claim.status.phase == "Bound"
    assert claim.spec.volume_name == volume
    pv = core.read_persistent_volume(volume)
    assert (pv.spec.claim_ref.namespace, pv.spec.claim_ref.name) == (deal.namespace, name)
    room_claims = core.list_namespaced_persistent_volume_claim(clean_room(deal.contract)).items
    assert f"{job['metadata']['name']}-output" not in [c.metadata.name for c in room_claims]


def test_allowed_clause_moves_the_volume_to_the_consumer(story: Story) -> None:
    deal = story.deal(outputs={"modelExport": "allowed"})
    name, job = finished_job_with_output(story, deal)
    claim = story.hub.core.read_namespaced_persistent_volume_claim(
        f"{name}-output", clean_room(deal.contract)
    )
    volume = claim.spec.volume_name
    assert volume, "the output claim was bound by the PV binder"
    mounts = job["status"]["output"]
    assert mounts["claim"] == f"{name}-output"
    release_name = ask_release(deal, name)
    assert_released_same_volume(story, deal, job, release_name)
    assert release(story, deal, release_name)["status"]["volume"] == volume
    body = release(story, deal, release_name)
    assert body["spec"]["requestedBy"]["user"] == owner_of(deal.consumer).user

    def released() -> Body | None:
        job_now = story.job(deal.namespace, name) or {}
        state = ((job_now.get("status") or {}).get("output") or {}).get("state")
        return job_now if state == "Released" else None

    wait_until(released, timeout=20, what="the job's output Released")
    assert output_kinds(story, deal, job) == [
        "OutputCreated",
        "OutputQuarantined",
        "ReleaseRequested",
        "OutputReleased",
    ]
    assert audit_verify(deal.contract).returncode == 0


def test_review_waits_for_the_provider_and_binds_the_approver(story: Story) -> None:
    deal = story.deal(outputs={"modelExport": "review"}, members=True)
    name, job = finished_job_with_output(story, deal)
    release_name = ask_release(deal, name)
    wait_release(story, deal, release_name, "AwaitingReview")
    consumer, provider = owner_of(deal.consumer), owner_of(deal.provider)
    # Before release the consumer reads neither the clean room's claims nor any volume.
    room = clean_room(deal.contract)
    for args in (("get", "pvc", "-n", room), ("get", "pv")):
        message = refusal(lambda args=args: consumer.kubectl(*args))
        assert "forbidden" in message.lower(), message
    # A member of the provider space cannot reach it; a member of the consumer's cannot
    # approve it.
    message = refusal(lambda: review(member_of(deal.provider), deal, release_name, "Approved"))
    assert "forbidden" in message.lower(), message
    message = refusal(lambda: review(member_of(deal.consumer), deal, release_name, "Approved"))
    assert "forbidden" in message.lower(), message
    # The consumer cannot approve its own release.
    message = refusal(lambda: review(consumer, deal, release_name, "Approved"))
    assert "NotProviderOwner" in message, message
    # A third space's owner cannot even reach it.
    outsider = owner_of(story.space())
    message = refusal(lambda: review(outsider, deal, release_name, "Approved"))
    assert "forbidden" in message.lower(), message
    assert release(story, deal, release_name)["status"]["phase"] == "AwaitingReview"
    review(provider, deal, release_name, "Approved")
    body = release(story, deal, release_name)
    assert body["spec"]["review"]["reviewer"]["user"] == provider.user
    assert_released_same_volume(story, deal, job, release_name)
    entries = [e for e in story.hub.entries(deal.contract) if e["id"].startswith("output/")]
    approved = [e for e in entries if e["kind"] == "ReviewApproved"]
    assert [e["actor"] for e in approved] == [provider.user]
    assert audit_verify(deal.contract).returncode == 0


def test_rejected_review_deletes_the_output_on_the_record(story: Story) -> None:
    deal = story.deal(outputs={"modelExport": "review"})
    name, job = finished_job_with_output(story, deal)
    volume = story.hub.core.read_namespaced_persistent_volume_claim(
        f"{name}-output", clean_room(deal.contract)
    ).spec.volume_name
    release_name = ask_release(deal, name)
    wait_release(story, deal, release_name, "AwaitingReview")
    review(owner_of(deal.provider), deal, release_name, "Rejected")
    wait_release(story, deal, release_name, "Rejected")
    core = story.hub.core
    wait_until(
        lambda: (
            not [pv for pv in core.list_persistent_volume().items if pv.metadata.name == volume]
        ),
        timeout=20,
        what=f"PersistentVolume {volume} deleted",
    )
    assert output_kinds(story, deal, job)[-2:] == ["ReviewRejected", "OutputDeleted"]
    assert audit_verify(deal.contract).returncode == 0


def test_hostile_and_bad_release_requests_are_refused(story: Story) -> None:
    deal = story.deal(outputs={"modelExport": "allowed"})
    name, _ = finished_job_with_output(story, deal)
    # Not finished: a job still running.
    running = running_job_with_output(story, deal)
    message = refusal(lambda: ask_release(deal, running))
    assert "OutputNotQuarantined" in message, message
    # Another consumer cannot ask, in its own namespace or in the consumer's.
    other = Deal(deal.provider, story.space(), deal.contract)
    message = refusal(lambda: ask_release(other, name))
    assert "TrainingJobNotFound" in message, message
    message = refusal(lambda: ask_release(deal, name, by=owner_of(other.consumer)))
    assert "forbidden" in message.lower(), message
    # Nor can the provider, in the consumer's namespace.
    message = refusal(lambda: ask_release(deal, name, by=owner_of(deal.provider)))
    assert "forbidden" in message.lower(), message
    # A release that brings its own approval.
    approved = release_body(unique("r"), deal.namespace, name, review={"decision": "Approved"})
    message = refusal(lambda: owner_of(deal.consumer).create(approved))
    assert "NotProviderOwner" in message, message
    # Twice: the second release of the same job.
    first = ask_release(deal, name)
    message = refusal(lambda: ask_release(deal, name))
    assert "ReleaseAlreadyRequested" in message, message
    wait_release(story, deal, first, "Released")


def test_denied_clause_refuses_the_release_naming_it(story: Story) -> None:
    deal = story.deal(outputs={"modelExport": "denied"})
    name, job = finished_job_with_output(story, deal, listed=False)
    message = refusal(lambda: ask_release(deal, name))
    assert "outputs.modelExport: denied" in message, message
    assert job["status"]["output"]["state"] == "Quarantined"
    # Deleting the job discards the output, on the record.
    story.delete_job(deal.namespace, name)
    wait_until(
        lambda: "OutputDeleted" in output_kinds(story, deal, job),
        timeout=20,
        what="the discarded output on the ledger",
    )


def test_every_worker_mounts_the_output_read_write(story: Story) -> None:
    deal = story.deal(outputs={"modelExport": "allowed"})
    name = running_job_with_output(story, deal)
    batch = wait_until(
        lambda: story.batch_job(deal.contract, name), timeout=30, what="the batch Job"
    )
    pod: client.V1PodSpec = batch.spec.template.spec
    container = pod.containers[0]
    assert container.security_context.read_only_root_filesystem
    mounts = {m.mount_path: m for m in container.volume_mounts}
    assert "/output" in mounts
    assert not mounts["/output"].read_only


def test_an_output_larger_than_the_hub_allows_is_refused(story: Story) -> None:
    deal = story.deal(outputs={"modelExport": "allowed"})
    message = refusal(lambda: running_job_with_output(story, deal, size="101Gi"))
    assert "OutputTooLarge" in message, message
    assert "outputMaxSize" in message, message


def test_a_revoked_contract_releases_nothing_without_the_providers_review(story: Story) -> None:
    deal = story.deal(outputs={"modelExport": "allowed"})
    name, job = finished_job_with_output(story, deal)
    story.contracts.revoke(owner_of(deal.provider), deal.contract)
    story.wait_contract(deal.contract, "Revoked")
    release_name = ask_release(deal, name)
    body = wait_release(story, deal, release_name, "AwaitingReview")
    assert body["status"]["clause"] == "review"
    review(owner_of(deal.provider), deal, release_name, "Approved")
    assert_released_same_volume(story, deal, job, release_name)
    # With its last output gone, the revoked contract's clean room goes too.
    wait_until(
        lambda: not story.hub.has_namespace(clean_room(deal.contract)),
        timeout=30,
        what="the clean room removed",
    )
