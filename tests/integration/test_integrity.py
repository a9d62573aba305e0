"""Party boundaries on the real hub: names that collide, egress into the cluster, forged consent
and a laundered ledger. Each test performs the attack as the attacker (impersonated) and checks
that it is refused, naming the rule, or has no effect.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from bench.hubkit.hub import (
    CLUSTER_ADMIN,
    OPERATOR_NAMESPACE,
    Contracts,
    Hub,
    Person,
    Spaces,
    active_contract,
    audit_verify,
    clean_room,
    entry_kinds,
    exists,
    operator_down,
    owner_of,
    ready_spaces,
    refusal,
    running_operator,
    space_namespace,
    touch,
    unique_contract,
)
from bench.hubkit.manifests import condition, contract_body, space_body, training_job_body
from bench.hubkit.processes import OperatorProcess
from bench.hubkit.training import Story
from bench.hubkit.waiting import wait_until
from tds_operator.api.datacontract import DataContractSpec
from tds_operator.audit.chain import entry_hash, sequence_key
from tds_operator.desired.cleanroom import clean_room_namespace, provider_policy_name
from tds_operator.policy.contract import spec_digest
from tds_operator.policy.digest import canonical_json

pytestmark = pytest.mark.integration

SIGNATURES = "tds.io/signatures"
# The hub's own ranges, as the chart's hubRules would name them.
HUB_NETWORKS = {
    "TDS_POD_CIDRS": "10.244.0.0/16",
    "TDS_SERVICE_CIDRS": "10.96.0.0/12",
    "TDS_API_SERVER_CIDRS": "127.0.0.1",
}


@pytest.fixture(scope="module")
def operator(
    crds_installed: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator, told the hub's pod, service and API server ranges."""
    with running_operator(tmp_path_factory, HUB_NETWORKS) as process:
        yield process


def clean_room_condition(contracts: Contracts, name: str, reason: str) -> dict[str, Any]:
    """CleanRoomReady once it has this reason."""
    return wait_until(
        lambda: (
            found
            if (found := contracts.condition(name, "CleanRoomReady")) and found["reason"] == reason
            else None
        ),
        timeout=20,
        what=f"CleanRoomReady {reason} on {name}",
    )


# --- Names: a clean room is only ever its own contract's -----------------------------------------


def test_a_space_cannot_take_a_name_the_operator_keeps_for_itself() -> None:
    for name in (f"cr-{uuid.uuid4().hex[:8]}", "system"):
        message = refusal(lambda n=name: CLUSTER_ADMIN.create(space_body(n)))
        assert "metadata.name of a DataSpace may not start with cr-" in message


def test_a_contract_never_uses_or_removes_a_namespace_it_did_not_make(
    spaces: Spaces, contracts: Contracts, hub: Hub, operator: OperatorProcess
) -> None:
    provider, consumer = ready_spaces(spaces)
    name = unique_contract()
    # A namespace that merely has the clean room's name: a space's from before `cr-` was
    # reserved, with its data in a Secret.
    squatted = clean_room(name)
    hub.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=squatted)))
    secret = client.V1Secret(metadata=client.V1ObjectMeta(name="grid-data"), string_data={"k": "v"})
    hub.core.create_namespaced_secret(squatted, secret)
    try:
        attacker = owner_of(consumer)
        body = contract_body(name, provider, consumer, provider_approves=None)
        contracts.propose(attacker, body)
        contracts.wait_phase(name, "Proposed")
        for _ in range(3):  # every reconcile of a Proposed contract closes its clean room
            touch(contracts, name, operator)
        assert hub.has_namespace(squatted)
        assert exists(lambda: hub.core.read_namespaced_secret("grid-data", squatted))

        contracts.consent(attacker, name, "consumer")
        contracts.consent(owner_of(provider), name, "provider")
        contracts.wait_phase(name, "Active")
        taken = clean_room_condition(contracts, name, "CleanRoomNameTaken")
        assert taken["status"] == "False"
        assert f"Namespace {squatted} exists but was not made for this contract" in taken["message"]
        assert hub.net.list_namespaced_network_policy(squatted).items == []
        assert not contracts.has_provider_policy(name, provider)

        contracts.revoke(attacker, name)
        contracts.wait_phase(name, "Revoked")
        touch(contracts, name, operator)
        assert hub.has_namespace(squatted)
        assert exists(lambda: hub.core.read_namespaced_secret("grid-data", squatted))
    finally:
        hub.core.delete_namespace(squatted)


def test_a_contract_named_like_anothers_shortened_clean_room_gets_none_of_it(
    story: Story, operator: OperatorProcess
) -> None:
    contracts = story.contracts
    provider, victim, attacker = story.space(), story.space(), story.space()
    # Over 56 characters: the clean room's name is shortened and ends in a digest of the name.
    victim_contract = f"{unique_contract()}-{'x' * 46}"
    contracts.propose(
        owner_of(provider),
        contract_body(victim_contract, provider, victim, datasets=("records", "weather")),
    )
    contracts.consent(owner_of(victim), victim_contract, "consumer")
    contracts.wait_phase(victim_contract, "Active")
    room = clean_room_namespace(victim_contract)
    wait_until(lambda: contracts.has_datasets_policy(victim_contract), timeout=10, what="access")

    # Variant B: a contract named exactly like the shortened clean room (not shortened itself);
    # variant C: one named like the shortened provider-side policy.
    same_room = room.removeprefix("tds-cr-")
    same_policy = provider_policy_name(victim_contract).removeprefix("tds-allow-tds-cr-")
    assert clean_room_namespace(same_room) == room
    assert provider_policy_name(same_policy) == provider_policy_name(victim_contract)
    for name in (same_room, same_policy):
        body = contract_body(name, provider, attacker, provider_approves=None)
        contracts.propose(owner_of(attacker), body)
        contracts.wait_phase(name, "Proposed")
        touch(contracts, name, operator)

    def victim_intact() -> bool:
        return (
            story.hub.has_namespace(room)
            and contracts.has_datasets_policy(victim_contract)
            and contracts.has_provider_policy(victim_contract, provider)
        )

    assert victim_intact()

    # Both made Active with a consenting provider: neither gets the victim's room or policy.
    for name in (same_room, same_policy):
        contracts.consent(owner_of(attacker), name, "consumer")
        contracts.consent(owner_of(provider), name, "provider")
        contracts.wait_phase(name, "Active")
    taken = clean_room_condition(contracts, same_room, "CleanRoomNameTaken")
    assert f"Namespace {room} exists but was not made for this contract" in taken["message"]
    taken = clean_room_condition(contracts, same_policy, "CleanRoomNameTaken")
    policy = provider_policy_name(victim_contract)
    assert f"NetworkPolicy {policy} in namespace {space_namespace(provider)}" in taken["message"]

    # A training job under the colliding contract never runs in the victim's clean room.
    job = story.submit(
        owner_of(attacker), training_job_body("steal", space_namespace(attacker), same_room)
    )
    time.sleep(5)
    assert story.batch_job(same_room, job) is None
    assert story.service(same_room, job) is None
    assert (story.job(space_namespace(attacker), job) or {}).get("status", {}).get("phase") != (
        "Running"
    )

    for name in (same_room, same_policy):
        contracts.revoke(owner_of(attacker), name)
        contracts.wait_phase(name, "Revoked")
        touch(contracts, name, operator)
    assert victim_intact()
    ready = contracts.condition(victim_contract, "CleanRoomReady")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("True", "CleanRoomOpen")


# --- Egress: never into the cluster ---------------------------------------------------------------


def test_a_contract_whose_egress_reaches_into_the_cluster_is_refused_naming_the_rule(
    spaces: Spaces, contracts: Contracts
) -> None:
    provider, consumer = ready_spaces(spaces)
    proposer = owner_of(consumer)
    refused = {
        "169.254.169.254/32": "169.254.169.254/32 overlaps 169.254.0.0/16, link-local and "
        "metadata addresses",
        "10.0.0.0/8": "10.0.0.0/8 overlaps 10.244.0.0/16, the pod network (hubRules.podCidrs)",
        "10.100.0.10/32": "overlaps 10.96.0.0/12, the service network (hubRules.serviceCidrs)",
        "127.0.0.1/32": "overlaps 127.0.0.1/32, the API server (hubRules.apiServerCidrs)",
        "0.0.0.0/0": "0.0.0.0/0 is every address, which the hub allows only with "
        "hubRules.allowAnyEgressDestination",
        "fe80::/64": "overlaps fe80::/10, IPv6 link-local addresses",
    }
    for cidr, rule in refused.items():
        egress = [{"cidr": "203.0.113.0/24", "ports": [443]}, {"cidr": cidr, "ports": [443]}]
        body = contract_body(
            unique_contract(), provider, consumer, provider_approves=None, egress=egress
        )
        message = refusal(lambda b=body: contracts.propose(proposer, b))
        assert "denied the request: EgressForbidden: spec.egress[1].cidr: " in message, cidr
        assert rule in message, (cidr, message)

    allowed = [{"cidr": "203.0.113.0/24", "ports": [443]}]
    body = contract_body(
        unique_contract(), provider, consumer, provider_approves=None, egress=allowed
    )
    contracts.wait_phase(contracts.propose(proposer, body), "Proposed")


# --- Consent and the ledger: only what the operator wrote counts ----------------------------------


def test_a_consent_stamp_forged_past_the_webhook_never_counts(
    spaces: Spaces, contracts: Contracts, operator: OperatorProcess, api_client: client.ApiClient
) -> None:
    provider, consumer = ready_spaces(spaces)
    attacker = owner_of(consumer)
    name = contracts.propose(
        attacker, contract_body(unique_contract(), provider, consumer, provider_approves=None)
    )
    contracts.consent(attacker, name, "consumer")
    body = contracts.wait_phase(name, "Proposed")
    digest = spec_digest(DataContractSpec.model_validate(body["spec"]))
    [own] = json.loads(body["metadata"]["annotations"][SIGNATURES])
    # The provider's consent, written as the webhook would, from the attacker's own genuine
    # stamp: same form, same digest, a seal the attacker cannot recompute.
    forged = {**own, "party": "provider", "user": owner_of(provider).user}
    forged["groups"] = [f"{provider}-admins"]
    patch = {
        "metadata": {"annotations": {SIGNATURES: json.dumps([own, forged])}},
        "spec": {"consent": {"provider": {"approved": True}}},
    }
    with operator_down(operator, api_client):
        attacker.kubectl("patch", "datacontract", name, "--type=merge", "-p", json.dumps(patch))
    body = contracts.wait_phase(name, "Proposed")
    touch(contracts, name, operator)
    body = contracts.wait_phase(name, "Proposed")
    active = condition(body, "Active")
    assert active is not None
    assert active["reason"] == "ConsentUnsigned"
    assert "spec.consent.provider is approved but was not signed" in active["message"]
    assert [s["party"] for s in body["status"]["signatures"]] == ["consumer"]
    assert ("Consent", "provider") not in entry_kinds(contracts.entries(name))
    assert digest == own["specDigest"]
    assert not contracts.has_clean_room(name)


def test_withdrawals_and_consents_again_are_on_the_ledger_with_who(
    spaces: Spaces, contracts: Contracts
) -> None:
    provider, consumer = ready_spaces(spaces)
    name = active_contract(contracts, provider, consumer)
    signer = owner_of(consumer)
    contracts.consent(signer, name, "consumer", approved=False)
    contracts.wait_phase(name, "Proposed")
    contracts.consent(signer, name, "consumer")
    contracts.wait_phase(name, "Active")

    # Access is granted again once the clean room, closed while Proposed, is open again.
    def granted_again() -> list[dict[str, Any]] | None:
        entries = contracts.entries(name)
        return entries if entries[-1]["kind"] == "DatasetAccessGranted" else None

    entries = wait_until(granted_again, timeout=60, what="the dataset grant given again")
    assert entry_kinds(entries)[-6:] == [
        ("ConsentWithdrawn", "consumer"),
        ("PhaseChanged", "Proposed"),
        ("DatasetAccessRevoked", None),
        ("Consent", "consumer"),
        ("PhaseChanged", "Active"),
        ("DatasetAccessGranted", None),
    ]
    assert [entry["actor"] for entry in entries[-6::3]] == [signer.user, signer.user]


@pytest.fixture
def engineer(hub: Hub) -> Iterator[Person]:
    """A hub engineer who may edit ConfigMaps in the operator's namespace, and nothing else."""
    person = Person(f"hub-engineer-{uuid.uuid4().hex[:6]}")
    rbac = client.RbacAuthorizationV1Api(hub.core.api_client)
    role = client.V1Role(
        metadata=client.V1ObjectMeta(name=person.user),
        rules=[
            client.V1PolicyRule(
                api_groups=[""], resources=["configmaps"], verbs=["get", "list", "patch"]
            )
        ],
    )
    binding = client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name=person.user),
        role_ref=client.V1RoleRef(
            api_group="rbac.authorization.k8s.io", kind="Role", name=person.user
        ),
        subjects=[client.RbacV1Subject(kind="User", name=person.user)],
    )
    rbac.create_namespaced_role(OPERATOR_NAMESPACE, role)
    rbac.create_namespaced_role_binding(OPERATOR_NAMESPACE, binding)
    try:
        yield person
    finally:
        rbac.delete_namespaced_role_binding(person.user, OPERATOR_NAMESPACE)
        rbac.delete_namespaced_role(person.user, OPERATOR_NAMESPACE)


def test_entries_forged_beyond_the_recorded_head_are_never_adopted(
    spaces: Spaces, contracts: Contracts, operator: OperatorProcess, engineer: Person
) -> None:
    provider, consumer = ready_spaces(spaces)
    name = active_contract(contracts, provider, consumer)
    before = contracts.status(name)
    entries = contracts.entries(name)
    (page,) = contracts.ledger_pages(name)
    # A well-formed entry, correctly linked after the head: 999,999,999 GPU-seconds used.
    forged: dict[str, Any] = {
        "sequence": len(entries) + 1,
        "id": "usage/forged/999999999",
        "at": entries[-1]["at"],
        "kind": "UsageMetered",
        "contract": name,
        "actor": "tds-operator",
        "details": {"uid": "forged", "job": "x/y", "gpuSeconds": 999999999, "increment": 999999999},
        "previous": entries[-1]["hash"],
    }
    forged["hash"] = entry_hash(forged)
    key = sequence_key(forged["sequence"])
    data_patch = {"data": {key: canonical_json(forged)}}
    engineer.kubectl(
        "patch", "configmap", page.metadata.name, "-n", OPERATOR_NAMESPACE,
        "--type=merge", "-p", json.dumps(data_patch),
    )  # fmt: skip
    touch(contracts, name, operator)
    intact = wait_until(
        lambda: (
            found
            if (found := contracts.condition(name, "AuditLedgerIntact"))
            and found["status"] == "False"
            else None
        ),
        timeout=10,
        what="AuditLedgerIntact False",
    )
    assert intact["reason"] == "UnsealedEntries"
    assert f"at entry {forged['sequence']}" in intact["message"]
    status = contracts.status(name)
    assert status["audit"] == before["audit"]
    assert status["usage"]["gpuHours"] < 1
    assert contracts.entries(name)[-1] == forged  # the evidence stays as it was found
    verdict = audit_verify(name)
    assert verdict.returncode == 1
    assert f"BROKEN at entry {forged['sequence']}: UnrecordedEntries" in verdict.stdout

    engineer.kubectl(
        "patch", "configmap", page.metadata.name, "-n", OPERATOR_NAMESPACE,
        "--type=json", "-p", json.dumps([{"op": "remove", "path": f"/data/{key}"}]),
    )  # fmt: skip
    touch(contracts, name, operator)
    restored = contracts.condition(name, "AuditLedgerIntact")
    assert restored is not None
    assert restored["status"] == "True"
    assert audit_verify(name).returncode == 0


def test_a_contract_without_a_name_of_its_own_is_refused(
    spaces: Spaces, contracts: Contracts
) -> None:
    provider, consumer = ready_spaces(spaces)
    body = contract_body(unique_contract(), provider, consumer)
    del body["metadata"]["name"]
    body["metadata"]["generateName"] = "deal-"
    message = refusal(lambda: owner_of(provider).create(body))
    assert "denied the request: NameRequired: metadata.name is required" in message
