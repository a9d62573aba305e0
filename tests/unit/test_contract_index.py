"""The index of contracts by the spaces they name, kept from the contract watch."""

from __future__ import annotations

from typing import Any

import pytest

from tds_operator.handlers.contract_index import ContractIndex, change_reaches_spaces

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


def reported(body: dict[str, Any], phase: str, entries: int, gpu_hours: float) -> dict[str, Any]:
    """The contract as its reconcile's status write leaves it."""
    usage = {"gpuHours": gpu_hours, "jobs": 3}
    status = {"phase": phase, "usage": usage, "audit": {"head": "h", "entries": entries}}
    return {**body, "metadata": {**body["metadata"], "uid": "u1"}, "status": status}


def test_a_contracts_report_of_its_usage_does_not_wake_its_spaces() -> None:
    grid = contract("grid", "sgcc", "cetc")
    assert change_reaches_spaces(None, grid)
    before = reported(grid, "Active", 10, 0.5)
    assert not change_reaches_spaces(before, reported(grid, "Active", 11, 0.6))


def test_what_a_contracts_spaces_act_on_wakes_them() -> None:
    grid = contract("grid", "sgcc", "cetc")
    before = reported(grid, "Active", 10, 0.5)
    # Its phase (a party to an Active contract may not go), a new ledger page to read (500
    # entries a page), another party, its deletion.
    assert change_reaches_spaces(before, reported(grid, "Expired", 10, 0.5))
    assert change_reaches_spaces(before, reported(grid, "Active", 501, 0.5))
    moved = reported(contract("grid", "sgcc", "goldwind"), "Active", 10, 0.5)
    assert change_reaches_spaces(before, moved)
    deleting = {**before, "metadata": {**before["metadata"], "deletionTimestamp": "t"}}
    assert change_reaches_spaces(before, deleting)
