"""The clean room reaches exactly the contract's datasets and egress, and nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from bench.hubkit.manifests import consented, contract_spec
from tds_operator.api.datacontract import DataContract
from tds_operator.desired.cleanroom import (
    DatasetEndpoint,
    clean_room_children,
    clean_room_namespace,
    clean_room_policies,
    dataset_endpoint,
    provider_policy_name,
)
from tds_operator.desired.labels import controlled_by
from tds_operator.policy.rules import HubRules

pytestmark = pytest.mark.unit


def a_contract(**changes: Any) -> DataContract:
    return DataContract(
        metadata={"name": "sgcc-to-cmcc", "uid": "c1"}, spec=consented(contract_spec(**changes))
    )


ENDPOINTS = {"grid-load-2025": DatasetEndpoint(8443, {"app": "gateway"})}


def by_kind_and_name(children: list[dict[str, Any]]) -> dict[tuple[str, str, str], Any]:
    return {
        (c["kind"], c["metadata"].get("namespace", ""), c["metadata"]["name"]): c for c in children
    }


def test_the_clean_room_is_a_restricted_namespace_owned_by_the_contract() -> None:
    children = by_kind_and_name(clean_room_children(a_contract(), ENDPOINTS))
    namespace = children[("Namespace", "", "tds-cr-sgcc-to-cmcc")]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespace["metadata"]["ownerReferences"][0]["uid"] == "c1"


def test_the_clean_room_may_not_ask_the_cluster_dns() -> None:
    children = clean_room_children(a_contract(), ENDPOINTS)
    names = {c["metadata"]["name"] for c in children}
    assert "tds-allow-dns" not in names
    ports = [
        port
        for policy in children
        if policy["kind"] == "NetworkPolicy"
        for rule in policy["spec"].get("egress") or []
        for port in rule.get("ports") or []
    ]
    assert all(port["protocol"] == "TCP" and port["port"] != 53 for port in ports), ports


def test_the_sealing_policies_are_every_network_policy_of_the_clean_room() -> None:
    policies = clean_room_policies(a_contract(), ENDPOINTS)
    assert [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in policies] == [
        ("tds-cr-sgcc-to-cmcc", "tds-default-deny"),
        ("tds-cr-sgcc-to-cmcc", "tds-allow-workers"),
        ("tds-cr-sgcc-to-cmcc", "tds-allow-datasets"),
        ("tds-sgcc", provider_policy_name("sgcc-to-cmcc")),
    ]


def test_egress_goes_to_the_dataset_pods_port_only() -> None:
    children = by_kind_and_name(clean_room_children(a_contract(), ENDPOINTS))
    policy = children[("NetworkPolicy", "tds-cr-sgcc-to-cmcc", "tds-allow-datasets")]
    [rule] = policy["spec"]["egress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8443}]
    assert rule["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "tds-sgcc"}},
            "podSelector": {"matchLabels": {"app": "gateway"}},
        }
    ]


def test_the_provider_admits_only_this_clean_room() -> None:
    children = by_kind_and_name(clean_room_children(a_contract(), ENDPOINTS))
    policy = children[("NetworkPolicy", "tds-sgcc", provider_policy_name("sgcc-to-cmcc"))]
    [rule] = policy["spec"]["ingress"]
    assert rule["from"] == [
        {
            "namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": "tds-cr-sgcc-to-cmcc"}
            }
        }
    ]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8443}]


def test_contract_egress_entries_become_their_own_policy() -> None:
    contract = a_contract(egress=[{"cidr": "10.20.30.0/24", "ports": [443]}])
    children = by_kind_and_name(clean_room_children(contract, ENDPOINTS))
    policy = children[("NetworkPolicy", "tds-cr-sgcc-to-cmcc", "tds-allow-egress")]
    assert policy["spec"]["egress"] == [
        {
            "to": [{"ipBlock": {"cidr": "10.20.30.0/24"}}],
            "ports": [{"protocol": "TCP", "port": 443}],
        }
    ]
    assert ("NetworkPolicy", "tds-cr-sgcc-to-cmcc", "tds-allow-egress") not in by_kind_and_name(
        clean_room_children(a_contract(), ENDPOINTS)
    )


def test_the_gpu_quota_is_the_contract_concurrency() -> None:
    children = by_kind_and_name(clean_room_children(a_contract(), ENDPOINTS))
    quota = children[("ResourceQuota", "tds-cr-sgcc-to-cmcc", "tds-quota")]
    assert quota["spec"]["hard"] == {"requests.nvidia.com/gpu": "16"}


def test_long_contract_names_still_give_a_valid_namespace() -> None:
    name = "a" * 63
    namespace = clean_room_namespace(name)
    assert len(namespace) <= 63
    assert namespace != clean_room_namespace("a" * 62 + "b")
    assert len(provider_policy_name(name)) <= 63
    assert provider_policy_name(name) != provider_policy_name("a" * 62 + "b")
    assert provider_policy_name("short") == "tds-allow-tds-cr-short"


def test_a_dataset_endpoint_is_the_services_target_port_and_selector() -> None:
    service = {
        "spec": {
            "selector": {"app": "gateway"},
            "ports": [{"port": 80, "targetPort": 8080}, {"port": 8443, "targetPort": 9443}],
        }
    }
    endpoint = dataset_endpoint(service, 8443)
    assert (endpoint.port, endpoint.pod_labels) == (9443, {"app": "gateway"})
    assert endpoint.address is None  # no cluster IP allocated (yet)


@pytest.mark.parametrize(
    ("cluster_ip", "address"),
    [("10.96.3.4", "10.96.3.4:8443"), ("fd00::3:4", "[fd00::3:4]:8443"), ("None", None)],
)
def test_a_dataset_is_reached_at_its_services_cluster_ip(
    cluster_ip: str, address: str | None
) -> None:
    service = {"spec": {"clusterIP": cluster_ip, "ports": [{"port": 8443}]}}
    assert dataset_endpoint(service, 8443).address == address


def test_a_named_or_unknown_target_port_falls_back_to_the_service_port() -> None:
    named = {"spec": {"ports": [{"port": 8443, "targetPort": "https"}]}}
    assert dataset_endpoint(named, 8443).port == 8443
    missing = dataset_endpoint(None, 8443)
    assert (missing.port, missing.pod_labels) == (8443, {})


def test_the_clean_room_namespace_names_the_contracts_uid() -> None:
    children = by_kind_and_name(clean_room_children(a_contract(), ENDPOINTS))
    namespace = children[("Namespace", "", "tds-cr-sgcc-to-cmcc")]
    assert namespace["metadata"]["labels"]["tds.io/contract-uid"] == "c1"
    assert controlled_by(namespace, "c1")
    assert not controlled_by(namespace, "c2")


def test_an_object_shared_only_by_name_is_not_the_contracts() -> None:
    space_namespace = {
        "metadata": {
            "name": "tds-cr-rail",
            "ownerReferences": [{"kind": "DataSpace", "uid": "s1", "controller": True}],
        }
    }
    assert not controlled_by(space_namespace, "c1")
    assert not controlled_by({"metadata": {"name": "tds-cr-rail"}}, "c1")
    assert not controlled_by(None, "c1")
    assert not controlled_by(space_namespace, "")


def test_forbidden_ranges_are_cut_out_of_an_allowed_wide_destination() -> None:
    rules = HubRules(allow_any_egress_destination=True)
    contract = a_contract(egress=[{"cidr": "0.0.0.0/0", "ports": [443]}])
    children = by_kind_and_name(clean_room_children(contract, ENDPOINTS, rules))
    policy = children[("NetworkPolicy", "tds-cr-sgcc-to-cmcc", "tds-allow-egress")]
    [rule] = policy["spec"]["egress"]
    assert rule["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]}}]
