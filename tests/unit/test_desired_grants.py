"""A clean room's identity and its grant: `get` on exactly the contract's datasets, by name, in
the provider's namespace, for the clean room's ServiceAccount alone."""

from __future__ import annotations

from typing import Any

import pytest

from bench.hubkit.manifests import consented, contract_spec, provider_named
from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import DataSpace
from tds_operator.desired.cleanroom import clean_room_children, worker_service_account
from tds_operator.desired.grants import (
    clean_room_access,
    dataset_grant,
    grant_details,
    grant_name,
    granted_datasets,
    worker_identity,
)
from tds_operator.desired.labels import controlled_by

pytestmark = pytest.mark.unit


def a_contract(**changes: Any) -> DataContract:
    return DataContract(
        metadata={"name": "sgcc-to-cmcc", "uid": "c1"}, spec=consented(contract_spec(**changes))
    )


def a_provider(*datasets: tuple[str, str]) -> DataSpace:
    return provider_named(
        "sgcc",
        [
            {
                "name": name,
                "classification": classification,
                "source": {"volume": {"claimName": f"{name}-data"}},
            }
            for name, classification in datasets
        ],
    )


def test_the_grant_names_exactly_the_contracts_datasets_for_the_clean_rooms_account() -> None:
    provider = a_provider(("grid-load-2025", "important"), ("meters", "general"))
    contract = a_contract(
        provider={
            "space": "sgcc",
            "datasets": [
                "grid-load-2025",
            ],
        }
    )
    role, binding = clean_room_access(contract, provider)
    account = worker_service_account(contract)
    assert account["kind"] == "ServiceAccount"
    assert (
        account["metadata"] | {"namespace": "tds-cr-sgcc-to-cmcc", "name": "tds-worker"}
        == (account["metadata"])
    )
    assert account["automountServiceAccountToken"] is False
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "tds-sgcc"
    assert role["metadata"]["name"] == binding["metadata"]["name"] == "tds-datasets-sgcc-to-cmcc"
    assert role["rules"] == [
        {
            "apiGroups": ["tds.io"],
            "resources": ["datasets"],
            "verbs": ["get"],
            "resourceNames": ["grid-load-2025"],
        }
    ]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "tds-datasets-sgcc-to-cmcc",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "tds-worker", "namespace": "tds-cr-sgcc-to-cmcc"}
    ]
    assert all(controlled_by(child, "c1") for child in (account, role, binding))


def test_core_and_uncatalogued_datasets_are_never_granted() -> None:
    provider = a_provider(("grid-load-2025", "core"), ("meters", "general"))
    contract = a_contract(
        provider={"space": "sgcc", "datasets": ["grid-load-2025", "meters", "gone"]}
    )
    assert granted_datasets(contract, provider) == ["meters"]


def test_no_datasets_no_grant_since_a_rule_without_names_would_grant_all() -> None:
    assert dataset_grant(a_contract(), []) == []
    provider = a_provider(("grid-load-2025", "core"))
    assert clean_room_access(a_contract(), provider) == []


def test_long_contract_names_give_valid_grant_names() -> None:
    name = grant_name("c" * 80)
    assert len(name) <= 63
    assert name.startswith("tds-datasets-")
    assert grant_name("c" * 80) != grant_name("c" * 79)
    # 64 bits of digest: no contract name can be ground to take another's shortened name.
    assert len(name.rsplit("-", 1)[1]) == 16


def test_the_ledger_names_who_was_granted_what_where() -> None:
    assert grant_details(a_contract()) == {
        "subject": "system:serviceaccount:tds-cr-sgcc-to-cmcc:tds-worker",
        "namespace": "tds-sgcc",
        "role": "tds-datasets-sgcc-to-cmcc",
    }
    assert worker_identity("x") == "system:serviceaccount:tds-cr-x:tds-worker"


def test_the_account_is_made_before_the_policies_a_job_waits_for() -> None:
    kinds = [child["kind"] for child in clean_room_children(a_contract(), {})]
    assert kinds.index("ServiceAccount") < kinds.index("NetworkPolicy")
