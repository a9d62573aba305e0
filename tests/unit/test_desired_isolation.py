"""What a space and a clean room have alike: owned metadata, default-deny, DNS, limits."""

from __future__ import annotations

from typing import Any

import pytest

from bench.hubkit.manifests import consented, contract_spec
from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import DataSpace
from tds_operator.desired.cleanroom import DatasetEndpoint, clean_room_children
from tds_operator.desired.isolation import (
    DEFAULT_DENY_POLICY,
    DNS_POLICY,
    LIMIT_RANGE,
    QUOTA,
    Owner,
    isolation_policies,
    limit_range,
    namespace_manifest,
    resource_quota,
)
from tds_operator.desired.space import space_children

pytestmark = pytest.mark.unit

OWNER = Owner("DataSpace", "sgcc", "uid-1", "tds.io/space")


def test_owned_metadata_names_labels_and_references_the_owner() -> None:
    assert OWNER.metadata("tds-quota", "tds-sgcc") == {
        "name": "tds-quota",
        "labels": {"app.kubernetes.io/managed-by": "tds-operator", "tds.io/space": "sgcc"},
        "ownerReferences": [
            {
                "apiVersion": "tds.io/v1alpha1",
                "kind": "DataSpace",
                "name": "sgcc",
                "uid": "uid-1",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
        "namespace": "tds-sgcc",
    }
    assert "namespace" not in OWNER.metadata("tds-sgcc")


def test_the_namespace_is_restricted_and_carries_extra_labels() -> None:
    namespace = namespace_manifest(OWNER, "tds-sgcc", **{"tds.io/extra": "true"})
    assert (namespace["kind"], namespace["metadata"]["name"]) == ("Namespace", "tds-sgcc")
    labels = namespace["metadata"]["labels"]
    assert labels["tds.io/extra"] == "true"
    assert labels["tds.io/space"] == "sgcc"
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_isolation_denies_by_default_then_allows_dns_and_the_namespace_itself() -> None:
    deny, dns, same = isolation_policies(OWNER, "tds-sgcc", "tds-allow-same")
    assert [p["metadata"]["name"] for p in (deny, dns, same)] == [
        DEFAULT_DENY_POLICY,
        DNS_POLICY,
        "tds-allow-same",
    ]
    assert {p["metadata"]["namespace"] for p in (deny, dns, same)} == {"tds-sgcc"}
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert [port["port"] for port in dns["spec"]["egress"][0]["ports"]] == [53, 53]
    assert same["spec"]["ingress"] == [{"from": [{"podSelector": {}}]}]


def test_quota_and_limit_range_have_the_shared_names() -> None:
    quota = resource_quota(OWNER, "tds-sgcc", {"pods": "3"})
    assert (quota["metadata"]["name"], quota["spec"]) == (QUOTA, {"hard": {"pods": "3"}})
    limits = limit_range(OWNER, "tds-sgcc")
    assert limits["metadata"]["name"] == LIMIT_RANGE
    [container] = limits["spec"]["limits"]
    assert container["type"] == "Container"
    assert container["defaultRequest"] == {"cpu": "100m", "memory": "128Mi"}
    assert container["default"] == {"cpu": "1", "memory": "1Gi"}


def _shared(children: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    names = {DEFAULT_DENY_POLICY, DNS_POLICY, QUOTA, LIMIT_RANGE}
    return {
        (c["kind"], c["metadata"]["name"]): c["spec"]
        for c in children
        if c["metadata"]["name"] in names
    }


def test_a_space_and_a_clean_room_share_the_isolation_objects() -> None:
    space = DataSpace.model_validate(
        {
            "metadata": {"name": "sgcc", "uid": "uid-1"},
            "spec": {
                "organization": "State Grid",
                "owners": [{"kind": "Group", "name": "sgcc-admins"}],
                "quota": {"cpu": "1", "memory": "1Gi"},
            },
        }
    )
    contract = DataContract(metadata={"name": "c", "uid": "c1"}, spec=consented(contract_spec()))
    in_space = _shared(space_children(space))
    in_room = _shared(clean_room_children(contract, {"d": DatasetEndpoint(80)}))
    # A space may ask the cluster DNS; a clean room has no resolver.
    assert in_space.keys() - in_room.keys() == {("NetworkPolicy", DNS_POLICY)}
    assert in_room.keys() < in_space.keys()
    for key in in_room:
        if key[0] != "ResourceQuota":
            assert in_space[key] == in_room[key], key
