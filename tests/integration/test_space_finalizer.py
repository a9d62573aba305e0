"""A DataSpace's finalizer: set by the webhook at creation, by the reconcile when the webhook was
absent; stripping it lets no space in an active contract go, and nobody else's object gets it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from bench.hubkit.hub import (
    Contracts,
    Hub,
    Person,
    Spaces,
    active_contract,
    kubectl,
    manifest_file,
    operator_down,
    owner_of,
    ready_spaces,
    refusal,
    space_namespace,
    unique,
)
from bench.hubkit.manifests import contract_body, space_body
from bench.hubkit.processes import OperatorProcess
from bench.hubkit.waiting import wait_until

pytestmark = pytest.mark.integration

FINALIZER = "tds.io/finalizer"
HUB_STAFF = Person("hub-staff", ("system:masters",))
STRIP_FINALIZERS = json.dumps({"metadata": {"finalizers": None}})


def created(body: dict[str, Any], by: Person = HUB_STAFF) -> dict[str, Any]:
    """The object as the API server stored it at its creation (after every webhook)."""
    with manifest_file(body) as path:
        answer: dict[str, Any] = json.loads(by.kubectl("create", "-f", path, "-o", "json"))
    return answer


def wait_for_space_finalizer_webhook() -> None:
    """Until the API server calls the operator's mutating webhook for new DataSpaces: its
    configuration reaches the API server a moment after a freshly started operator writes it."""
    probe = space_body(unique("s"), analysts=("nobody",))

    def mutated() -> bool:
        with manifest_file(probe) as path:
            answer = json.loads(
                HUB_STAFF.kubectl("create", "--dry-run=server", "-f", path, "-o", "json")
            )
        return FINALIZER in (answer["metadata"].get("finalizers") or [])

    wait_until(mutated, timeout=30, interval=0.3, what="the DataSpace finalizer webhook")


def new_space(hub: Hub) -> dict[str, Any]:
    """A DataSpace created by the hub's staff, as the API server stored it."""
    name = unique("s")
    hub.spaces.append(name)
    return created(space_body(name, analysts=(f"{name}-analyst",)))


def finalizers(spaces: Spaces, name: str) -> list[str]:
    return list(spaces.get(name)["metadata"].get("finalizers") or [])


def test_a_new_space_carries_the_finalizer_from_its_creation(hub: Hub, spaces: Spaces) -> None:
    wait_for_space_finalizer_webhook()
    body = new_space(hub)
    name = body["metadata"]["name"]
    assert body["metadata"]["finalizers"] == [FINALIZER]
    spaces.wait_ready(name)

    # Its owner sees it so, and may neither strip the finalizer nor delete the space.
    owner = owner_of(name)
    seen = json.loads(owner.kubectl("get", "dataspace", name, "-o", "json"))
    assert seen["metadata"]["finalizers"] == [FINALIZER]
    message = refusal(
        lambda: owner.kubectl("patch", "dataspace", name, "--type=merge", "-p", STRIP_FINALIZERS)
    )
    # Owners may patch their own space for its signing keys, and nothing else of it.
    assert "OwnersChangeKeysOnly" in message
    message = refusal(lambda: owner.kubectl("delete", "dataspace", name, "--wait=false"))
    assert f'User "{owner.user}" cannot delete resource "dataspaces"' in message
    assert finalizers(spaces, name) == [FINALIZER]


def test_a_space_created_while_the_webhook_is_absent_gets_the_finalizer_from_its_reconcile(
    hub: Hub, spaces: Spaces, operator: OperatorProcess, api_client: client.ApiClient
) -> None:
    with operator_down(operator, api_client):
        body = new_space(hub)
    name = body["metadata"]["name"]
    assert FINALIZER not in (body["metadata"].get("finalizers") or [])
    spaces.wait_ready(name)
    assert finalizers(spaces, name) == [FINALIZER]


def test_stripping_the_finalizer_does_not_let_a_space_in_an_active_contract_go(
    spaces: Spaces, contracts: Contracts
) -> None:
    provider, consumer = ready_spaces(spaces, 2)
    contract = active_contract(contracts, provider, consumer)
    HUB_STAFF.kubectl("patch", "dataspace", provider, "--type=merge", "-p", STRIP_FINALIZERS)
    wait_until(
        lambda: finalizers(spaces, provider) == [FINALIZER],
        timeout=30,
        what="the operator's finalizer put back by the reconcile",
    )
    message = refusal(lambda: HUB_STAFF.kubectl("delete", "dataspace", provider, "--wait=false"))
    assert "denied the request: ActiveContracts: " in message
    assert f"DataSpace {provider} is party to active contracts {contract}" in message
    assert "deletionTimestamp" not in spaces.get(provider)["metadata"]


def test_nobody_gets_the_operators_finalizer_onto_an_object_the_operator_does_not_own(
    spaces: Spaces,
) -> None:
    provider, consumer = ready_spaces(spaces, 2)
    owner = owner_of(provider)
    # The webhook gives it to DataSpaces alone: an owner's own object in the space has none.
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": unique("notes-"), "namespace": space_namespace(provider)},
    }
    assert "finalizers" not in created(secret, owner)["metadata"]
    # A contract proposed with the operator's finalizer on it is refused, naming the rule.
    body = contract_body(unique("c"), provider, consumer)
    body["metadata"]["finalizers"] = [FINALIZER]
    message = refusal(lambda: created(body, owner))
    assert "denied the request: MetadataReserved" in message
    assert "metadata.finalizers of a DataContract may be changed only by the operator" in message
    assert not kubectl("get", "datacontracts", body["metadata"]["name"], "--ignore-not-found")
