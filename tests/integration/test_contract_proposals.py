"""Parties propose contracts with `kubectl apply` of a ContractProposal in their own namespace.

The operator creates the DataContract (named after the proposer's space and the proposal) with
the proposer the API server authenticated for the party's own write of the proposal: the webhook
stamps it, and the DataContract's webhook checks the stamp when the operator relays it. Nobody
learns anything of another pair's contracts by proposing or applying.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bench.hubkit import manifests
from bench.hubkit.hub import (
    CLUSTER_ADMIN,
    Contracts,
    Hub,
    Person,
    Spaces,
    active_contract,
    manifest_file,
    member_of,
    owner_of,
    ready_spaces,
    refusal,
    space_namespace,
    unique,
    unique_contract,
)
from bench.hubkit.manifests import contract_body
from bench.hubkit.waiting import wait_until

pytestmark = pytest.mark.integration

PROPOSALS = "contractproposals"
CLIENT_FILE = re.compile(r'"/tmp/[^"]+"')


def proposal_body(name: str, space: str, provider: str, consumer: str, **terms: Any) -> Any:
    """A ContractProposal in `space`'s namespace with the terms of contract_body."""
    return manifests.proposal_body(name, space_namespace(space), provider, consumer, **terms)


def apply(person: Person, body: Any, *flags: str) -> str:
    with manifest_file(body) as path:
        return person.kubectl("apply", "-f", path, *flags)


def settled(hub: Hub, body: Any, phase: str, generation: int | None = None) -> dict[str, Any]:
    """The proposal's status once the operator answered its generation with `phase`."""
    metadata = body["metadata"]

    def answered() -> dict[str, Any] | None:
        live = hub.get(PROPOSALS, metadata["name"], metadata["namespace"]) or {}
        status = live.get("status") or {}
        wanted = generation or (live.get("metadata") or {}).get("generation")
        if status.get("phase") == phase and status.get("observedGeneration") == wanted:
            return status
        return None

    status: dict[str, Any] = wait_until(answered, timeout=20, what=f"{metadata['name']} {phase}")
    return status


def proposed(hub: Hub, contracts: Contracts, body: Any) -> str:
    """The name of the contract the proposal made, once made (recorded for clean-up)."""
    name = str(settled(hub, body, "Created")["contract"])
    hub.contracts.append(name)
    return name


def signers(contracts: Contracts, name: str) -> list[tuple[str, str]]:
    contracts.wait_phase(name, "Proposed")
    signatures = contracts.status(name).get("signatures") or []
    return [(s["party"], s["user"]) for s in signatures]


def test_owners_propose_by_client_and_server_side_apply(
    hub: Hub, spaces: Spaces, contracts: Contracts
) -> None:
    provider, consumer = ready_spaces(spaces, 2)
    offer = proposal_body(unique("offer"), provider, provider, consumer)
    assert "created" in apply(owner_of(provider), offer)
    name = proposed(hub, contracts, offer)
    assert signers(contracts, name) == [("provider", owner_of(provider).user)]
    # Applied again, as a GitOps tool does: nothing changes.
    version = contracts.get(name)["metadata"]["resourceVersion"]  # type: ignore[index]
    assert "unchanged" in apply(owner_of(provider), offer)
    assert settled(hub, offer, "Created")["contract"] == name

    ask = proposal_body(
        unique("ask"), consumer, provider, consumer,
        provider_approves=None, consent={"consumer": {"approved": True}},
    )  # fmt: skip
    apply(owner_of(consumer), ask, "--server-side")
    asked = proposed(hub, contracts, ask)
    assert signers(contracts, asked) == [("consumer", owner_of(consumer).user)]
    apply(owner_of(consumer), ask, "--server-side")
    assert settled(hub, ask, "Created")["contract"] == asked

    # The proposer's space reads what happened in the Events of the proposal.
    events = wait_until(
        lambda: owner_of(provider).kubectl(
            "get", "events", "-n", space_namespace(provider), "--field-selector",
            f"involvedObject.kind=ContractProposal,involvedObject.name={offer['metadata']['name']}",
        ) or None,
        timeout=10,
        what="the proposal's Event",
    )  # fmt: skip
    assert f"DataContract {name} was made from this proposal" in events
    # Owners and members list their proposals; kubectl shows the contract and the phase.
    table = member_of(consumer).kubectl("get", "cprop", "-n", space_namespace(consumer))
    assert asked in table
    assert "Created" in table
    # A real contract: the counterparty consents on it as on any other.
    contracts.consent(owner_of(consumer), name, "consumer")
    contracts.wait_phase(name, "Active")
    # Deleting the proposal does not touch the contract.
    owner_of(provider).kubectl("delete", "cprop", offer["metadata"]["name"], "-n",
                               space_namespace(provider))  # fmt: skip
    contracts.wait_phase(name, "Active")
    assert contracts.get(name)["metadata"]["resourceVersion"] != version  # type: ignore[index]


def test_the_proposer_is_the_writer_of_the_proposal_and_no_one_else(
    hub: Hub, spaces: Spaces, contracts: Contracts
) -> None:
    provider, consumer = ready_spaces(spaces, 2)
    body = proposal_body(unique("offer"), provider, provider, consumer)
    forged = {"user": owner_of(consumer).user, "groups": [f"{consumer}-admins"], "mac": "x"}
    body["metadata"]["annotations"] = {"tds.io/proposer": json.dumps(forged)}
    apply(owner_of(provider), body)
    name = proposed(hub, contracts, body)
    assert signers(contracts, name) == [("provider", owner_of(provider).user)]
    namespace, proposal = space_namespace(provider), body["metadata"]["name"]
    stamp = (hub.get(PROPOSALS, proposal, namespace) or {})["metadata"]["annotations"]
    assert json.loads(stamp["tds.io/proposer"])["user"] == owner_of(provider).user

    # Hub staff can neither rewrite the terms nor the stamp; the contract's consent stays.
    signatures = contracts.status(name)["signatures"]
    rewrite = refusal(lambda: CLUSTER_ADMIN.kubectl(
        "patch", "cprop", proposal, "-n", namespace, "--type=merge", "-p",
        json.dumps({"spec": {"consumer": {"space": provider}}}),
    ))  # fmt: skip
    assert "NotAnOwner" in rewrite
    CLUSTER_ADMIN.kubectl(
        "annotate", "cprop", proposal, "-n", namespace, "--overwrite",
        f"tds.io/proposer={json.dumps(forged)}",
    )  # fmt: skip
    assert (hub.get(PROPOSALS, proposal, namespace) or {})["metadata"]["annotations"] == stamp
    # The relay's own identity (the operator runs as the hub's admin here) cannot make a
    # contract with a genuine stamp over other terms; the real relay above could, with these.
    forged_contract = contract_body(name, provider, consumer, max_gpu_hours=99)
    forged_contract["metadata"]["annotations"] = {
        "tds.io/proposal": f"{namespace}/{proposal}",
        "tds.io/proposer": stamp["tds.io/proposer"],
    }
    assert "ProposerUnstamped" in refusal(lambda: CLUSTER_ADMIN.create(forged_contract))
    # The owner's own edit after the contract exists (here withdrawing consent; terms are frozen
    # once consented, as on the contract) is stored, reported, and ignored.
    owner_of(provider).kubectl(
        "patch", "cprop", proposal, "-n", namespace, "--type=merge", "-p",
        json.dumps({"spec": {"consent": {"provider": {"approved": False}}}}),
    )  # fmt: skip
    status = settled(hub, body, "Created", generation=2)
    assert status["reason"] == "EditedAfterCreation"
    assert contracts.get(name)["spec"]["consent"]["provider"]["approved"] is True  # type: ignore[index]
    assert contracts.status(name)["signatures"] == signatures


def test_only_an_owner_proposes_and_only_in_its_own_space(
    hub: Hub, spaces: Spaces, contracts: Contracts
) -> None:
    provider, consumer, bystander = ready_spaces(spaces, 3)
    body = proposal_body(unique("offer"), provider, provider, consumer)
    member = refusal(lambda: apply(member_of(provider), body))
    assert "forbidden" in member
    assert member_of(provider).user in member
    other = refusal(lambda: apply(owner_of(bystander), body))
    assert "forbidden" in other
    staff = refusal(lambda: apply(CLUSTER_ADMIN, body))
    assert "NotAnOwner" in staff
    elsewhere = proposal_body(unique("offer"), bystander, provider, consumer)
    assert "NotAParty" in refusal(lambda: apply(owner_of(bystander), elsewhere))
    outside = proposal_body(unique("offer"), provider, provider, consumer)
    outside["metadata"]["namespace"] = "default"
    assert "NotASpaceNamespace" in refusal(lambda: apply(CLUSTER_ADMIN, outside))
    # Positive control: the owner applies the very same proposal.
    apply(owner_of(provider), body)
    proposed(hub, contracts, body)


def test_a_refused_proposal_is_tried_again_when_a_party_changes(
    hub: Hub, spaces: Spaces, contracts: Contracts
) -> None:
    (provider,) = ready_spaces(spaces, 1)
    consumer = unique("s")
    body = proposal_body(unique("offer"), provider, provider, consumer)
    apply(owner_of(provider), body)
    refused = settled(hub, body, "Refused")
    assert refused["reason"] == "UnknownSpace"
    assert consumer in refused["message"]
    # The consumer's space is made: the same proposal, unchanged, makes its contract.
    spaces.create(consumer)
    name = proposed(hub, contracts, body)
    assert signers(contracts, name) == [("provider", owner_of(provider).user)]


def answer(action: Any, name: str) -> str:
    said = refusal(lambda: action(name))
    return CLIENT_FILE.sub("<file>", said).replace(name, "<contract>")


def test_a_third_party_learns_nothing_by_proposing_or_applying(
    hub: Hub, spaces: Spaces, contracts: Contracts
) -> None:
    provider, consumer, bystander = ready_spaces(spaces, 3)
    created = active_contract(contracts, provider, consumer)
    offer = proposal_body(unique("offer"), provider, provider, consumer)
    apply(owner_of(provider), offer)
    relayed = proposed(hub, contracts, offer)
    # A name kept for proposals that nobody took: the same shape as `relayed`.
    absent = relayed[:-16] + "0" * 16
    hub.contracts.append(absent)  # should a create under it ever be let through
    third = owner_of(bystander)

    def direct(verb: str, *flags: str) -> Any:
        def act(name: str) -> str:
            # The third party names itself as a party: the webhook would let it create.
            body = contract_body(name, bystander, consumer)
            with manifest_file(body) as path:
                return third.kubectl(verb, "-f", path, *flags)

        return act

    for what, action in {
        "apply": direct("apply"),
        "server-side apply": direct("apply", "--server-side"),
    }.items():
        answers = {n: answer(action, n) for n in (created, relayed, absent)}
        assert len(set(answers.values())) == 1, (what, answers)
    # A create under a name kept for proposals: one answer, taken or not.
    create = direct("create")
    assert answer(create, relayed) == answer(create, absent)
    assert "NameReserved" in answer(create, relayed)
    # Proposals named after another pair's contracts make the proposer's own contracts.
    statuses = []
    for name in (created, unique_contract()):
        body = proposal_body(name, bystander, bystander, consumer)
        apply(third, body)
        status = dict(settled(hub, body, "Created"))
        hub.contracts.append(status.pop("contract"))
        statuses.append(json.dumps(status).replace(name, "<name>"))
    assert len(set(re.sub(r"[0-9a-f]{16}", "<digest>", s) for s in statuses)) == 1, statuses
    # Positive control: the parties read the contract the proposal made.
    shown = json.loads(owner_of(consumer).kubectl("get", "dc", relayed, "-o", "json"))
    assert shown["status"]["phase"] == "Proposed"
