"""An admitted TrainingJob's batch Job: indexed workers on the GPU pool, locked down."""

from __future__ import annotations

from typing import Any

import pytest

from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import DataSpace
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.desired.trainingjob import batch_job, headless_service
from tds_operator.policy.rules import HubRules
from tests.manifests import consented, contract_spec

pytestmark = pytest.mark.unit


def a_job(**metadata: Any) -> TrainingJob:
    return TrainingJob.model_validate(
        {
            "metadata": {"name": "forecast", "namespace": "tds-cmcc", "uid": "u1", **metadata},
            "spec": {
                "contract": "sgcc-to-cmcc",
                "image": "registry.local/forecast:1.0",
                "command": ["torchrun", "train.py"],
                "workers": 2,
                "gpusPerWorker": 8,
                "env": [{"name": "EPOCHS", "value": "3"}],
            },
        }
    )


CONTRACT = DataContract(metadata={"name": "sgcc-to-cmcc"}, spec=consented(contract_spec()))
PROVIDER = DataSpace.model_validate(
    {
        "metadata": {"name": "sgcc"},
        "spec": {
            "organization": "State Grid",
            "owners": [{"kind": "Group", "name": "sgcc-admins"}],
            "quota": {"cpu": "8", "memory": "8Gi"},
            "datasets": [
                {
                    "name": "grid-load-2025",
                    "classification": "important",
                    "source": {"service": {"name": "grid-load-gateway", "port": 8443}},
                }
            ],
        },
    }
)


def the_batch_job(**metadata: Any) -> dict[str, Any]:
    return batch_job(a_job(**metadata), CONTRACT, PROVIDER, HubRules(), active_deadline_seconds=600)


def test_one_indexed_worker_per_index_in_the_clean_room() -> None:
    job = the_batch_job()
    assert job["metadata"]["namespace"] == "tds-cr-sgcc-to-cmcc"
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 2, 2)
    assert spec["backoffLimit"] == 0
    assert spec["activeDeadlineSeconds"] == 600


def test_workers_request_their_gpus_on_the_gpu_pool() -> None:
    pod = the_batch_job()["spec"]["template"]["spec"]
    [worker] = pod["containers"]
    assert worker["resources"]["requests"] == {"nvidia.com/gpu": "8"}
    assert worker["resources"]["limits"] == {"nvidia.com/gpu": "8"}
    assert pod["nodeSelector"] == {"hub.tds.io/pool": "gpu"}
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_workers_are_locked_down() -> None:
    pod = the_batch_job()["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = pod["containers"][0]["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["readOnlyRootFilesystem"] is True


def test_rendezvous_environment_for_torchrun() -> None:
    env = {
        e["name"]: e for e in the_batch_job()["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["MASTER_ADDR"]["value"] == "forecast-0.forecast.tds-cr-sgcc-to-cmcc.svc"
    assert env["WORLD_SIZE"]["value"] == "2"
    assert env["NPROC_PER_NODE"]["value"] == "8"
    rank_source = env["RANK"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert "job-completion-index" in rank_source
    assert env["TDS_DATASET_ENDPOINTS"]["value"] == (
        '{"grid-load-2025":"grid-load-gateway.tds-sgcc.svc:8443"}'
    )
    assert env["EPOCHS"]["value"] == "3"


def test_the_headless_service_names_the_workers() -> None:
    service = headless_service(a_job())
    assert service["spec"]["clusterIP"] == "None"
    assert service["metadata"]["namespace"] == "tds-cr-sgcc-to-cmcc"
    pod = the_batch_job()["spec"]["template"]
    assert pod["spec"]["subdomain"] == service["metadata"]["name"]
    assert all(pod["metadata"]["labels"][k] == v for k, v in service["spec"]["selector"].items())


def test_only_hub_simulation_annotations_and_labels_reach_the_pods() -> None:
    template = the_batch_job(
        annotations={"hub.tds.io/run-for": "30s", "team/secret": "x"},
        labels={"hub.tds.io/fail": "true", "team": "ai"},
    )["spec"]["template"]["metadata"]
    assert template["annotations"] == {"hub.tds.io/run-for": "30s"}
    assert template["labels"]["hub.tds.io/fail"] == "true"
    assert "team" not in template["labels"]
