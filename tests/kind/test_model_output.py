"""A real model leaves the clean room only by release (3c): the trainer image's program fits rows
it reads through the contract's gateway and writes its model to /output; the operator's manifest
step really runs over it (no pod status is written here); no pod of the consumer can mount the
output before the provider approves, and after it the consumer's pod reads the very bytes the
manifest lists."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from bench.hubkit.waiting import wait_until
from tds_operator.desired.outputs import manifest_pod_name, output_claim_name
from tests.e2e.cluster import CommandError, Manifest, get, kubectl
from tests.e2e.story import Story
from tests.kind.model_output import (
    COEFFICIENTS,
    MODEL_FILE,
    claim_of_volume,
    pod_phase,
    reader,
    rows_filler,
    terminated,
    training_job,
)

pytestmark = pytest.mark.kind

JOB = "fit-rows"


@dataclass(frozen=True)
class Trained:
    job: Manifest  # the TrainingJob once its output is Quarantined
    manifest: Manifest  # the manifest step's termination message, parsed
    volume: str  # the output's PersistentVolume


@pytest.fixture(scope="module")
def trained(story: Story) -> Trained:
    owner = story.owner(story.provider)
    owner.kubectl("apply", "-f", "-", stdin=json.dumps(rows_filler(story)))
    provider = f"tds-{story.provider}"
    wait_until(
        lambda: pod_phase("rows-filler", provider) in ("Succeeded", "Failed"),
        timeout=120,
        what="the provider's rows written",
    )
    assert pod_phase("rows-filler", provider) == "Succeeded", kubectl(
        "logs", "rows-filler", "-n", provider, check=False
    )
    namespace = story.job["metadata"]["namespace"]
    story.owner(story.consumer).kubectl(
        "apply", "-f", "-", stdin=json.dumps(training_job(story, JOB))
    )

    # The manifest step's pod, as last seen ended: the operator deletes it as it records the
    # output Quarantined, so it is watched while the output is inventoried, not read after.
    ended_step: dict[str, Manifest] = {}

    def quarantined() -> Manifest | None:
        pod = get("pod", manifest_pod_name(JOB), story.clean_room)
        if terminated(pod, "manifest"):
            ended_step["pod"] = pod or {}
        body = get("trainingjob", JOB, namespace)
        status = (body or {}).get("status") or {}
        if status.get("phase") in ("Failed", "Stopped"):
            logs = kubectl("logs", "-l", f"job-name={JOB}", "-n", story.clean_room, check=False)
            raise AssertionError(f"the training ended {status['phase']}: {logs}")
        return body if (status.get("output") or {}).get("state") == "Quarantined" else None

    job: Manifest = wait_until(
        quarantined, timeout=300, interval=0.5, what="the output Quarantined"
    )
    step = ended_step.get("pod") or get("pod", manifest_pod_name(JOB), story.clean_room)
    ended = terminated(step, "manifest")
    assert ended.get("containerID"), f"the manifest step ran in no container: {step}"
    assert ended.get("exitCode") == 0, f"the manifest step failed: {ended}"
    claim = get("pvc", output_claim_name(JOB), story.clean_room)
    assert claim is not None, "no output claim in the clean room"
    return Trained(job, json.loads(ended["message"]), claim["spec"]["volumeName"])


def test_the_training_program_ran_on_the_gateways_rows(story: Story, trained: Trained) -> None:
    worker = kubectl("logs", f"job/{JOB}", "-n", story.clean_room, check=False)
    assert "trained on 6 rows" in worker, f"the worker's log: {worker}"
    status = trained.job["status"]
    assert status["phase"] == "Succeeded", status
    assert status["output"]["manifestDigest"] == trained.manifest["digest"], (status, trained)
    files = {e["path"]: e for e in trained.manifest["entries"] if e["type"] == "file"}
    assert set(files) == {MODEL_FILE}, trained.manifest


def test_no_pod_of_the_consumer_mounts_the_output_before_release(
    story: Story, trained: Trained
) -> None:
    consumer, owner = f"tds-{story.consumer}", story.owner(story.consumer)
    into_room = reader("peek", story.clean_room, output_claim_name(JOB))
    at_home = reader("peek", consumer, output_claim_name(JOB))
    owner.kubectl("create", "--dry-run=server", "-f", "-", stdin=json.dumps(at_home))
    with pytest.raises(CommandError, match="forbidden"):
        owner.kubectl("create", "-f", "-", stdin=json.dumps(into_room))
    plain = claim_of_volume("grab", consumer, None)
    owner.kubectl("create", "--dry-run=server", "-f", "-", stdin=json.dumps(plain))
    with pytest.raises(CommandError, match=r"denied|forbidden|Forbidden"):
        owner.kubectl(
            "create", "-f", "-", stdin=json.dumps(claim_of_volume("grab", consumer, trained.volume))
        )
    assert get("pvc", "grab", consumer) is None
    volume = get("pv", trained.volume)
    assert volume is not None
    reference = volume["spec"]["claimRef"]
    assert (reference["namespace"], reference["name"]) == (
        story.clean_room,
        output_claim_name(JOB),
    ), reference


def test_after_approval_the_consumer_reads_the_model_the_manifest_lists(
    story: Story, trained: Trained
) -> None:
    namespace = story.job["metadata"]["namespace"]
    release = {
        "apiVersion": "tds.io/v1alpha1",
        "kind": "ModelRelease",
        "metadata": {"name": f"{JOB}-model", "namespace": namespace},
        "spec": {"trainingJob": JOB},
    }
    story.owner(story.consumer).kubectl("create", "-f", "-", stdin=json.dumps(release))

    def phase() -> str | None:
        body = get("modelrelease", f"{JOB}-model", namespace) or {}
        return (body.get("status") or {}).get("phase")

    wait_until(lambda: phase() == "AwaitingReview", timeout=60, what="AwaitingReview")
    story.owner(story.provider).kubectl(
        "patch",
        "modelrelease",
        f"{JOB}-model",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"review":{"decision":"Approved"}}}',
    )
    wait_until(lambda: phase() == "Released", timeout=120, what="Released")
    pod = reader("model-reader", namespace, f"{JOB}-model")
    story.owner(story.consumer).kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    try:
        wait_until(
            lambda: pod_phase("model-reader", namespace) in ("Succeeded", "Failed"),
            timeout=90,
            what="the consumer's pod to read the model",
        )
    except AssertionError as error:
        selector = "involvedObject.name=model-reader"
        events = kubectl("get", "events", "-n", namespace, "--field-selector", selector)
        raise AssertionError(f"{error}: {events}") from None
    lines = kubectl("logs", "model-reader", "-n", namespace).splitlines()
    assert pod_phase("model-reader", namespace) == "Succeeded", lines
    listed = next(e for e in trained.manifest["entries"] if e["path"] == MODEL_FILE)
    assert lines[0] == listed["sha256"], (lines, listed)
    model = json.loads("\n".join(lines[1:]))
    assert model["rows"] == 6, model
    assert model["coefficients"] == pytest.approx(COEFFICIENTS, abs=1e-9), model
