"""An Active contract's datasets: each Service (with a cluster IP) or claim in the provider's
namespace, else the condition names what is missing, for the provider to fix."""

from __future__ import annotations

from typing import Any

import pytest

from bench.hubkit.manifests import consented, contract_spec, provider_named
from tds_operator.api.datacontract import DataContract
from tds_operator.policy.datasets import (
    DATASET_CLAIM_MISSING,
    DATASET_SERVICE_HEADLESS,
    DATASET_SERVICE_MISSING,
    DATASETS_PRESENT,
    datasets_reachable,
)

pytestmark = pytest.mark.unit

PROVIDER = provider_named(
    "sgcc",
    [
        {
            "name": "grid",
            "classification": "general",
            "source": {"service": {"name": "grid-gw", "port": 8443}},
        },
        {"name": "meters", "classification": "general", "source": {"volume": {"claimName": "m"}}},
    ],
)


def a_contract(*datasets: str) -> DataContract:
    spec = contract_spec(provider={"space": "sgcc", "datasets": list(datasets)})
    return DataContract(metadata={"name": "sgcc-to-cmcc", "uid": "c1"}, spec=consented(spec))


def service(cluster_ip: str = "10.0.0.7") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "spec": {"clusterIP": cluster_ip}}


def test_every_service_and_claim_there_is_reachable() -> None:
    decision = datasets_reachable(
        a_contract("grid", "meters"), PROVIDER, {"grid": service()}, {"meters": True}
    )
    assert (decision.allowed, decision.reason) == (True, DATASETS_PRESENT)
    assert "tds-sgcc" in decision.message


def test_a_missing_service_names_the_dataset_the_service_and_the_namespace() -> None:
    decision = datasets_reachable(a_contract("grid"), PROVIDER, {"grid": None}, {})
    assert (decision.allowed, decision.reason) == (False, DATASET_SERVICE_MISSING)
    assert "dataset grid: Service grid-gw is missing in namespace tds-sgcc" in decision.message


def test_a_headless_service_has_no_address_for_a_clean_room() -> None:
    decision = datasets_reachable(a_contract("grid"), PROVIDER, {"grid": service("None")}, {})
    assert (decision.allowed, decision.reason) == (False, DATASET_SERVICE_HEADLESS)
    assert "Service grid-gw has no cluster IP" in decision.message


def test_a_missing_claim_is_named_with_every_other_problem() -> None:
    decision = datasets_reachable(
        a_contract("meters", "grid"), PROVIDER, {"grid": None}, {"meters": False}
    )
    assert (decision.allowed, decision.reason) == (False, DATASET_CLAIM_MISSING)
    assert "dataset meters: PersistentVolumeClaim m is missing" in decision.message
    assert "dataset grid: Service grid-gw is missing" in decision.message


def test_a_dataset_the_provider_does_not_offer_is_left_to_the_terms() -> None:
    decision = datasets_reachable(a_contract("grid", "nowhere"), PROVIDER, {"grid": service()}, {})
    assert decision.allowed
