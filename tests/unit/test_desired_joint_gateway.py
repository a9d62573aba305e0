"""A joint job's dataset gateways: one per contract and volume dataset the job reads, in that
provider's namespace, controlled and labelled like the contract's own gateways, serving the joint
room's workers alone, and reached by the room at their Services."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from bench.hubkit.manifests import consented, contract_spec, provider_named, training_job_body
from tds_operator.api.datacontract import DataContract
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.desired.gateway import GATEWAY_LABEL, gateway_name, gateway_objects
from tds_operator.desired.gateway_network import gateway_policies
from tds_operator.desired.gateway_pod import PROXY_CONFIG_ANNOTATION
from tds_operator.desired.grants import worker_identity
from tds_operator.desired.joint_gateway import (
    joint_endpoints,
    joint_gateway_name,
    joint_gateway_names,
    joint_gateways,
)
from tds_operator.desired.joint_room import JOINT_ROOM_LABEL, joint_worker_identity
from tds_operator.desired.labels import CONTRACT_LABEL, controlled_by
from tds_operator.desired.trainingjob import JOB_UID_LABEL
from tds_operator.policy.rules import HubRules

pytestmark = pytest.mark.unit

RULES = HubRules(gateway_file_server_image="files:1", gateway_proxy_image="proxy:1")
JOB_UID = "0b7f6a52-6f0e-4c43-a0a5-3f7a1e1a9d10"
OTHER_JOB_UID = "9a1c2b3d-0000-4c43-a0a5-3f7a1e1a9d10"
API_SERVER = [{"to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}], "ports": [{"port": 6443}]}]
CONTRACT = DataContract(
    metadata={"name": "sgcc-to-cmcc", "uid": "c-sgcc"},
    spec=consented(
        contract_spec(provider={"space": "sgcc", "datasets": ["meters", "archive", "grid"]})
    ),
)


def dataset(name: str, source: dict[str, Any], classification: str = "general") -> dict[str, Any]:
    return {"name": name, "classification": classification, "source": source}


PROVIDER = provider_named(
    "sgcc",
    [
        dataset("meters", {"volume": {"claimName": "meters", "subPath": "v1"}}),
        dataset("archive", {"volume": {"claimName": "archive"}}),
        dataset("grid", {"service": {"name": "grid-svc", "port": 9000}}),
    ],
)


def a_joint_job(uid: str = JOB_UID, datasets: list[str] | None = None) -> TrainingJob:
    body = training_job_body("forecast", "tds-cmcc", "x")
    del body["spec"]["contract"]
    body["spec"]["contracts"] = ["sgcc-to-cmcc", "cma-to-cmcc"]
    if datasets is not None:
        body["spec"]["datasets"] = datasets
    body["metadata"]["uid"] = uid
    return TrainingJob.model_validate(body)


def by_kind(objects: list[dict[str, Any]], name: str) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in objects if o["metadata"]["name"] == name}


def served(deployment: dict[str, Any]) -> list[str]:
    template = deployment["spec"]["template"]["metadata"]
    config = yaml.safe_load(template["annotations"][PROXY_CONFIG_ANNOTATION])
    return [rule["user"]["name"] for rule in config["authorization"]["static"]]


def test_each_volume_dataset_the_job_reads_gets_a_gateway_of_the_job() -> None:
    assert list(joint_gateway_names(a_joint_job(), CONTRACT, PROVIDER)) == ["archive", "meters"]
    only = a_joint_job(datasets=["meters", "grid", "weather"])
    assert list(joint_gateway_names(only, CONTRACT, PROVIDER)) == ["meters"]
    none = a_joint_job(datasets=["grid"])
    assert joint_gateways(none, CONTRACT, PROVIDER, RULES, API_SERVER) == []


def test_the_joint_gateway_serves_the_joint_room_alone() -> None:
    job = a_joint_job()
    objects = joint_gateways(job, CONTRACT, PROVIDER, RULES, API_SERVER)
    name = joint_gateway_name(JOB_UID, "c-sgcc", "meters")
    deployment = by_kind(objects, name)["Deployment"]
    assert served(deployment) == [joint_worker_identity(JOB_UID)]
    # Neither the contract's own clean room nor another joint job's room.
    assert worker_identity("sgcc-to-cmcc") not in served(deployment)
    assert joint_worker_identity(OTHER_JOB_UID) not in served(deployment)
    config = yaml.safe_load(
        deployment["spec"]["template"]["metadata"]["annotations"][PROXY_CONFIG_ANNOTATION]
    )
    assert config["authorization"]["resourceAttributes"]["name"] == "meters"
    assert config["authorization"]["resourceAttributes"]["namespace"] == "tds-sgcc"
    # The contract's own gateway still serves its own clean room alone.
    own = by_kind(gateway_objects(CONTRACT, PROVIDER, RULES), gateway_name("c-sgcc", "meters"))
    assert served(own["Deployment"]) == [worker_identity("sgcc-to-cmcc")]


def test_the_joint_gateway_is_the_contracts_and_the_jobs_like_a_contract_gateway() -> None:
    job = a_joint_job()
    objects = joint_gateways(job, CONTRACT, PROVIDER, RULES, API_SERVER)
    name = joint_gateway_name(JOB_UID, "c-sgcc", "meters")
    mine = by_kind(objects, name)
    assert set(mine) == {
        "NetworkPolicy",
        "ServiceAccount",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
    }
    for kind, manifest in mine.items():
        metadata = manifest["metadata"]
        assert controlled_by(manifest, "c-sgcc"), kind
        labels = metadata["labels"]
        assert labels[CONTRACT_LABEL] == "sgcc-to-cmcc", kind
        assert labels[GATEWAY_LABEL] == name, kind
        assert labels[JOINT_ROOM_LABEL] == "true", kind
        assert labels[JOB_UID_LABEL] == JOB_UID, kind
        assert metadata.get("namespace") == (None if kind == "ClusterRoleBinding" else "tds-sgcc")
    # Built like the contract's own: the same pod, account, binding, Service and policy shapes.
    own = by_kind(
        [
            *gateway_policies(CONTRACT, PROVIDER, API_SERVER),
            *gateway_objects(CONTRACT, PROVIDER, RULES),
        ],
        gateway_name("c-sgcc", "meters"),
    )
    own_pod = own["Deployment"]["spec"]["template"]["spec"]
    joint_pod = mine["Deployment"]["spec"]["template"]["spec"]
    assert joint_pod["containers"] == own_pod["containers"]
    assert joint_pod["serviceAccountName"] == name
    assert mine["NetworkPolicy"]["spec"]["egress"] == own["NetworkPolicy"]["spec"]["egress"]
    assert mine["NetworkPolicy"]["spec"]["podSelector"] == {"matchLabels": {GATEWAY_LABEL: name}}
    assert mine["Service"]["spec"]["selector"] == {GATEWAY_LABEL: name}
    assert mine["ClusterRoleBinding"]["subjects"] == [
        {"kind": "ServiceAccount", "name": name, "namespace": "tds-sgcc"}
    ]
    # Without the API server's address no policy (the gateway refuses every read).
    without = joint_gateways(job, CONTRACT, PROVIDER, RULES, [])
    assert "NetworkPolicy" not in {o["kind"] for o in without}


def test_joint_gateway_names_are_bounded_and_never_anothers() -> None:
    names = {
        joint_gateway_name(JOB_UID, "c-sgcc", "meters"),
        joint_gateway_name(OTHER_JOB_UID, "c-sgcc", "meters"),
        joint_gateway_name(JOB_UID, "c-other", "meters"),
        gateway_name("c-sgcc", "meters"),
    }
    assert len(names) == 4
    long = joint_gateway_name(JOB_UID, "c-sgcc", "d" * 63)
    assert len(long) <= 63
    assert long.startswith("tds-gw-")


def test_the_room_reaches_a_volume_dataset_at_the_jobs_gateway() -> None:
    job = a_joint_job()
    name = joint_gateway_name(JOB_UID, "c-sgcc", "meters")
    services = {
        "meters": {"spec": {"clusterIP": "10.96.0.7", "selector": {GATEWAY_LABEL: name}}},
        "grid": {"spec": {"clusterIP": "10.96.0.9", "ports": [{"port": 9000}]}},
    }
    endpoints = joint_endpoints(job, CONTRACT, PROVIDER, services)
    assert endpoints["meters"].address == "10.96.0.7:8443"
    assert endpoints["meters"].pod_labels == {GATEWAY_LABEL: name}
    assert endpoints["grid"].address == "10.96.0.9:9000"
    # The archive's gateway has no Service yet: no address, so the job waits.
    assert endpoints["archive"].address is None
    assert endpoints["archive"].pod_labels == {
        GATEWAY_LABEL: joint_gateway_name(JOB_UID, "c-sgcc", "archive")
    }
