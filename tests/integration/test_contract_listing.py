"""Parties list and watch their contracts with plain kubectl, and see nothing of other pairs.

The operator keeps a Contract, its copy of each DataContract, in the namespace of each of the
two parties: `kubectl get contracts -n tds-<space>` lists a space's contracts to its owners and
members, with the phase, the terms and the usage, and `--watch` follows them.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from bench.hubkit.hub import (
    REPO_ROOT,
    Contracts,
    Person,
    Spaces,
    active_contract,
    hub_kubeconfig,
    member_of,
    owner_of,
    ready_spaces,
    refusal,
    space_namespace,
    unique_contract,
)
from bench.hubkit.manifests import contract_body
from bench.hubkit.processes import OperatorProcess
from bench.hubkit.waiting import wait_until

pytestmark = pytest.mark.integration


def listed(person: Person, space: str) -> dict[str, dict[str, Any]]:
    """The Contracts `person` lists in the space's namespace, by name."""
    items = json.loads(
        person.kubectl("get", "contracts", "-n", space_namespace(space), "-o", "json")
    )["items"]
    return {item["metadata"]["name"]: item for item in items}


def phase_listed(person: Person, space: str, name: str, phase: str) -> dict[str, Any] | None:
    shown = listed(person, space).get(name)
    return shown if shown and (shown.get("status") or {}).get("phase") == phase else None


def test_each_party_lists_its_contracts_and_nothing_of_other_pairs(
    spaces: Spaces, contracts: Contracts
) -> None:
    provider, consumer, other_provider, bystander = ready_spaces(spaces, 4)
    ours = contracts.propose(
        owner_of(provider), contract_body(unique_contract(), provider, consumer)
    )
    theirs = contracts.propose(
        owner_of(other_provider), contract_body(unique_contract(), other_provider, consumer)
    )

    for space, side, other in ((provider, "provider", consumer), (consumer, "consumer", provider)):
        for person in (owner_of(space), member_of(space)):
            shown = wait_until(
                lambda p=person, s=space: phase_listed(p, s, ours, "Proposed"),
                timeout=10,
                what=f"{ours} listed Proposed in {space_namespace(space)} as {person.user}",
            )
            assert shown["spec"]["side"] == side
            assert shown["spec"]["counterparty"] == other
            assert shown["spec"]["consent"] == {"provider": True, "consumer": False}
            assert shown["spec"]["compute"]["maxGpuHours"] == 10
    # The consumer of two contracts lists both; each provider only its own.
    wait_until(
        lambda: {ours, theirs} <= set(listed(owner_of(consumer), consumer)),
        timeout=10,
        what=f"both contracts listed in {space_namespace(consumer)}",
    )
    assert set(listed(owner_of(provider), provider)) == {ours}
    assert set(listed(owner_of(other_provider), other_provider)) == {theirs}
    # A third space lists none; it may not list another space's.
    assert listed(owner_of(bystander), bystander) == {}
    for person in (owner_of(bystander), member_of(bystander)):
        message = refusal(lambda p=person: listed(p, provider))
        assert 'cannot list resource "contracts"' in message
    # Nobody but the operator writes a copy: the parties only read theirs.
    message = refusal(
        lambda: owner_of(provider).kubectl(
            "delete", "contract", ours, "-n", space_namespace(provider)
        )
    )
    assert 'cannot delete resource "contracts"' in message

    # The copies follow the contract: Active with usage once both consented.
    contracts.consent(owner_of(consumer), ours, "consumer")
    for space in (provider, consumer):
        shown = wait_until(
            lambda s=space: phase_listed(member_of(s), s, ours, "Active"),
            timeout=10,
            what=f"{ours} listed Active in {space_namespace(space)}",
        )
        assert shown["status"]["usage"] == {"gpuHours": 0.0, "gpuHoursRounded": 0.0, "jobs": 0}
        assert shown["spec"]["consent"] == {"provider": True, "consumer": True}
        assert any(
            c["type"] == "Active" and c["status"] == "True" for c in shown["status"]["conditions"]
        )
    # The table kubectl prints names the side, the counterparty and the phase.
    table = owner_of(consumer).kubectl("get", "contracts", "-n", space_namespace(consumer))
    row = next(line for line in table.splitlines() if line.startswith(ours))
    assert row.split()[:4] == [ours, "consumer", provider, "Active"]


def test_a_party_watches_its_contracts(spaces: Spaces, contracts: Contracts) -> None:
    provider, consumer = ready_spaces(spaces, 2)
    name = contracts.propose(
        owner_of(provider), contract_body(unique_contract(), provider, consumer)
    )
    wait_until(
        lambda: phase_listed(member_of(consumer), consumer, name, "Proposed"),
        timeout=10,
        what=f"{name} listed in {space_namespace(consumer)}",
    )
    member = member_of(consumer)
    watch = subprocess.Popen(
        [
            str(REPO_ROOT / "hack" / "hub" / "kubectl.sh"),
            "--kubeconfig",
            hub_kubeconfig(),
            "--as",
            member.user,
            "get",
            "contracts",
            "-n",
            space_namespace(consumer),
            "--watch",
            "--request-timeout=15s",
            "-o",
            "custom-columns=NAME:.metadata.name,PHASE:.status.phase",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: phase_listed(member, consumer, name, "Proposed"), timeout=5, what="listed"
        )
        contracts.consent(owner_of(consumer), name, "consumer")
        contracts.wait_phase(name, "Active")
        out, err = watch.communicate(timeout=30)
    finally:
        watch.kill()
    lines = [line.split() for line in out.splitlines()]
    assert [name, "Proposed"] in lines, (out, err)
    assert [name, "Active"] in lines, (out, err)


def test_a_contracts_copies_go_with_it(spaces: Spaces, contracts: Contracts) -> None:
    provider, consumer = ready_spaces(spaces, 2)
    name = contracts.propose(
        owner_of(provider), contract_body(unique_contract(), provider, consumer)
    )
    for space in (provider, consumer):
        wait_until(
            lambda s=space: name in listed(owner_of(s), s), timeout=10, what=f"{name} listed"
        )
    contracts.delete(name)
    for space in (provider, consumer):
        wait_until(
            lambda s=space: name not in listed(owner_of(s), s),
            timeout=30,
            what=f"{name} no longer listed in {space_namespace(space)}",
        )


def test_a_space_that_stops_being_a_party_loses_its_copy(
    spaces: Spaces, contracts: Contracts, operator: OperatorProcess
) -> None:
    """The parties of a contract are fixed at creation (the webhook refuses a change), but a
    change made while no operator ran, and so no webhook answered, still takes the former
    party's copy away: the restarted operator finds it among the copies it lists."""
    provider, first, second = ready_spaces(spaces, 3)
    name = contracts.propose(
        owner_of(provider),
        contract_body(unique_contract(), provider, first, provider_approves=None),
    )
    wait_until(lambda: name in listed(owner_of(first), first), timeout=10, what="first's copy")
    move = json.dumps({"spec": {"consumer": {"space": second}}})
    message = refusal(
        lambda: owner_of(provider).kubectl(
            "patch", "datacontract", name, "--type=merge", "-p", move
        )
    )
    assert "PartiesImmutable" in message

    operator.stop()
    try:
        Person().kubectl("patch", "datacontract", name, "--type=merge", "-p", move)
    finally:
        operator.start()
    wait_until(lambda: name in listed(owner_of(second), second), timeout=30, what="second's")
    wait_until(
        lambda: name not in listed(owner_of(first), first),
        timeout=10,
        what="first's copy gone after a restart",
    )
    assert set(listed(owner_of(provider), provider)) == {name}


def test_a_copy_changed_by_hand_is_repaired(spaces: Spaces, contracts: Contracts) -> None:
    provider, consumer = ready_spaces(spaces, 2)
    name = active_contract(contracts, provider, consumer)
    wait_until(
        lambda: phase_listed(owner_of(consumer), consumer, name, "Active"), timeout=10, what="copy"
    )
    forged = json.dumps({"status": {"phase": "Revoked"}, "spec": {"counterparty": "someone"}})
    # The forgery is read from the patch's own answer: a reconcile of the contract already under
    # way may repair the copy before a later read could see it.
    patched = Person().kubectl(
        "patch", "contract", name, "-n", space_namespace(consumer), "--type=merge", "-p", forged,
        "-o", "json",
    )  # fmt: skip
    assert json.loads(patched)["status"]["phase"] == "Revoked"
    # Any change of the contract reconciles it: a party's owner labels it for its bookkeeping.
    label = json.dumps({"metadata": {"labels": {"cmcc.example/team": "forecasting"}}})
    owner_of(consumer).kubectl("patch", "datacontract", name, "--type=merge", "-p", label)
    shown = wait_until(
        lambda: phase_listed(owner_of(consumer), consumer, name, "Active"),
        timeout=10,
        what="the copy repaired",
    )
    assert shown["spec"]["counterparty"] == provider
