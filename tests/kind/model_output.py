"""What the model-output test (3c) runs: the rows the provider serves, the training job that fits
them through the contract's gateway, and the pods that try to mount its output."""

from __future__ import annotations

import json

from tests.e2e.cluster import Manifest, get
from tests.e2e.story import Story
from tests.kind.wire import DATASET, image, restricted_pod

# y = 2 a - 3 b + 5, exactly: the least-squares fit must find these coefficients.
COEFFICIENTS = [2.0, -3.0, 5.0]
ROWS_FILE = "rows.csv"
ROWS = "a,b,y\n" + "".join(
    f"{a},{b},{2 * a - 3 * b + 5}\n" for a, b in ((1, 0), (0, 1), (2, 3), (5, 1), (4, 4), (7, 2))
)
MODEL_FILE = "model.json"


def rows_filler(story: Story) -> Manifest:
    """A pod of the provider's owner writing ROWS beside the file the gateway already serves."""
    script = f"import pathlib; pathlib.Path('/data/{ROWS_FILE}').write_text({ROWS!r})"
    pod = restricted_pod("rows-filler", f"tds-{story.provider}", ["python3", "-c", script])
    pod["spec"]["securityContext"]["fsGroup"] = 65532
    pod["spec"]["volumes"] = [
        {"name": "data", "persistentVolumeClaim": {"claimName": story.archive.claim_name}}
    ]
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    return pod


def training_job(story: Story, name: str) -> Manifest:
    """A TrainingJob of the consumer under the story's contract: the trainer image's program fits
    ROWS read through the gateway of DATASET and writes its model to /output."""
    job: Manifest = json.loads(json.dumps(story.job))
    job["metadata"] = {"name": name, "namespace": story.job["metadata"]["namespace"]}
    job["spec"].update(
        image=image(),
        command=["python3", "/opt/train/train.py"],
        args=[f"gateway:{DATASET}/{ROWS_FILE}", "/output"],
        datasets=[DATASET],
        workers=1,
        gpusPerWorker=4,
        maxDurationSeconds=600,
        output={"size": "64Mi"},
    )
    return job


def reader(name: str, namespace: str, claim: str) -> Manifest:
    """A pod of a space that mounts `claim` read-only and prints the model's sha256 and text."""
    script = (
        "import hashlib, pathlib; "
        f"body = pathlib.Path('/model/{MODEL_FILE}').read_bytes(); "
        "print(hashlib.sha256(body).hexdigest()); print(body.decode(), end='')"
    )
    pod = restricted_pod(name, namespace, ["python3", "-c", script])
    pod["spec"]["volumes"] = [
        {"name": "model", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}
    ]
    pod["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "model", "mountPath": "/model", "readOnly": True}
    ]
    return pod


def claim_of_volume(name: str, namespace: str, volume: str | None) -> Manifest:
    """A claim in a space, naming a volume (or none)."""
    spec: Manifest = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "64Mi"}},
    }
    if volume:
        spec["volumeName"] = volume
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def pod_phase(name: str, namespace: str) -> str | None:
    return ((get("pod", name, namespace) or {}).get("status") or {}).get("phase")


def terminated(pod: Manifest | None, container: str) -> Manifest:
    """The terminated state of a pod's container, or {}."""
    for status in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == container:
            found: Manifest = (status.get("state") or {}).get("terminated") or {}
            return found
    return {}
