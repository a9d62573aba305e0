"""Consent signed with a party's own key, on the real hub with the hub rule that requires it:
owners register keys with `kubectl tds keys add`, sign with `kubectl tds consent --key`, and the
webhook refuses every signature that is not that side's own over these terms of this contract.
Also `kubectl tds export odrl`, which a JSON-LD processor expands offline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pyld import jsonld

from bench.hubkit.hub import (
    CLUSTER_ADMIN,
    Contracts,
    Hub,
    Person,
    Spaces,
    manifest_file,
    owner_of,
    ready_spaces,
    refusal,
    running_operator,
    space_namespace,
    tds,
    unique,
    unique_contract,
)
from bench.hubkit.manifests import contract_body, proposal_body
from bench.hubkit.processes import OperatorProcess
from bench.hubkit.waiting import wait_until
from kubectl_tds.odrl import ODRL
from tds_operator.api.datacontract import DataContractSpec
from tds_operator.connection import EXIT_OK, EXIT_REFUSED
from tds_operator.policy.consent_keys import consent_message, sign_consent
from tds_operator.policy.contract import spec_digest
from tds_operator.policy.proposals import contract_name

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def operator(
    crds_installed: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator with the hub rule that every consent be signed."""
    with running_operator(tmp_path_factory, {"TDS_REQUIRE_SIGNED_CONSENT": "true"}) as process:
        yield process


def pem_files(tmp_path: Path, name: str, key: Any) -> tuple[Path, Path]:
    private, public = tmp_path / f"{name}.pem", tmp_path / f"{name}.pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def register(space: str, key_id: str, public: Path) -> None:
    added = tds(owner_of(space), "keys", "add", space, "--id", key_id, "--public-key", str(public))
    assert added.returncode == EXIT_OK, added.stderr


def propose(contracts: Contracts, provider: str, consumer: str) -> str:
    """A contract proposed by the provider's owner, consented by nobody yet."""
    body = contract_body(unique_contract(), provider, consumer, provider_approves=None)
    name = contracts.propose(owner_of(provider), body)
    contracts.wait_phase(name, "Proposed")
    return name


def sign_patch(
    contracts: Contracts, name: str, party: str, key: Any, key_id: str, over: str | None = None
) -> dict[str, Any]:
    """The consent patch for `party` signed with `key` over the terms of contract `over`."""
    spec = DataContractSpec.model_validate((contracts.get(over or name) or {})["spec"])
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    value = sign_consent(pem, consent_message(over or name, party, spec_digest(spec)))
    return {"consent": {party: {"approved": True, "signature": {"keyId": key_id, "value": value}}}}


def patch_refusal(person: Person, name: str, spec: dict[str, Any]) -> str:
    return refusal(
        lambda: person.kubectl(
            "patch", "datacontract", name, "--type=merge", "-p", json.dumps({"spec": spec})
        )
    )


def test_owners_register_keys_and_nobody_else_does(spaces: Spaces, tmp_path: Path) -> None:
    [space] = ready_spaces(spaces, 1)
    _, public = pem_files(tmp_path, "laptop", Ed25519PrivateKey.generate())
    register(space, "laptop", public)
    listed = tds(owner_of(space), "keys", "list", space)
    assert "laptop" in listed.stdout
    assert f"added by {owner_of(space).user}" in listed.stdout

    # The hub's staff (cluster-admin) may patch any space, but not register a party's key.
    _, other = pem_files(tmp_path, "staff", Ed25519PrivateKey.generate())
    staff = tds(CLUSTER_ADMIN, "keys", "add", space, "--id", "staff", "--public-key", str(other))
    assert staff.returncode == EXIT_REFUSED
    assert "NotSpaceOwner" in staff.stderr or "only an owner of the space" in staff.stderr
    # An owner may not register a key in another's name, nor change anything else of the space.
    current = spaces.get(space)["spec"]["signingKeys"]
    forged = {"id": "x", "publicKey": other.read_text(), "addedBy": "someone-else"}
    answer = refusal(
        lambda: owner_of(space).kubectl(
            "patch", "dataspace", space, "--type=merge",
            "-p", json.dumps({"spec": {"signingKeys": [*current, forged]}}),
        )
    )  # fmt: skip
    assert "SigningKeyNotYours" in answer or "says it was added by someone-else" in answer
    grab = refusal(
        lambda: owner_of(space).kubectl(
            "patch", "dataspace", space, "--type=merge",
            "-p", json.dumps({"spec": {"quota": {"gpu": 64}}}),
        )
    )  # fmt: skip
    assert "change only its spec.signingKeys" in grab
    # The owner removes the key; the staff cannot remove one.
    registered = tds(
        owner_of(space), "keys", "add", space, "--id", "spare", "--public-key", str(other)
    )
    assert registered.returncode == EXIT_OK, registered.stderr
    staff_removes = tds(CLUSTER_ADMIN, "keys", "remove", space, "--id", "spare")
    assert staff_removes.returncode == EXIT_REFUSED
    removed = tds(owner_of(space), "keys", "remove", space, "--id", "spare")
    assert removed.returncode == EXIT_OK, removed.stderr
    assert [k["id"] for k in spaces.get(space)["spec"]["signingKeys"]] == ["laptop"]
    # Positive control: the staff still change the rest of a space.
    CLUSTER_ADMIN.kubectl(
        "patch",
        "dataspace",
        space,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"organization": "Renamed"}}),
    )


def test_a_signed_consent_is_admitted_recorded_and_verified_offline(
    spaces: Spaces, contracts: Contracts, tmp_path: Path
) -> None:
    provider, consumer = ready_spaces(spaces)
    provider_key, consumer_key = (
        Ed25519PrivateKey.generate(),
        ec.generate_private_key(ec.SECP256R1()),
    )
    provider_pem, provider_pub = pem_files(tmp_path, "provider", provider_key)
    consumer_pem, consumer_pub = pem_files(tmp_path, "consumer", consumer_key)
    register(provider, "laptop", provider_pub)
    register(consumer, "hsm", consumer_pub)
    name = propose(contracts, provider, consumer)

    # The hub rule: an unsigned consent is refused.
    unsigned = tds(owner_of(consumer), "consent", name)
    assert unsigned.returncode == EXIT_REFUSED
    assert (
        "SignedConsentRequired" in unsigned.stderr or "requires consent signed" in unsigned.stderr
    )

    for party, pem in ((provider, provider_pem), (consumer, consumer_pem)):
        signed = tds(owner_of(party), "consent", name, "--key", str(pem))
        assert signed.returncode == EXIT_OK, signed.stderr
    contracts.wait_phase(name, "Active")
    entries = wait_until(
        lambda: (
            found
            if len(found := [e for e in contracts.entries(name) if e["kind"] == "Consent"]) == 2
            else None
        ),
        timeout=20,
        what="both signed consents on the ledger",
    )
    assert {e["details"]["signature"]["keyId"] for e in entries} == {"laptop", "hsm"}
    verified = tds(owner_of(provider), "audit", "verify", name)
    assert verified.returncode == EXIT_OK, verified.stdout + verified.stderr
    assert "all 2 signed consents verified" in verified.stdout


def test_signatures_not_that_sides_own_over_these_terms_are_refused(
    spaces: Spaces, contracts: Contracts, tmp_path: Path
) -> None:
    provider, consumer = ready_spaces(spaces)
    provider_key, consumer_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    register(provider, "laptop", pem_files(tmp_path, "p", provider_key)[1])
    register(consumer, "laptop", pem_files(tmp_path, "c", consumer_key)[1])
    name = propose(contracts, provider, consumer)
    other = propose(contracts, provider, consumer)
    boss = owner_of(consumer)

    stranger = Ed25519PrivateKey.generate()
    unknown = patch_refusal(boss, name, sign_patch(contracts, name, "consumer", stranger, "nope"))
    assert "UnknownSigningKey" in unknown or "is not registered for the consumer" in unknown
    # The provider's key (same id as the consumer's): not the consumer's.
    theirs = patch_refusal(
        boss, name, sign_patch(contracts, name, "consumer", provider_key, "laptop")
    )
    assert "does not verify" in theirs
    # The consumer's own key over another contract's terms: a replay.
    replayed = sign_patch(contracts, name, "consumer", consumer_key, "laptop", over=other)
    assert "does not verify" in patch_refusal(boss, name, replayed)
    # Positive control: the consumer's own key over these terms.
    boss.kubectl(
        "patch", "datacontract", name, "--type=merge",
        "-p", json.dumps({"spec": sign_patch(contracts, name, "consumer", consumer_key, "laptop")}),
    )  # fmt: skip
    wait_until(
        lambda: any(e["kind"] == "Consent" for e in contracts.entries(name)),
        timeout=20,
        what="the consumer's consent on the ledger",
    )


def test_the_odrl_export_expands_offline(spaces: Spaces, contracts: Contracts) -> None:
    provider, consumer = ready_spaces(spaces)
    name = propose(contracts, provider, consumer)
    exported = tds(owner_of(consumer), "export", "odrl", name)
    assert exported.returncode == EXIT_OK, exported.stderr

    def offline(url: str, options: Any = None) -> Any:
        raise AssertionError(f"fetched {url}")

    [node] = jsonld.expand(json.loads(exported.stdout), {"documentLoader": offline})
    assert node["@type"] == [ODRL + "Agreement"]
    assert node[ODRL + "assigner"] == [{"@id": f"urn:tds:dataspace:{provider}"}]
    assert node[ODRL + "permission"][0][ODRL + "target"] == [
        {"@id": f"urn:tds:dataset:{provider}:records"}
    ]


def proposal_answer(hub: Hub, namespace: str, name: str, generation: int) -> dict[str, Any]:
    def answered() -> dict[str, Any] | None:
        status = (hub.get("contractproposals", name, namespace) or {}).get("status") or {}
        return status if status.get("observedGeneration") == generation else None

    answer: dict[str, Any] = wait_until(answered, timeout=20, what=f"{name} answered")
    return answer


def test_a_proposal_carries_its_proposers_signed_consent(
    hub: Hub, spaces: Spaces, contracts: Contracts, tmp_path: Path
) -> None:
    provider, consumer = ready_spaces(spaces)
    key = Ed25519PrivateKey.generate()
    pem, public = pem_files(tmp_path, "provider", key)
    register(provider, "laptop", public)
    namespace, proposal = space_namespace(provider), unique("offer")
    name = contract_name(provider, proposal)
    hub.contracts.append(name)
    body = proposal_body(proposal, namespace, provider, consumer)
    with manifest_file(body) as path:
        owner_of(provider).kubectl("apply", "-f", path)
    refused = proposal_answer(hub, namespace, proposal, 1)
    assert (refused["phase"], refused["reason"]) == ("Refused", "SignedConsentRequired")
    assert refused["contract"] == name
    assert contracts.get(name) is None

    # Signed over the contract's name (the proposal's status says it) and these terms.
    spec = DataContractSpec.model_validate(body["spec"])
    value = sign_consent(pem.read_bytes(), consent_message(name, "provider", spec_digest(spec)))
    signature = {"keyId": "laptop", "value": value}
    body["spec"]["consent"] = {"provider": {"approved": True, "signature": signature}}
    with manifest_file(body) as path:
        owner_of(provider).kubectl("apply", "-f", path)
    assert proposal_answer(hub, namespace, proposal, 2)["phase"] == "Created"
    shown = contracts.wait_phase(name, "Proposed")
    (stamp,) = shown["status"]["signatures"]
    assert (stamp["party"], stamp["user"]) == ("provider", owner_of(provider).user)
    assert shown["spec"]["consent"]["provider"]["signature"] == signature
