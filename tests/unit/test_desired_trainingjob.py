"""An admitted TrainingJob's batch Job: indexed workers on the GPU pool, locked down, with no
resolver: every address they need is an IP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench.hubkit.manifests import consented, contract_spec
from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import DataSpace
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.desired.cleanroom import dataset_endpoints
from tds_operator.desired.trainingjob import batch_job, dataset_addresses, rendezvous_service
from tds_operator.policy.rules import HubRules

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


MASTER_IP = "10.96.0.17"
DATASETS = {"grid-load-2025": "10.96.3.4:8443"}


def the_batch_job(rules: HubRules | None = None, **metadata: Any) -> dict[str, Any]:
    return batch_job(a_job(**metadata), rules or HubRules(), 600, MASTER_IP, DATASETS)


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
    assert env["MASTER_ADDR"]["value"] == MASTER_IP
    assert env["WORLD_SIZE"]["value"] == "2"
    assert env["NPROC_PER_NODE"]["value"] == "8"
    rank_source = env["RANK"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert "job-completion-index" in rank_source
    assert json.loads(env["TDS_DATASET_ENDPOINTS"]["value"]) == {
        "grid-load-2025": {
            "address": "10.96.3.4:8443",
            "tokenPath": "/var/run/secrets/tds.io/datasets/token",
            "audience": "tds.io/datasets",
            "scheme": "Bearer",
        }
    }
    assert env["EPOCHS"]["value"] == "3"


def test_workers_have_no_resolver() -> None:
    pod = the_batch_job()["spec"]["template"]["spec"]
    assert pod["dnsPolicy"] == "None"
    assert pod["dnsConfig"] == {"nameservers": ["127.0.0.1"]}
    assert pod["enableServiceLinks"] is False
    assert "subdomain" not in pod


def test_datasets_are_reached_at_their_services_cluster_ip() -> None:
    gateway = {
        "spec": {"clusterIP": "10.96.3.4", "ports": [{"port": 8443, "targetPort": 9443}]},
    }
    endpoints = dataset_endpoints(CONTRACT, PROVIDER, {"grid-load-2025": gateway})
    assert dataset_addresses(a_job(), CONTRACT, endpoints) == DATASETS
    headless = {"spec": {"clusterIP": "None"}}
    endpoints = dataset_endpoints(CONTRACT, PROVIDER, {"grid-load-2025": headless})
    assert dataset_addresses(a_job(), CONTRACT, endpoints) == {"grid-load-2025": None}
    endpoints = dataset_endpoints(CONTRACT, PROVIDER, {"grid-load-2025": None})
    assert dataset_addresses(a_job(), CONTRACT, endpoints) == {"grid-load-2025": None}


def test_the_rendezvous_service_fronts_worker_0() -> None:
    service = rendezvous_service(a_job())
    assert service["spec"]["type"] == "ClusterIP"
    assert "clusterIP" not in service["spec"]
    assert service["metadata"]["namespace"] == "tds-cr-sgcc-to-cmcc"
    selector = service["spec"]["selector"]
    assert selector.pop("batch.kubernetes.io/job-completion-index") == "0"
    pod = the_batch_job()["spec"]["template"]
    assert all(pod["metadata"]["labels"][k] == v for k, v in selector.items())


def test_scratch_space_has_the_hubs_size_limit() -> None:
    pod = the_batch_job(HubRules(scratch_size_limit="2Gi"))["spec"]["template"]["spec"]
    assert pod["volumes"][0] == {"name": "scratch", "emptyDir": {"sizeLimit": "2Gi"}}
    assert pod["containers"][0]["volumeMounts"][0] == {"name": "scratch", "mountPath": "/tmp"}
    default = the_batch_job()["spec"]["template"]["spec"]["volumes"][0]["emptyDir"]
    assert default == {"sizeLimit": "10Gi"}


def test_the_termination_message_is_the_kubelets_file_never_the_logs() -> None:
    [worker] = the_batch_job()["spec"]["template"]["spec"]["containers"]
    assert worker["terminationMessagePolicy"] == "File"
    assert worker["terminationMessagePath"] == "/dev/termination-log"


def test_on_a_simulation_hub_its_annotations_and_labels_reach_the_pods() -> None:
    template = the_batch_job(
        HubRules(simulation_hub=True),
        annotations={"hub.tds.io/run-for": "30s", "team/secret": "x"},
        labels={"hub.tds.io/fail": "true", "team": "ai"},
    )["spec"]["template"]["metadata"]
    assert template["annotations"] == {"hub.tds.io/run-for": "30s"}
    assert template["labels"]["hub.tds.io/fail"] == "true"
    assert "team" not in template["labels"]


def test_elsewhere_no_metadata_of_the_consumers_reaches_the_pods() -> None:
    template = the_batch_job(
        annotations={"hub.tds.io/run-for": "30s"}, labels={"hub.tds.io/fail": "true"}
    )["spec"]["template"]["metadata"]
    assert "annotations" not in template
    assert not [k for k in template["labels"] if k.startswith("hub.tds.io/")]


def test_workers_run_as_the_clean_rooms_account_with_a_dataset_token_only() -> None:
    pod = the_batch_job()["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "tds-worker"
    assert pod["automountServiceAccountToken"] is False
    token = next(v for v in pod["volumes"] if v["name"] == "tds-dataset-token")
    [source] = token["projected"]["sources"]
    assert source == {
        "serviceAccountToken": {
            "audience": "tds.io/datasets",
            "expirationSeconds": 600,
            "path": "token",
        }
    }
    [worker] = pod["containers"]
    mount = next(m for m in worker["volumeMounts"] if m["name"] == "tds-dataset-token")
    assert mount == {
        "name": "tds-dataset-token",
        "mountPath": "/var/run/secrets/tds.io/datasets",
        "readOnly": True,
    }


def test_every_worker_pod_is_held_for_metering() -> None:
    # The Job controller copies the template's finalizers onto each pod: a pod deleted behind the
    # operator's back stays, terminated with its finish time, until the operator metered it.
    template = the_batch_job()["spec"]["template"]
    assert template["metadata"]["finalizers"] == ["tds.io/metering"]


def test_a_stopped_worker_has_one_second_between_sigterm_and_sigkill() -> None:
    """A stopped job stops within a second: not the default 30 s grace period, which let a worker
    that ignores SIGTERM run on after a revocation."""
    pod = the_batch_job()["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 1
