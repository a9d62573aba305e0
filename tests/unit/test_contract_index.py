"""The index of contracts by the spaces they name, kept from the contract watch."""

from __future__ import annotations

from typing import Any

import pytest

from tds_operator.handlers.parties import ContractIndex

pytestmark = pytest.mark.unit


def contract(name: str, provider: str, consumer: str, version: str = "1") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "resourceVersion": version, "managedFields": [{}]},
        "spec": {"provider": {"space": provider}, "consumer": {"space": consumer}},
    }


def names(bodies: list[dict[str, Any]]) -> list[str]:
    return [body["metadata"]["name"] for body in bodies]


def test_a_contract_is_found_from_both_of_its_spaces_and_no_other() -> None:
    index = ContractIndex()
    index.observe(contract("grid", "sgcc", "cetc"), False)
    index.observe(contract("wind", "sgcc", "goldwind"), False)
    assert names(index.of_space("sgcc")) == ["grid", "wind"]
    assert names(index.of_space("cetc")) == ["grid"]
    assert index.of_space("nobody") == []
    assert "managedFields" not in index.of_space("cetc")[0]["metadata"]


def test_a_contract_that_names_another_space_or_is_deleted_leaves_its_old_space() -> None:
    index = ContractIndex()
    index.observe(contract("grid", "sgcc", "cetc"), False)
    index.observe(contract("grid", "sgcc", "goldwind", "2"), False)
    assert index.of_space("cetc") == []
    index.observe(contract("grid", "sgcc", "goldwind", "3"), True)
    assert index.of_space("sgcc") == index.of_space("goldwind") == []


def test_a_list_does_not_replace_what_an_event_delivered_since() -> None:
    index = ContractIndex()
    index.observe(contract("grid", "sgcc", "goldwind", "9"), False)
    index.fill([contract("grid", "sgcc", "cetc", "8"), contract("wind", "sgcc", "cetc")])
    assert names(index.of_space("goldwind")) == ["grid"]
    assert names(index.of_space("cetc")) == ["wind"]
