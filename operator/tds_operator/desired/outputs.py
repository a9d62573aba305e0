"""What a job's output is made of: its claim in the clean room, the claim it is released to in the
consumer's namespace, and the provider owners' access to review a release. Pure."""

from __future__ import annotations

from tds_operator import GROUP
from tds_operator.api.output import OUTPUT_MOUNT
from tds_operator.api.resources import MODEL_RELEASES, Manifest
from tds_operator.api.subject import Subject
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.desired.admission import REVIEW_VERB
from tds_operator.desired.labels import managed_labels
from tds_operator.desired.trainingjob import (
    NO_RESOLVER,
    TERMINATION_LOG,
    joint_annotations,
    room_of,
    training_labels,
)
from tds_operator.policy.rules import HubRules

OUTPUT_LABEL = "tds.io/output"
MANIFEST_LABEL = "tds.io/output-manifest"
# The manifest step's user: the workers' own, so that it reads what they wrote.
WORKER_USER = 1000
# A manifest step that has not ended by then fails: the output waits without a manifest.
MANIFEST_DEADLINE_SECONDS = 3600
RELEASE_LABEL = "tds.io/model-release"
OUTPUT_VOLUME = "output"
REVIEW_ROLE_PREFIX = "tds-review-"


def output_claim_name(job_name: str) -> str:
    """The clean-room claim of a job's output, named after the job."""
    return f"{job_name}-output"


def output_claim(job: TrainingJob, rules: HubRules) -> Manifest | None:
    """The job's output claim in the clean room, of the size it asked for; None without one."""
    if job.spec.output is None:
        return None
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": output_claim_name(job.metadata.name or ""),
            "namespace": room_of(job),
            "labels": {**training_labels(job), OUTPUT_LABEL: "true"},
            **joint_annotations(job),
        },
        "spec": {
            "storageClassName": rules.output_storage_class,
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": job.spec.output.size}},
        },
    }


def with_output_volume(batch_job: Manifest, claim: str) -> Manifest:
    """The batch Job with the output claim mounted read-write at /output in every worker."""
    pod = batch_job["spec"]["template"]["spec"]
    pod["volumes"].append({"name": OUTPUT_VOLUME, "persistentVolumeClaim": {"claimName": claim}})
    for container in pod["containers"]:
        container["volumeMounts"].append({"name": OUTPUT_VOLUME, "mountPath": OUTPUT_MOUNT})
    return batch_job


def manifest_pod_name(job_name: str) -> str:
    """The pod that makes the manifest of a job's output, named after the job."""
    return f"{job_name}-manifest"


def manifest_pod(job: TrainingJob, claim: str, image: str, gpu_toleration_key: str) -> Manifest:
    """The one-shot pod of the operator's own image that lists the output (paths, sizes,
    sha256) into its termination message: the claim mounted read-only, no token, no resolver,
    no privilege; the clean room's policies deny it any network. It tolerates the GPU pool's
    taint, as the workers do: a volume bound to the node the workers wrote it on (node-local
    storage) can only be read there."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": manifest_pod_name(job.metadata.name or ""),
            "namespace": room_of(job),
            "labels": {**training_labels(job), MANIFEST_LABEL: "true"},
            **joint_annotations(job),
        },
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": MANIFEST_DEADLINE_SECONDS,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "dnsPolicy": "None",
            "dnsConfig": {"nameservers": [NO_RESOLVER]},
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": WORKER_USER,
                "runAsGroup": WORKER_USER,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "tolerations": [
                {"key": gpu_toleration_key, "operator": "Exists", "effect": "NoSchedule"}
            ],
            "containers": [_manifest_container(image)],
            "volumes": [
                {
                    "name": OUTPUT_VOLUME,
                    "persistentVolumeClaim": {"claimName": claim, "readOnly": True},
                }
            ],
        },
    }


def _manifest_container(image: str) -> Manifest:
    """The manifest pod's one container: the operator's own image listing the read-only output
    into its termination message, unprivileged and bounded."""
    return {
        "name": "manifest",
        "image": image,
        "command": ["python", "-m", "tds_operator.output_manifest", OUTPUT_MOUNT],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": {
            "requests": {"cpu": "100m", "memory": "64Mi"},
            "limits": {"cpu": "1", "memory": "256Mi"},
        },
        "volumeMounts": [{"name": OUTPUT_VOLUME, "mountPath": OUTPUT_MOUNT, "readOnly": True}],
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "File",
    }


def released_claim(name: str, namespace: str, size: str, storage_class: str) -> Manifest:
    """The consumer's claim a released output is bound to. The volume is reserved for it (its
    claimRef names this claim), so the binder binds exactly that volume; the claim itself names
    none (claims in a space may not: desired/admission.py)."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": managed_labels(**{RELEASE_LABEL: name}),
        },
        "spec": {
            "storageClassName": storage_class,
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": size}},
        },
    }


def claims_volume(volume: Manifest | None, namespace: str, name: str) -> bool:
    """Whether a PersistentVolume is (or was last) bound, or is reserved, to that claim."""
    ref = ((volume or {}).get("spec") or {}).get("claimRef") or {}
    return ref.get("namespace") == namespace and ref.get("name") == name


def reservation_seen(volume: Manifest, namespace: str, claim: str) -> bool:
    """Whether the volume binder has seen `volume` reserved for the claim `namespace/claim`: its
    claimRef names the claim and the binder has since marked it Available, which it does only
    once its own cache holds the reservation. A claim made before that is matched against a
    cache that does not know it: the binder may bind it to any other Available volume of its
    class (a pool's, or one provisioned for it), and the released model would not be in it."""
    available = (volume.get("status") or {}).get("phase") == "Available"
    return available and claims_volume(volume, namespace, claim)


def review_role_name(release_uid: str) -> str:
    """The Role and RoleBinding that let the provider's owners review one release, named after
    its uid: a name cut to 63 characters could be another release's."""
    return f"{REVIEW_ROLE_PREFIX}{release_uid}"


def review_access(
    release: str, release_uid: str, namespace: str, owners: list[Subject]
) -> list[Manifest]:
    """A Role granting get, patch and review on this one ModelRelease, bound to the provider's
    owners: they can reach it to set spec.review (the releases' admission policy asks for
    `review`, desired/admission.py); the webhook checks that they speak for the provider."""
    name = review_role_name(release_uid)
    metadata = {
        "name": name,
        "namespace": namespace,
        "labels": managed_labels(**{RELEASE_LABEL: release}),
    }
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": metadata,
        "rules": [
            {
                "apiGroups": [GROUP],
                "resources": [MODEL_RELEASES],
                "resourceNames": [release],
                "verbs": ["get", "patch", REVIEW_VERB],
            }
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": metadata,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": owner.kind, "name": owner.name}
            for owner in owners
        ],
    }
    return [role, binding]
