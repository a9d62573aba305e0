"""A third party probes other pairs' contracts by name on the hub, and learns nothing (THREATS F5).

Every request a space's owner or member can make that names a contract it is not party to (read
it, list it by name, watch it, sign or revoke it, delete it, run a job under it) gets the same
answer for an Active contract, a Proposed one and a name no contract has: byte for byte, once
the name it asked about is taken out. Beside each probe, the positive control: the parties
themselves still get the precise answer.
"""

from __future__ import annotations

import json
import re

import pytest

from bench.hubkit.hub import (
    Contracts,
    Person,
    Spaces,
    active_contract,
    member_of,
    owner_of,
    ready_spaces,
    refusal,
    space_namespace,
    unique,
    unique_contract,
)
from bench.hubkit.manifests import contract_body, training_job_body
from bench.hubkit.waiting import wait_until

pytestmark = pytest.mark.integration

CLIENT_FILE = re.compile(r'"/tmp/[^"]+"')


def probes(person: Person, namespace: str, party: str = "") -> dict[str, object]:
    """Each probe `person` can make about a contract, by what it does; the jobs are created in
    `namespace`, all under one name (none is made); the party's copy is looked for in the
    namespace of space `party`."""
    job = unique("probe")
    return {
        "get": lambda name: person.kubectl("get", "datacontract", name),
        "list by name": lambda name: person.kubectl(
            "get", "datacontracts", "--field-selector", f"metadata.name={name}"
        ),
        "watch by name": lambda name: person.kubectl(
            "get",
            "datacontracts",
            "--field-selector",
            f"metadata.name={name}",
            "--watch",
            "--request-timeout=5s",
        ),
        "revoke": lambda name: person.kubectl(
            "patch", "datacontract", name, "--type=merge", "-p", '{"spec":{"revoked":true}}'
        ),
        "consent": lambda name: person.kubectl(
            "patch",
            "datacontract",
            name,
            "--type=merge",
            "-p",
            json.dumps({"spec": {"consent": {"consumer": {"approved": True}}}}),
        ),
        "delete": lambda name: person.kubectl("delete", "datacontract", name, "--wait=false"),
        "status": lambda name: person.kubectl(
            "get", "--raw", f"/apis/tds.io/v1alpha1/datacontracts/{name}/status"
        ),
        "job": lambda name: person.create(training_job_body(job, namespace, name)),
        "party's copy": lambda name: person.kubectl(
            "get", "contract", name, "-n", space_namespace(party)
        ),
    }


def answer(probe: object, name: str) -> str:
    """The refusal of a probe of contract `name`, without the name itself."""
    said = refusal(lambda: probe(name))  # type: ignore[operator]
    # kubectl names the temporary file it sent: the client's own, not the server's answer.
    return CLIENT_FILE.sub("<file>", said).replace(name, "<contract>")


def test_a_third_party_gets_one_answer_whether_a_contract_exists_or_not(
    spaces: Spaces, contracts: Contracts
) -> None:
    provider, consumer, bystander = ready_spaces(spaces, 3)
    active = active_contract(contracts, provider, consumer)
    proposed = contracts.propose(
        owner_of(provider), contract_body(unique_contract(), provider, consumer)
    )
    contracts.wait_phase(proposed, "Proposed")
    absent = unique_contract()
    namespace = space_namespace(bystander)

    for person in (owner_of(bystander), member_of(bystander)):
        for what, probe in probes(person, namespace, provider).items():
            answers = {name: answer(probe, name) for name in (active, proposed, absent)}
            assert len(set(answers.values())) == 1, (person.user, what, answers)
            # The namespace the probe of a party's copy names is the asker's own words.
            said = answers[absent].replace(space_namespace(provider), "<namespace asked>")
            for telling in (provider, consumer, "Active", "Proposed", "NotFound", "not found"):
                assert telling not in said, (person.user, what, said)

    # Positive controls: the parties are told what they may know.
    shown = json.loads(owner_of(consumer).kubectl("get", "datacontract", proposed, "-o", "json"))
    assert shown["status"]["phase"] == "Proposed"
    # The party's copy is written just after the contract's status.
    wait_until(
        lambda: (
            "Active"
            in owner_of(provider).kubectl(
                "get", "contract", active, "-n", space_namespace(provider)
            )
        ),
        timeout=10,
        what=f"{provider}'s copy of {active} Active",
    )
    not_active = answer(probes(owner_of(consumer), space_namespace(consumer))["job"], proposed)
    assert "ContractNotActive" in not_active
    assert "Proposed" in not_active
    misplaced = answer(probes(owner_of(provider), space_namespace(provider))["job"], active)
    assert "WrongNamespace" in misplaced
    assert space_namespace(consumer) in misplaced
    # The hub's staff are told that a name is free: the probes above never were.
    missing = refusal(lambda: Person().kubectl("get", "datacontract", absent))
    assert "NotFound" in missing
