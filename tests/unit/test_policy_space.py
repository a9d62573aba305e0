"""Whether a space may take its namespace and whether it may be deleted."""

from __future__ import annotations

from typing import Any

import pytest

from tds_operator.policy.space import namespace_is_ours, space_may_be_deleted

pytestmark = pytest.mark.unit


def contract(name: str, provider: str, consumer: str, phase: str | None) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"provider": {"space": provider}, "consumer": {"space": consumer}},
        "status": {"phase": phase} if phase else {},
    }


def test_a_missing_namespace_may_be_created() -> None:
    assert namespace_is_ours(None, "uid-1").allowed


def test_a_namespace_owned_by_the_space_is_ours() -> None:
    namespace = {"metadata": {"name": "tds-a", "ownerReferences": [{"uid": "uid-1"}]}}
    assert namespace_is_ours(namespace, "uid-1").allowed


def test_someone_elses_namespace_is_a_conflict_that_names_it() -> None:
    decision = namespace_is_ours({"metadata": {"name": "tds-a"}}, "uid-1")
    assert not decision.allowed
    assert decision.reason == "NamespaceConflict"
    assert "tds-a" in decision.message


@pytest.mark.parametrize("phase", ["Active", "Suspended"])
def test_a_space_in_a_binding_contract_cannot_be_deleted(phase: str) -> None:
    decision = space_may_be_deleted("a", [contract("a-to-b", "a", "b", phase)])
    assert not decision.allowed
    assert decision.reason == "ActiveContracts"
    assert "a-to-b" in decision.message


@pytest.mark.parametrize("phase", [None, "Proposed", "Expired", "Revoked", "Exhausted"])
def test_contracts_that_grant_nothing_do_not_block_deletion(phase: str | None) -> None:
    assert space_may_be_deleted("b", [contract("a-to-b", "a", "b", phase)]).allowed


def test_other_spaces_contracts_do_not_block_deletion() -> None:
    assert space_may_be_deleted("c", [contract("a-to-b", "a", "b", "Active")]).allowed
