"""A volume dataset's gateway: the claim read-only behind kube-rbac-proxy, restricted, asking
the API server about this dataset alone, reached by the clean room at its Service."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from bench.hubkit.manifests import consented, contract_spec, provider_named
from tds_operator.api.datacontract import DataContract
from tds_operator.desired.cleanroom import clean_room_children
from tds_operator.desired.gateway import (
    all_dataset_endpoints,
    gateway_name,
    gateway_objects,
    volume_datasets,
)
from tds_operator.desired.labels import controlled_by
from tds_operator.policy.rules import HubRules

pytestmark = pytest.mark.unit

RULES = HubRules(gateway_file_server_image="files:1", gateway_proxy_image="proxy:1")


def a_contract(*datasets: str) -> DataContract:
    spec = contract_spec(provider={"space": "sgcc", "datasets": list(datasets)})
    return DataContract(metadata={"name": "sgcc-to-cmcc", "uid": "c1"}, spec=consented(spec))


def dataset(name: str, classification: str, source: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "classification": classification, "source": source}


PROVIDER = provider_named(
    "sgcc",
    [
        dataset("meters", "general", {"volume": {"claimName": "meters", "subPath": "v1"}}),
        dataset("grid", "general", {"service": {"name": "grid-gw", "port": 8443}}),
        dataset("secrets", "core", {"volume": {"claimName": "secrets"}}),
    ],
)


def by_kind(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in objects}


def test_only_granted_volume_datasets_get_a_gateway() -> None:
    contract = a_contract("meters", "grid", "secrets")
    assert list(volume_datasets(contract, PROVIDER)) == ["meters"]
    assert gateway_objects(a_contract("grid"), PROVIDER, RULES) == []


def test_the_claim_is_read_only_behind_the_proxy_and_the_pod_is_restricted() -> None:
    objects = by_kind(gateway_objects(a_contract("meters"), PROVIDER, RULES))
    name = gateway_name("c1", "meters")
    assert all(controlled_by(o, "c1") for o in objects.values())
    deployment = objects["Deployment"]
    assert deployment["metadata"]["namespace"] == "tds-sgcc"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == name
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    claim = next(v for v in pod["volumes"] if "persistentVolumeClaim" in v)
    assert claim["persistentVolumeClaim"] == {"claimName": "meters", "readOnly": True}
    files, proxy = pod["containers"]
    assert files["image"] == "files:1"
    assert proxy["image"] == "proxy:1"
    for container in (files, proxy):
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
    # The file server listens on the loopback only and holds no API token; the proxy does.
    assert files["args"] == ["--bind", "127.0.0.1", "--directory", "/data/v1"]
    assert "ports" not in files
    assert [m["name"] for m in files["volumeMounts"]] == ["data"]
    assert all(m["readOnly"] for m in files["volumeMounts"])
    assert "--auth-token-audiences=tds.io/datasets" in proxy["args"]
    assert "--upstream=http://127.0.0.1:8080/" in proxy["args"]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    config = annotations["tds.io/kube-rbac-proxy-config"]
    assert "namespace: tds-sgcc" in config
    assert "resource: datasets" in config
    assert "name: meters" in config
    # The proxy serves this contract's clean room alone, by its own rule: it needs no
    # SubjectAccessReview, and its account may ask none (TokenReviews only).
    [static] = yaml.safe_load(config)["authorization"]["static"]
    assert static["user"] == {"name": "system:serviceaccount:tds-cr-sgcc-to-cmcc:tds-worker"}
    assert (static["verb"], static["name"], static["namespace"]) == ("get", "meters", "tds-sgcc")
    assert (static["apiGroup"], static["resource"]) == ("tds.io", "datasets")
    binding = objects["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == "tds-dataset-gateway"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": name, "namespace": "tds-sgcc"}
    ]
    service = objects["Service"]["spec"]
    assert service["selector"] == deployment["spec"]["template"]["metadata"]["labels"]
    assert service["ports"][0]["port"] == 8443


def test_the_clean_room_reaches_a_volume_dataset_at_its_gateway_alone() -> None:
    contract = a_contract("meters")
    live = {"meters": {"spec": {"clusterIP": "10.96.0.9", "ports": [{"port": 8443}]}}}
    endpoints = all_dataset_endpoints(contract, PROVIDER, live)
    assert endpoints["meters"].address == "10.96.0.9:8443"
    labels = {"tds.io/dataset-gateway": gateway_name("c1", "meters")}
    assert endpoints["meters"].pod_labels == labels
    policies = {c["metadata"]["name"]: c for c in clean_room_children(contract, endpoints)}
    [egress] = policies["tds-allow-datasets"]["spec"]["egress"]
    assert egress["to"][0]["podSelector"] == {"matchLabels": labels}
    assert egress["ports"] == [{"protocol": "TCP", "port": 8443}]
    ingress = policies["tds-allow-tds-cr-sgcc-to-cmcc"]["spec"]["ingress"]
    assert ingress[0]["ports"] == [{"protocol": "TCP", "port": 8443}]


def test_gateway_names_of_two_contracts_never_collide() -> None:
    # Joined names would collide: contract a-b with dataset c, contract a with dataset b-c.
    assert gateway_name("uid-of-a-b", "c") != gateway_name("uid-of-a", "b-c")
    # A contract made again under the same name is another contract.
    assert gateway_name("uid-1", "meters") != gateway_name("uid-2", "meters")
    long = gateway_name("uid-1", "d" * 63)
    assert len(long) <= 63
    assert long.startswith("tds-gw-d")
    assert long != gateway_name("uid-2", "d" * 63)
