"""The output claim, its mount in every worker, the released claim and the review access."""

from __future__ import annotations

import pytest

from bench.hubkit.manifests import training_job_body
from tds_operator.api.subject import Subject
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.desired.outputs import (
    MANIFEST_LABEL,
    manifest_pod,
    output_claim,
    released_claim,
    reservation_seen,
    review_access,
    review_role_name,
    with_output_volume,
)
from tds_operator.desired.trainingjob import batch_job
from tds_operator.policy.rules import HubRules

pytestmark = pytest.mark.unit

RULES = HubRules(output_storage_class="fast-outputs")


def job(**spec: object) -> TrainingJob:
    return TrainingJob.model_validate(training_job_body("train", "tds-cmcc", "deal", **spec))


def test_no_output_no_claim() -> None:
    assert output_claim(job(), RULES) is None


def test_the_output_claim_lives_in_the_clean_room_at_the_size_asked() -> None:
    claim = output_claim(job(output={"size": "5Gi"}), RULES)
    assert claim is not None
    assert claim["metadata"]["name"] == "train-output"
    assert claim["metadata"]["namespace"].endswith("deal")
    assert claim["spec"]["storageClassName"] == "fast-outputs"
    assert claim["spec"]["resources"] == {"requests": {"storage": "5Gi"}}


def test_every_worker_mounts_the_output_read_write_and_the_root_stays_read_only() -> None:
    manifest = with_output_volume(batch_job(job(workers=2), RULES, 60, "10.0.0.1", {}), "c")
    pod = manifest["spec"]["template"]["spec"]
    assert {"name": "output", "persistentVolumeClaim": {"claimName": "c"}} in pod["volumes"]
    (container,) = pod["containers"]
    assert {"name": "output", "mountPath": "/output"} in container["volumeMounts"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_released_claim_names_no_volume() -> None:
    claim = released_claim("model", "tds-cmcc", "5Gi", "fast-outputs")
    assert "volumeName" not in claim["spec"]
    assert claim["metadata"]["namespace"] == "tds-cmcc"


def test_review_access_is_one_release_by_name_for_the_providers_owners() -> None:
    owners = [Subject(kind="Group", name="sgcc-admins")]
    role, binding = review_access("model", "uid-1", "tds-cmcc", owners)
    (rule,) = role["rules"]
    assert rule["resources"] == ["modelreleases"]
    assert rule["resourceNames"] == ["model"]
    assert rule["verbs"] == ["get", "patch", "review"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert [s["name"] for s in binding["subjects"]] == ["sgcc-admins"]


def test_the_manifest_step_runs_the_operators_image_on_the_claim_read_only() -> None:
    pod = manifest_pod(
        job(output={"size": "1Gi"}), "train-output", "registry/tds-operator:1.0", "nvidia.com/gpu"
    )
    spec = pod["spec"]
    assert pod["metadata"]["namespace"] == "tds-cr-deal"
    assert pod["metadata"]["labels"][MANIFEST_LABEL] == "true"
    assert [c["image"] for c in spec["containers"]] == ["registry/tds-operator:1.0"]
    (container,) = spec["containers"]
    assert container["command"][-2:] == ["tds_operator.output_manifest", "/output"]
    assert container["volumeMounts"] == [
        {"name": "output", "mountPath": "/output", "readOnly": True}
    ]
    assert spec["volumes"] == [
        {"name": "output", "persistentVolumeClaim": {"claimName": "train-output", "readOnly": True}}
    ]
    assert spec["automountServiceAccountToken"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["terminationMessagePath"] == "/dev/termination-log"


def test_review_roles_of_two_releases_never_collide() -> None:
    # Release names that agree on their first 52 characters (a name cut to 63 would collide).
    first = review_role_name("0b1d5a8e-5d7e-4d8c-9a43-0d1f0f2c1a11")
    second = review_role_name("0b1d5a8e-5d7e-4d8c-9a43-0d1f0f2c1a12")
    assert first != second
    assert len(first) <= 63


def test_the_manifest_step_may_run_where_the_workers_wrote_the_output() -> None:
    """A node-local output volume lies on a node of the GPU pool, whose taint the step must
    tolerate to mount it there (it asks for no GPU and is pinned to no pool)."""
    pod = manifest_pod(job(output={"size": "1Gi"}), "train-output", "img", "example.com/gpu")
    spec = pod["spec"]
    assert spec["tolerations"] == [
        {"key": "example.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert "nodeSelector" not in spec
    assert all(
        "resources" not in c or "nvidia.com/gpu" not in str(c["resources"])
        for c in spec["containers"]
    )


def volume(claim_ref: dict[str, str] | None, phase: str) -> dict[str, object]:
    return {"spec": {"claimRef": claim_ref} if claim_ref else {}, "status": {"phase": phase}}


def test_the_released_claim_is_made_only_once_the_binder_has_seen_the_volume_reserved() -> None:
    ours = {"namespace": "tds-cmcc", "name": "model"}
    assert reservation_seen(volume(ours, "Available"), "tds-cmcc", "model")
    # Reserved, but the binder has not marked it so yet (still Released, or Bound to the
    # clean room's claim it held): a claim made now could be bound to another volume.
    assert not reservation_seen(volume(ours, "Released"), "tds-cmcc", "model")
    assert not reservation_seen(volume(ours, "Bound"), "tds-cmcc", "model")
    assert not reservation_seen(volume(ours, ""), "tds-cmcc", "model")
    # Available, but not for this claim.
    room = {"namespace": "tds-room-deal", "name": "train-output"}
    assert not reservation_seen(volume(room, "Available"), "tds-cmcc", "model")
    assert not reservation_seen(volume(None, "Available"), "tds-cmcc", "model")
    assert not reservation_seen(volume(ours, "Available"), "tds-other", "model")
