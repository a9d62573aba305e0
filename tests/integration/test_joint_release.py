"""The output of a joint job on the real hub: every contract's outputs.modelExport decides its
release, each reviewing provider approves for its own contract only, and nothing leaves until
every one of them approved the same manifest. Each hostile request is made as the attacker and
refused; each beside its positive control."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from kubernetes import client

from bench.hubkit.hub import (
    CLUSTER_ADMIN,
    Person,
    audit_verify,
    operator_down,
    owner_of,
    refusal,
    unique,
)
from bench.hubkit.manifests import Body, manifest_step_ended
from bench.hubkit.processes import OperatorProcess
from bench.hubkit.training import (
    RELEASES,
    Story,
    listed_manifest,
    output_files,
    release_body,
)
from bench.hubkit.waiting import wait_until
from tests.integration.joint import ANY_PARTNER, Joint, joint_job

pytestmark = pytest.mark.integration


def joint_outputs(story: Story, first: str, second: str) -> Joint:
    """Two providers each contracting with one consumer, joint training allowed, with these
    outputs.modelExport clauses."""
    consumer = story.space()
    providers = (story.space(), story.space())
    contracts = tuple(
        story.propose(
            provider, consumer, jointTraining=ANY_PARTNER, outputs={"modelExport": clause}
        )
        for provider, clause in zip(providers, (first, second), strict=True)
    )
    for contract in contracts:
        story.wait_contract(contract, "Active")
    return Joint(consumer, providers, (contracts[0], contracts[1]))


def finished_joint_job(story: Story, joint: Joint) -> tuple[str, Body]:
    """A joint job with a 1Gi output run to its end, its manifest step (if the operator lists
    the output) ended as hub staff, for the kubelet; the TrainingJob once its output is
    Quarantined."""
    body = joint_job(joint.namespace, list(joint.contracts), run_for="1s", output={"size": "1Gi"})
    name = story.submit(owner_of(joint.consumer), body)
    with tempfile.TemporaryDirectory() as directory:
        message = listed_manifest(output_files(Path(directory)))

    def state() -> str:
        job = story.job(joint.namespace, name) or {}
        return str(((job.get("status") or {}).get("output") or {}).get("state") or "")

    def step() -> tuple[str, str] | None:
        job = story.job(joint.namespace, name) or {}
        room = (job.get("status") or {}).get("cleanRoom")
        pods = story.hub.core.list_namespaced_pod(room).items if room else []
        running = [
            p for p in pods if p.metadata.name == f"{name}-manifest" and p.status.phase == "Running"
        ]
        if running:
            return room, running[0].metadata.name
        # An output the operator does not list (a contract denies its export) has no step.
        return ("", "") if state() == "Quarantined" else None

    room, pod = wait_until(step, timeout=60, what=f"the manifest step of {name} running")
    if pod:
        story.hub.core.patch_namespaced_pod_status(pod, room, manifest_step_ended(message))
    wait_until(lambda: state() == "Quarantined", timeout=60, what=f"output of {name} Quarantined")
    job = story.job(joint.namespace, name)
    assert job is not None
    return name, job


def ask(joint: Joint, job: str) -> str:
    name = unique("r")
    owner_of(joint.consumer).create(release_body(name, joint.namespace, job))
    return name


def joint_release(story: Story, joint: Joint, name: str) -> Body:
    body = story.hub.get(RELEASES, name, joint.namespace)
    assert body is not None
    return body


def wait_phase(story: Story, joint: Joint, name: str, phase: str) -> Body:
    def reached() -> Body | None:
        body = joint_release(story, joint, name)
        return body if (body.get("status") or {}).get("phase") == phase else None

    return wait_until(reached, timeout=30, what=f"ModelRelease {name} {phase}")


def review_of(contract: str) -> str:
    """The JSON patch adding an approval of `contract` to spec.reviews."""
    review = {"contract": contract, "decision": "Approved"}
    return json.dumps([{"op": "add", "path": "/spec/reviews/-", "value": review}])


def add_review(
    by: str, joint: Joint, name: str, contract: str, decision: str, digest: str | None = None
) -> None:
    """An owner of space `by` adds a review of `contract` to the release's spec.reviews."""
    review = {"contract": contract, "decision": decision}
    if digest:
        review["manifestDigest"] = digest
    patch = json.dumps([{"op": "add", "path": "/spec/reviews/-", "value": review}])
    owner_of(by).kubectl("patch", RELEASES, name, "-n", joint.namespace, "--type=json", "-p", patch)


def outcomes(body: Body) -> dict[str, str]:
    return {c["contract"]: c["outcome"] for c in (body.get("status") or {}).get("contracts") or []}


def claim_exists(story: Story, joint: Joint, name: str) -> bool:
    claims = story.hub.core.list_namespaced_persistent_volume_claim(joint.namespace).items
    return name in [c.metadata.name for c in claims]


def test_two_review_providers_one_approval_releases_nothing(story: Story) -> None:
    joint = joint_outputs(story, "review", "review")
    first, second = joint.contracts
    job, _ = finished_joint_job(story, joint)
    name = ask(joint, job)
    wait_phase(story, joint, name, "AwaitingReview")
    add_review(joint.providers[0], joint, name, first, "Approved")
    # One approval alone: the release still waits, naming the contract not reviewed yet.
    wait_until(
        lambda: outcomes(joint_release(story, joint, name)).get(first) == "Approved",
        timeout=30,
        what="the first provider's approval counted",
    )
    body = joint_release(story, joint, name)
    assert body["status"]["phase"] == "AwaitingReview"
    assert outcomes(body) == {first: "Approved", second: "AwaitingReview"}
    assert second in body["status"]["conditions"][0]["message"]
    assert not claim_exists(story, joint, name)
    # A provider approving for the other provider's contract: refused, naming it.
    message = refusal(lambda: add_review(joint.providers[0], joint, name, second, "Approved"))
    assert "NotProviderOwner" in message
    assert second in message
    # The consumer cannot review at all.
    refused = refusal(lambda: add_review(joint.consumer, joint, name, second, "Approved"))
    assert "denied" in refused
    # Positive control: the second provider approves its own contract, and the output leaves.
    add_review(joint.providers[1], joint, name, second, "Approved")
    released = wait_phase(story, joint, name, "Released")
    assert outcomes(released) == {first: "Approved", second: "Approved"}
    reviewers = {r["contract"]: r["reviewer"]["user"] for r in released["spec"]["reviews"]}
    assert reviewers == {
        first: owner_of(joint.providers[0]).user,
        second: owner_of(joint.providers[1]).user,
    }
    assert claim_exists(story, joint, name)
    # Each review on its own contract's ledger; every other step of the output on both, the
    # same manifest quarantined on each.
    digest = released["status"]["manifestDigest"]
    for contract, provider in zip(joint.contracts, joint.providers, strict=True):
        kinds = {e["kind"]: e for e in story.hub.entries(contract)}
        assert kinds["ReviewApproved"]["actor"] == owner_of(provider).user
        for step in ("OutputCreated", "OutputQuarantined", "ReleaseRequested", "OutputReleased"):
            assert step in kinds, f"{step} not on {contract}'s ledger"
        assert kinds["OutputQuarantined"]["details"]["manifestDigest"] == digest
        assert kinds["ReleaseRequested"]["details"]["release"] == f"{joint.namespace}/{name}"
        assert audit_verify(contract).returncode == 0


def test_approvals_of_different_digests_release_nothing(story: Story) -> None:
    joint = joint_outputs(story, "review", "review")
    first, second = joint.contracts
    job, body = finished_joint_job(story, joint)
    digest = body["status"]["output"]["manifestDigest"]
    name = ask(joint, job)
    wait_phase(story, joint, name, "AwaitingReview")
    add_review(joint.providers[0], joint, name, first, "Approved", digest)
    other = "sha256:" + "0" * 64
    message = refusal(
        lambda: add_review(joint.providers[1], joint, name, second, "Approved", other)
    )
    assert "ManifestMismatch" in message
    assert joint_release(story, joint, name)["status"]["phase"] == "AwaitingReview"
    assert not claim_exists(story, joint, name)
    # Positive control: the same manifest, and it is released.
    add_review(joint.providers[1], joint, name, second, "Approved", digest)
    released = wait_phase(story, joint, name, "Released")
    assert {c["manifestDigest"] for c in released["status"]["contracts"]} == {digest}


def test_a_denied_contract_refuses_the_release_naming_it(story: Story) -> None:
    joint = joint_outputs(story, "allowed", "denied")
    job, body = finished_joint_job(story, joint)
    # Under the second contract's denied clause the output is never listed: no manifest's
    # digest, file count or size reaches the consumer through the job's status.
    output = body["status"]["output"]
    assert output.get("manifestDigest") is None
    assert output.get("manifestFiles") is None
    assert "denied" in str(output.get("manifestMessage"))
    message = refusal(lambda: ask(joint, job))
    assert "ExportDenied" in message
    assert joint.contracts[1] in message
    assert joint.contracts[0] not in message
    # Positive control: the same contracts, neither denied, and the output leaves at once.
    allowed = joint_outputs(story, "allowed", "allowed")
    other_job, other = finished_joint_job(story, allowed)
    assert str(other["status"]["output"]["manifestDigest"]).startswith("sha256:")
    name = ask(allowed, other_job)
    released = wait_phase(story, allowed, name, "Released")
    assert set(outcomes(released).values()) == {"Allowed"}


def test_a_review_moved_to_another_contract_counts_for_nothing(
    story: Story, operator: OperatorProcess, api_client: client.ApiClient
) -> None:
    # Someone who speaks for both providers: only the seal tells which contract they reviewed.
    joint = joint_outputs(story, "review", "review")
    first, second = joint.contracts
    both = Person("owns-both", tuple(g for p in joint.providers for g in owner_of(p).groups))
    job, _ = finished_joint_job(story, joint)
    name = ask(joint, job)
    wait_phase(story, joint, name, "AwaitingReview")
    both.kubectl(
        "patch", RELEASES, name, "-n", joint.namespace, "--type=json", "-p", review_of(first)
    )
    sealed = joint_release(story, joint, name)["spec"]["reviews"][0]
    assert sealed["seal"].startswith("hmac-sha256:")
    # Past the webhook (as anyone who may bypass it): the review sealed for the first contract,
    # copied under the second.
    moved = {**sealed, "contract": second}
    patch = json.dumps([{"op": "add", "path": "/spec/reviews/-", "value": moved}])
    with operator_down(operator, api_client):
        CLUSTER_ADMIN.kubectl(
            "patch", RELEASES, name, "-n", joint.namespace, "--type=json", "-p", patch
        )
    refused = wait_phase(story, joint, name, "Refused")
    assert refused["status"]["conditions"][0]["reason"] == "ReviewNotSealed"
    assert outcomes(refused) == {first: "Approved", second: "Refused"}
    assert not claim_exists(story, joint, name)
    for contract in joint.contracts:
        assert "OutputReleased" not in {e["kind"] for e in story.hub.entries(contract)}
    # Positive control: the same person reviews each contract through the webhook: released.
    other_job, _ = finished_joint_job(story, joint)
    other = ask(joint, other_job)
    wait_phase(story, joint, other, "AwaitingReview")
    for contract in joint.contracts:
        both.kubectl(
            "patch",
            RELEASES,
            other,
            "-n",
            joint.namespace,
            "--type=json",
            "-p",
            review_of(contract),
        )
    wait_phase(story, joint, other, "Released")
