"""Who may change a contract's labels, annotations, finalizers and owner references."""

from __future__ import annotations

from typing import Any

import pytest

from tds_operator.api.subject import Subject
from tds_operator.policy.identity import UserInfo
from tds_operator.policy.metadata import Metadata, admit_metadata_change, is_reserved_key

pytestmark = pytest.mark.unit

OPERATOR = "system:serviceaccount:tds-system:tds-operator"
OWNERS = [Subject(kind="Group", name="sgcc-admins"), Subject(kind="Group", name="cmcc-admins")]
ALICE = UserInfo("alice", ("sgcc-admins", "system:authenticated"))
MALLORY = UserInfo("mallory", ("other-org-admins", "system:authenticated"))
ADMIN = UserInfo("kubernetes-admin", ("system:masters", "system:authenticated"))
GC = UserInfo("system:serviceaccount:kube-system:generic-garbage-collector")
GHOST = {"apiVersion": "v1", "kind": "Namespace", "name": "ghost-zz", "uid": "0000-1"}
LIVE: dict[str, Any] = {
    "name": "sgcc-to-cmcc-load",
    "labels": {"team": "forecasting"},
    "annotations": {"tds.io/signatures": "[]"},
    "finalizers": ["tds.io/finalizer"],
}


def with_(**changes: Any) -> dict[str, Any]:
    return {**LIVE, **changes}


def admit(new: dict[str, Any], requester: UserInfo, old: dict[str, Any] | None = LIVE) -> Any:
    return admit_metadata_change(Metadata.of(old), Metadata.of(new), requester, OWNERS, OPERATOR)


THIRD_PARTY_ATTACKS = {
    "dangling owner reference": with_(ownerReferences=[GHOST]),
    "foreign finalizer": with_(finalizers=["tds.io/finalizer", "example.com/block"]),
    "operator finalizer stripped": with_(finalizers=[]),
    "signatures rewritten": with_(annotations={"tds.io/signatures": '[{"party":"provider"}]'}),
    "reserved label": with_(labels={"team": "forecasting", "hub.tds.io/pool": "x"}),
}


@pytest.mark.parametrize("new", THIRD_PARTY_ATTACKS.values(), ids=THIRD_PARTY_ATTACKS.keys())
@pytest.mark.parametrize(
    "requester", [MALLORY, ALICE, ADMIN], ids=["third party", "party", "admin"]
)
def test_reserved_metadata_is_the_operators_alone(new: dict[str, Any], requester: UserInfo) -> None:
    decision = admit(new, requester)
    assert not decision.allowed
    assert decision.reason == "MetadataReserved"
    assert "may be changed only by the operator" in decision.message
    assert requester.username in decision.message


def test_the_refusal_names_the_field() -> None:
    decision = admit(THIRD_PARTY_ATTACKS["dangling owner reference"], MALLORY)
    assert decision.message.startswith("metadata.ownerReferences of a DataContract")
    decision = admit(THIRD_PARTY_ATTACKS["signatures rewritten"], ALICE)
    assert decision.message.startswith("metadata.annotations[tds.io/signatures]")


@pytest.mark.parametrize("new", THIRD_PARTY_ATTACKS.values(), ids=THIRD_PARTY_ATTACKS.keys())
def test_the_operator_manages_all_of_it(new: dict[str, Any]) -> None:
    assert admit(new, UserInfo(OPERATOR)).allowed


def test_a_party_owner_may_change_ordinary_labels_and_annotations() -> None:
    new = with_(
        labels={"team": "grid"},
        annotations={
            **LIVE["annotations"],
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
        },
    )
    assert admit(new, ALICE).allowed


@pytest.mark.parametrize("requester", [MALLORY, ADMIN], ids=["third party", "admin"])
def test_nobody_else_changes_even_ordinary_labels(requester: UserInfo) -> None:
    decision = admit(with_(labels={"team": "churn-1"}), requester)
    assert decision.reason == "NotAPartyOwner"
    assert "only an owner of the contract's provider or consumer space" in decision.message


def test_an_unchanged_metadata_is_not_a_change() -> None:
    assert admit(dict(LIVE), MALLORY).allowed


def test_on_create_the_proposer_may_not_plant_finalizers_owners_or_reserved_keys() -> None:
    planted = {"name": "c", "ownerReferences": [GHOST], "finalizers": ["example.com/block"]}
    decision = admit(planted, ALICE, old=None)
    assert decision.reason == "MetadataReserved"
    assert "metadata.finalizers, metadata.ownerReferences" in decision.message
    assert admit({"name": "c", "labels": {"team": "grid"}}, ALICE, old=None).allowed


def test_the_garbage_collector_may_only_let_go() -> None:
    owned = with_(ownerReferences=[GHOST], finalizers=["tds.io/finalizer", "foregroundDeletion"])
    released = with_(finalizers=["tds.io/finalizer"])
    assert admit(released, GC, old=owned).allowed
    assert admit(released, UserInfo("system:kube-controller-manager"), old=owned).allowed
    # Taking away the operator's finalizer, or adding anything, is not garbage collection.
    assert not admit(with_(finalizers=[]), GC).allowed
    assert not admit(with_(ownerReferences=[GHOST]), GC).allowed
    # And the same removal by anyone else is refused.
    assert not admit(released, MALLORY, old=owned).allowed


def test_the_operator_identity_must_be_known() -> None:
    decision = admit_metadata_change(
        Metadata.of(LIVE), Metadata.of(with_(finalizers=[])), UserInfo(""), OWNERS, ""
    )
    assert not decision.allowed


@pytest.mark.parametrize(
    ("key", "reserved"),
    [
        ("tds.io/signatures", True),
        ("hub.tds.io/run-for", True),
        ("team", False),
        ("example.com/tds.io", False),
        ("nottds.io/x", False),
    ],
)
def test_reserved_keys_are_those_of_the_operators_domain(key: str, reserved: bool) -> None:
    assert is_reserved_key(key) is reserved
