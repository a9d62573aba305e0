"""Consent signed with a party's own key: only a space's owners register keys, and a signature
counts only if it is that side's key over these terms of this contract."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.hubkit.manifests import cmcc, contract_spec, sgcc, user, with_consent
from tds_operator.api.datacontract import DataContractSpec
from tds_operator.api.dataspace import DataSpaceSpec
from tds_operator.audit.events import stamp_events
from tds_operator.policy.consent_keys import (
    admit_consent_signatures,
    admit_space_keys,
    consent_message,
    fingerprint,
    sign_consent,
    signed_stamp,
    verify_recorded_consent,
)
from tds_operator.policy.contract import spec_digest

pytestmark = pytest.mark.unit

CONTRACT = "sgcc-to-cmcc"
WANG = user("wang.fang")  # an owner of sgcc, the provider
ZHANG = user("zhang.min")  # an owner of cmcc, the consumer


def private_pem(key: Any) -> bytes:
    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def public_pem(key: Any) -> str:
    return str(
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


PROVIDER_KEY = Ed25519PrivateKey.generate()
CONSUMER_KEY = ec.generate_private_key(ec.SECP256R1())


def with_keys(spec: DataSpaceSpec, *keys: tuple[str, Any, str]) -> DataSpaceSpec:
    registered = [{"id": i, "publicKey": public_pem(k), "addedBy": by} for i, k, by in keys]
    return DataSpaceSpec.model_validate(
        {**spec.model_dump(mode="json", by_alias=True), "signingKeys": registered}
    )


SPACES = {
    "provider": with_keys(sgcc(), ("laptop", PROVIDER_KEY, "wang.fang")),
    "consumer": with_keys(cmcc(), ("hsm", CONSUMER_KEY, "zhang.min")),
}


def signed(
    spec: DataContractSpec, party: str, key: Any, key_id: str, contract: str = CONTRACT
) -> DataContractSpec:
    """The spec with `party` consenting, signed with `key` over its terms of `contract`."""
    value = sign_consent(private_pem(key), consent_message(contract, party, spec_digest(spec)))
    data = spec.model_dump(mode="json", by_alias=True)
    data["consent"][party] = {"approved": True, "signature": {"keyId": key_id, "value": value}}
    return DataContractSpec.model_validate(data)


def admit(
    new: DataContractSpec, requester: Any, required: bool = False, old: Any = None
) -> tuple[bool, str]:
    old = contract_spec() if old is None else old
    decision = admit_consent_signatures(CONTRACT, old, new, SPACES, requester, required)
    return decision.allowed, decision.reason


def test_a_consent_signed_with_the_sides_registered_key_is_admitted() -> None:
    assert admit(signed(contract_spec(), "provider", PROVIDER_KEY, "laptop"), WANG) == (
        True,
        "ConsentSignaturesValid",
    )
    # ECDSA P-256 too.
    assert admit(signed(contract_spec(), "consumer", CONSUMER_KEY, "hsm"), ZHANG)[0]


def test_a_key_not_registered_for_that_side_is_refused() -> None:
    stranger = Ed25519PrivateKey.generate()
    assert admit(signed(contract_spec(), "provider", stranger, "stolen"), WANG) == (
        False,
        "UnknownSigningKey",
    )
    # The other side's key, under its own id: not registered for the provider.
    assert admit(signed(contract_spec(), "provider", CONSUMER_KEY, "hsm"), WANG) == (
        False,
        "UnknownSigningKey",
    )
    # The other side's key under the provider's key id: the signature does not verify.
    assert admit(signed(contract_spec(), "provider", CONSUMER_KEY, "laptop"), WANG) == (
        False,
        "BadConsentSignature",
    )


def test_a_signature_over_other_terms_or_another_contract_is_refused() -> None:
    other_terms = contract_spec(maxJobs=21)
    forged = signed(other_terms, "provider", PROVIDER_KEY, "laptop")
    # The signature over maxJobs=21, carried onto the contract with maxJobs=20.
    replayed = contract_spec().model_dump(mode="json", by_alias=True)
    replayed["consent"]["provider"] = forged.model_dump(mode="json", by_alias=True)["consent"][
        "provider"
    ]
    assert admit(DataContractSpec.model_validate(replayed), WANG) == (False, "BadConsentSignature")
    # A signature made for another contract with the very same terms.
    elsewhere = signed(contract_spec(), "provider", PROVIDER_KEY, "laptop", contract="other")
    assert admit(elsewhere, WANG) == (False, "BadConsentSignature")
    # The provider's signature used as the consumer's (under the consumer's key id): refused.
    mine = signed(contract_spec(), "provider", PROVIDER_KEY, "laptop").model_dump(
        mode="json", by_alias=True
    )
    mine["consent"]["consumer"] = {**mine["consent"]["provider"]}
    mine["consent"]["consumer"]["signature"] = {
        **mine["consent"]["provider"]["signature"],
        "keyId": "hsm",
    }
    mine["consent"]["provider"] = {"approved": False}
    assert admit(DataContractSpec.model_validate(mine), ZHANG) == (False, "BadConsentSignature")


def test_only_the_sides_owner_may_sign_and_the_hub_rule_requires_a_signature() -> None:
    assert admit(signed(contract_spec(), "provider", PROVIDER_KEY, "laptop"), ZHANG) == (
        False,
        "NotProviderOwner",
    )
    unsigned = with_consent(contract_spec(), provider=True)
    assert admit(unsigned, WANG) == (True, "ConsentSignaturesValid")
    assert admit(unsigned, WANG, required=True) == (False, "SignedConsentRequired")
    # Once consented, a signature is not slipped in afterwards: withdraw and sign again.
    late = signed(contract_spec(), "provider", PROVIDER_KEY, "laptop")
    assert admit(late, WANG, old=unsigned) == (False, "ConsentAlreadyGiven")


def test_the_ledger_records_the_signature_and_it_verifies_offline() -> None:
    spec = signed(contract_spec(), "provider", PROVIDER_KEY, "laptop")
    stamp = {
        "action": "consent",
        "party": "provider",
        "user": "wang.fang",
        "groups": [],
        "at": "2026-12-01T00:00:00Z",
        "specDigest": spec_digest(spec),
    }
    [event] = stamp_events(CONTRACT, [signed_stamp(stamp, spec, SPACES)])
    signature = event.details["signature"]
    assert signature["keyId"] == "laptop"
    assert fingerprint(signature["publicKey"]) == fingerprint(public_pem(PROVIDER_KEY))
    assert verify_recorded_consent(CONTRACT, event.details) is None
    assert verify_recorded_consent("another", event.details) is not None
    tampered = {**event.details, "specDigest": "sha256:" + "0" * 64}
    assert "does not verify" in (verify_recorded_consent(CONTRACT, tampered) or "")


def test_only_an_owner_registers_a_key_and_only_under_their_own_name() -> None:
    before, key = sgcc(), Ed25519PrivateKey.generate()
    after = with_keys(before, ("laptop", key, "wang.fang"))
    assert admit_space_keys(before, after, WANG).allowed
    # Someone who is not an owner (the hub's staff, the other party): refused.
    for outsider in (user("hub-admin", "system:masters"), ZHANG):
        stranger = with_keys(before, ("laptop", key, outsider.username))
        assert admit_space_keys(before, stranger, outsider).reason == "NotSpaceOwner"
    # An owner registering a key in another's name: refused.
    assert admit_space_keys(before, after, user("x", "sgcc-admins")).reason == "SigningKeyNotYours"
    # A space created with keys by the platform team: refused as well.
    assert admit_space_keys(None, after, user("hub-admin")).reason == "NotSpaceOwner"


def test_a_key_never_changes_under_its_id_and_owners_change_only_keys() -> None:
    before = with_keys(sgcc(), ("laptop", PROVIDER_KEY, "wang.fang"))
    swapped = with_keys(sgcc(), ("laptop", Ed25519PrivateKey.generate(), "wang.fang"))
    assert admit_space_keys(before, swapped, WANG).reason == "SigningKeyImmutable"
    assert admit_space_keys(before, sgcc(), WANG).allowed  # removed by an owner
    bigger = before.model_copy(update={"organization": "Someone else"})
    assert admit_space_keys(before, bigger, WANG).reason == "OwnersChangeKeysOnly"
    assert admit_space_keys(before, before, WANG, metadata_changed=True).reason == (
        "OwnersChangeKeysOnly"
    )
    # The platform team (not an owner) still changes the rest.
    assert admit_space_keys(before, bigger, user("hub-admin")).allowed


def test_only_ed25519_and_p256_keys_are_accepted() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_curve = ec.generate_private_key(ec.SECP384R1())
    for key in (rsa_key, other_curve):
        spec = with_keys(sgcc(), ("weak", key, "wang.fang"))
        assert admit_space_keys(sgcc(), spec, WANG).reason == "InvalidSigningKey"
