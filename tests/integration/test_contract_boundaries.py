"""The party boundary of a DataContract, attacked on the hub by those outside it (THREATS F5, F20).

Only the two parties see a contract; nobody but the operator touches its finalizers, owner
references or `tds.io/` keys; nobody outside the parties changes or deletes it. Every attack runs
as the attacker, through `kubectl --as`.
"""

from __future__ import annotations

import json

import pytest

from bench.hubkit.hub import (
    Contracts,
    Person,
    Spaces,
    active_contract,
    manifest_file,
    member_of,
    owner_of,
    ready_spaces,
    refusal,
    space_namespace,
    unique_contract,
)
from bench.hubkit.manifests import contract_body
from bench.hubkit.waiting import wait_until

pytestmark = pytest.mark.integration

GHOST_OWNER = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "name": "ghost-zz",
    "uid": "00000000-0000-0000-0000-000000000001",
}
# RBAC lets hub staff write any contract; the webhook still keeps them out of its metadata.
HUB_STAFF = Person("hub-staff", ("system:masters",))


def patch_metadata(by: Person, name: str, metadata: dict[str, object]) -> str:
    return by.kubectl(
        "patch", "datacontract", name, "--type=merge", "-p", json.dumps({"metadata": metadata})
    )


def test_nobody_but_the_operator_touches_a_contracts_finalizers_owners_or_tds_keys(
    spaces: Spaces, contracts: Contracts
) -> None:
    provider, consumer, bystander = ready_spaces(spaces, 3)
    name = active_contract(contracts, provider, consumer)
    before = contracts.get(name)
    assert before is not None

    # A third party is not even allowed to read it (RBAC, by name), let alone to patch it; a
    # member of a party reads it and may not patch it.
    for person, verb in (
        (owner_of(bystander), "get"),
        (member_of(bystander), "get"),
        (member_of(consumer), "patch"),
    ):
        message = refusal(lambda p=person: patch_metadata(p, name, {"labels": {"x": "1"}}))
        assert f'User "{person.user}" cannot {verb} resource "datacontracts"' in message

    # Those whom RBAC lets ask are refused by the webhook, naming the field and the rule.
    attacks = {
        "dangling ownerReference": {"ownerReferences": [GHOST_OWNER]},
        "foreign finalizer": {"finalizers": ["tds.io/finalizer", "example.com/block"]},
        "operator's finalizer stripped": {"finalizers": None},
        "forged signatures": {"annotations": {"tds.io/signatures": "[]"}},
    }
    for person in (owner_of(provider), owner_of(consumer), HUB_STAFF):
        for what, metadata in attacks.items():
            message = refusal(lambda p=person, m=metadata: patch_metadata(p, name, m))
            assert "denied the request: MetadataReserved" in message, (person, what)
            assert "of a DataContract may be changed only by the operator" in message
    message = refusal(lambda: patch_metadata(HUB_STAFF, name, {"labels": {"churn": "1"}}))
    assert "denied the request: NotAPartyOwner" in message

    after = contracts.get(name)
    assert after is not None
    for field in ("finalizers", "ownerReferences", "annotations"):
        assert after["metadata"].get(field) == before["metadata"].get(field), field

    # A party's owner keeps ordinary labels and annotations for its own bookkeeping.
    patch_metadata(owner_of(consumer), name, {"labels": {"cmcc.example/team": "forecasting"}})
    assert (contracts.get(name) or {})["metadata"]["labels"]["cmcc.example/team"] == "forecasting"
    contracts.wait_phase(name, "Active")


def test_only_the_hub_deletes_a_contract_and_garbage_collection_still_works(
    spaces: Spaces, contracts: Contracts
) -> None:
    provider, consumer, bystander = ready_spaces(spaces, 3)
    name = active_contract(contracts, provider, consumer)
    for person in (owner_of(bystander), member_of(bystander), owner_of(provider)):
        message = refusal(lambda p=person: p.kubectl("delete", "datacontract", name))
        assert f'User "{person.user}" cannot delete resource "datacontracts"' in message
    assert contracts.get(name) is not None

    # Foreground deletion makes the garbage collector remove its own finalizer through the
    # webhook: that still works.
    contracts.revoke(owner_of(provider), name)
    Person().kubectl("delete", "datacontract", name, "--cascade=foreground", "--wait=false")
    wait_until(lambda: contracts.get(name) is None, timeout=30, what=f"{name} deleted")


def test_a_contract_is_visible_only_to_its_parties(spaces: Spaces, contracts: Contracts) -> None:
    provider, consumer, bystander = ready_spaces(spaces, 3)
    name = contracts.propose(
        owner_of(provider), contract_body(unique_contract(), provider, consumer)
    )

    for person in (owner_of(bystander), member_of(bystander)):
        message = refusal(lambda p=person: p.kubectl("get", "datacontract", name))
        assert 'cannot get resource "datacontracts" in API group "tds.io"' in message
        message = refusal(lambda p=person: p.kubectl("get", "datacontracts"))
        assert 'cannot list resource "datacontracts"' in message
        # The catalogue of spaces stays public.
        assert provider in person.kubectl("get", "dataspaces", "-o", "name")

    for space in (provider, consumer):
        for person in (owner_of(space), member_of(space)):
            shown = json.loads(person.kubectl("get", "datacontract", name, "-o", "json"))
            assert shown["metadata"]["name"] == name
            # A list is refused to them too: RBAC cannot filter it by party.
            message = refusal(lambda p=person: p.kubectl("get", "datacontracts"))
            assert 'cannot list resource "datacontracts"' in message

    # `kubectl apply` of a contract that does not exist yet reads it first, and may not: the
    # documentation tells proposers to use `kubectl create`.
    with manifest_file(contract_body(unique_contract(), provider, consumer)) as path:
        message = refusal(lambda: owner_of(provider).kubectl("apply", "-f", path))
    assert 'cannot get resource "datacontracts"' in message

    # The consumer signs with `kubectl apply` of the contract it was shown (it reads it first).
    shown = json.loads(owner_of(consumer).kubectl("get", "datacontract", name, "-o", "json"))
    shown["spec"]["consent"]["consumer"] = {"approved": True}
    for key in ("resourceVersion", "managedFields", "uid", "creationTimestamp", "generation"):
        shown["metadata"].pop(key, None)
    shown.pop("status", None)
    with manifest_file(shown) as path:
        owner_of(consumer).kubectl("apply", "-f", path)
    contracts.wait_phase(name, "Active")


def test_a_contracts_events_are_read_in_both_parties_namespaces(
    spaces: Spaces, contracts: Contracts
) -> None:
    provider, consumer, bystander = ready_spaces(spaces, 3)
    name = active_contract(contracts, provider, consumer)
    selector = f"involvedObject.kind=DataContract,involvedObject.name={name}"

    def messages(person: Person, namespace: str) -> list[str]:
        events = json.loads(
            person.kubectl(
                "get", "events", "-n", namespace, "--field-selector", selector, "-o", "json"
            )
        )["items"]
        return [event["message"] for event in events]

    for space in (provider, consumer):
        for person in (owner_of(space), member_of(space)):
            wait_until(
                lambda p=person, s=space: any(
                    "-> Active" in m for m in messages(p, space_namespace(s))
                ),
                timeout=10,
                what=f"the contract's Events in {space_namespace(space)} as {person.user}",
            )
    assert messages(Person(), "default") == []
    message = refusal(lambda: messages(owner_of(bystander), space_namespace(provider)))
    assert 'cannot list resource "events"' in message
