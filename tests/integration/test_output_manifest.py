"""An output's manifest on the hub: when a job with an output ends, the operator runs its own image
in the clean room, the output claim mounted read-only, to list every file (path, size, sha256);
the ledger and the job's status record the manifest's digest, and a provider's approval binds to
it. KWOK never runs the program: as hub staff, the test stands in for the kubelet and ends the
pod's container with the message the real module writes for a directory of its own."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from bench.hubkit.hub import audit_verify, clean_room, owner_of, refusal, unique
from bench.hubkit.manifests import training_job_body
from bench.hubkit.processes import OPERATOR_IMAGE
from bench.hubkit.training import (
    Deal,
    Story,
    ask_release,
    end_manifest_step,
    finished_job_with_output,
    listed_manifest,
    output_files,
    review,
    wait_release,
)
from bench.hubkit.waiting import wait_until
from tds_operator.policy.manifest import read_message

pytestmark = pytest.mark.integration


def quarantined_entry(story: Story, deal: Deal, uid: str) -> dict[str, object]:
    entries = [
        e for e in story.hub.entries(deal.contract) if e["id"] == f"output/{uid}/outputQuarantined"
    ]
    assert len(entries) == 1, entries
    return dict(entries[0]["details"])


def test_the_manifest_step_runs_the_operators_image_on_the_output_read_only(story: Story) -> None:
    deal = story.deal(outputs={"modelExport": "review"})
    name = unique("j")
    body = training_job_body(
        name, deal.namespace, deal.contract, run_for="1s", output={"size": "1Gi"}
    )
    story.submit(owner_of(deal.consumer), body)
    with tempfile.TemporaryDirectory() as directory:
        message = listed_manifest(output_files(Path(directory)))
    pod = end_manifest_step(story, deal, name, message)
    # The pod as the operator made it: its own image, the claim read-only, nothing else.
    spec = pod.spec
    assert [c.image for c in spec.containers] == [OPERATOR_IMAGE]
    container = spec.containers[0]
    assert container.command == ["python", "-m", "tds_operator.output_manifest", "/output"]
    assert [(m.mount_path, m.read_only) for m in container.volume_mounts] == [("/output", True)]
    assert [
        (v.persistent_volume_claim.claim_name, v.persistent_volume_claim.read_only)
        for v in spec.volumes
    ] == [(f"{name}-output", True)]
    assert spec.automount_service_account_token is False
    assert container.security_context.read_only_root_filesystem is True
    assert container.security_context.allow_privilege_escalation is False
    assert container.security_context.capabilities.drop == ["ALL"]
    assert spec.security_context.run_as_non_root is True
    assert not pod.metadata.owner_references
    # The digest lands in the job's status and on the ledger.
    manifest = read_message(message)
    assert manifest is not None
    assert manifest.files == 5  # the root, model/, model/weights.bin, README, latest
    job = story.wait_job(deal.namespace, name, "Succeeded")

    def quarantined() -> dict[str, object] | None:
        output = (story.job(deal.namespace, name) or {}).get("status", {}).get("output") or {}
        return output if output.get("state") == "Quarantined" else None

    output = wait_until(quarantined, timeout=30, what=f"output of {name} Quarantined")
    assert output["manifestDigest"] == manifest.digest
    assert (output["manifestFiles"], output["manifestBytes"]) == (5, manifest.bytes)
    details = quarantined_entry(story, deal, job["metadata"]["uid"])
    assert details["manifestDigest"] == manifest.digest
    assert details["manifestMessage"] is None
    # The step's pod is gone once read.
    wait_until(
        lambda: (
            story.manifest_pod(deal.contract, name) is None
            and not story.hub.core.list_namespaced_pod(
                clean_room(deal.contract), field_selector=f"metadata.name={name}-manifest"
            ).items
        ),
        timeout=30,
        what="the manifest step's pod deleted",
    )


def test_the_approval_binds_to_the_recorded_manifest(story: Story) -> None:
    deal = story.deal(outputs={"modelExport": "review"})
    name, job = finished_job_with_output(story, deal)
    digest = job["status"]["output"]["manifestDigest"]
    assert digest.startswith("sha256:")
    release_name = ask_release(deal, name)
    body = wait_release(story, deal, release_name, "AwaitingReview")
    assert body["status"]["manifestDigest"] == digest  # what the reviewer sees
    provider = owner_of(deal.provider)
    other = "sha256:" + "0" * 64
    message = refusal(lambda: review(provider, deal, release_name, "Approved", other))
    assert "ManifestMismatch" in message, message
    assert other in message, message
    assert digest in message, message
    review(provider, deal, release_name, "Approved")
    body = wait_release(story, deal, release_name, "Released")
    assert body["spec"]["review"]["manifestDigest"] == digest
    approved = [e for e in story.hub.entries(deal.contract) if e["kind"] == "ReviewApproved"]
    assert [e["details"]["manifestDigest"] for e in approved] == [digest]
    released = [e for e in story.hub.entries(deal.contract) if e["kind"] == "OutputReleased"]
    assert [e["details"]["manifestDigest"] for e in released] == [digest]
    assert audit_verify(deal.contract).returncode == 0


def test_a_failed_manifest_step_leaves_the_output_unapprovable(story: Story) -> None:
    deal = story.deal(outputs={"modelExport": "review"})
    name, job = finished_job_with_output(story, deal, "disk read error", exit_code=1)
    output = job["status"]["output"]
    assert output.get("manifestDigest") is None
    assert "manifest step failed" in output["manifestMessage"], output
    assert "disk read error" in output["manifestMessage"], output
    assert quarantined_entry(story, deal, job["metadata"]["uid"])["manifestDigest"] is None
    release_name = ask_release(deal, name)
    wait_release(story, deal, release_name, "AwaitingReview")
    provider = owner_of(deal.provider)
    message = refusal(lambda: review(provider, deal, release_name, "Approved"))
    assert "NoManifest" in message, message
    review(provider, deal, release_name, "Rejected")
    wait_release(story, deal, release_name, "Rejected")


def test_the_consumer_cannot_forge_the_manifest(story: Story) -> None:
    deal = story.deal(outputs={"modelExport": "review"})
    consumer = owner_of(deal.consumer)
    name = unique("j")
    body = training_job_body(
        name, deal.namespace, deal.contract, run_for="1s", output={"size": "1Gi"}
    )
    story.submit(consumer, body)
    pod = wait_until(
        lambda: story.manifest_pod(deal.contract, name),
        timeout=60,
        what=f"the manifest step of {name} running",
    )
    room = clean_room(deal.contract)
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "other.bin").write_bytes(b"not the model")
        forged = listed_manifest(Path(directory))
    terminated = {"exitCode": 0, "reason": "Completed", "message": forged}
    status = {
        "status": {"containerStatuses": [{"name": "manifest", "state": {"terminated": terminated}}]}
    }
    # Ending the operator's pod with a manifest of the consumer's choosing.
    message = refusal(
        lambda: consumer.kubectl(
            "patch",
            "pod",
            pod.metadata.name,
            "-n",
            room,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps(status),
        )
    )
    assert "forbidden" in message.lower(), message
    # Replacing the pod by one of its own.
    message = refusal(lambda: consumer.kubectl("delete", "pod", pod.metadata.name, "-n", room))
    assert "forbidden" in message.lower(), message
    fake = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{name}-manifest-2",
            "namespace": room,
            "labels": pod.metadata.labels,
        },
        "spec": {"containers": [{"name": "manifest", "image": OPERATOR_IMAGE}]},
    }
    message = refusal(lambda: consumer.create(fake))
    assert "forbidden" in message.lower(), message
    # Writing the digest into the job's status.
    forged_manifest = read_message(forged)
    assert forged_manifest is not None
    patch = json.dumps({"status": {"output": {"manifestDigest": forged_manifest.digest}}})
    message = refusal(
        lambda: consumer.kubectl(
            "patch",
            "trainingjob",
            name,
            "-n",
            deal.namespace,
            "--subresource=status",
            "--type=merge",
            "-p",
            patch,
        )
    )
    assert "forbidden" in message.lower(), message
    # The real step ends; the digest is the real one.
    with tempfile.TemporaryDirectory() as directory:
        real = listed_manifest(output_files(Path(directory)))
    end_manifest_step(story, deal, name, real)

    def quarantined() -> dict[str, object] | None:
        output = (story.job(deal.namespace, name) or {}).get("status", {}).get("output") or {}
        return output if output.get("state") == "Quarantined" else None

    output = wait_until(quarantined, timeout=30, what=f"output of {name} Quarantined")
    real_manifest = read_message(real)
    assert real_manifest is not None
    assert output["manifestDigest"] == real_manifest.digest


def test_under_denied_nothing_the_workload_chose_reaches_the_consumer(story: Story) -> None:
    """The attacker, a consumer's workload under `modelExport: denied`, shapes its output (how
    many files, how many bytes, what they hash to) to carry what it read. Nothing of it reaches
    the consumer: no manifest is made, neither the job's status nor the ledger the consumer
    reads carries a figure. Positive control: the same output under `review` is listed."""
    with tempfile.TemporaryDirectory() as directory:
        message = listed_manifest(output_files(Path(directory)))
    denied = story.deal(outputs={"modelExport": "denied"})
    reviewed = story.deal(outputs={"modelExport": "review"})
    manifest = read_message(message)
    assert manifest is not None
    _, job = finished_job_with_output(story, reviewed, message)
    listed = job["status"]["output"]
    assert (listed["manifestFiles"], listed["manifestDigest"]) == (5, manifest.digest)

    name, job = finished_job_with_output(story, denied, listed=False)
    output = job["status"]["output"]
    for figure in ("manifestDigest", "manifestFiles", "manifestBytes"):
        assert output.get(figure) is None, output
    assert "modelExport is denied" in output["manifestMessage"], output
    details = quarantined_entry(story, denied, job["metadata"]["uid"])
    for figure in ("manifestDigest", "manifestFiles", "manifestBytes"):
        assert details.get(figure) is None, details
    assert story.manifest_pod(denied.contract, name) is None
