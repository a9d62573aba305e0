"""Consent signed with a party's own key: which keys a space's owners may register, and whether a
consent's detached signature is that party's over these very terms of this very contract.

Pure: keys, specs and the requester in, decisions out. The signed message is `CONSENT_DOMAIN`
followed by the canonical JSON of {contract, party, specDigest}: the contract's name makes a
signature useless on any other contract, the party on the other side, the digest on other terms.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tds_operator.api.datacontract import DataContractSpec, Party
from tds_operator.api.dataspace import DataSpaceSpec, SigningKey
from tds_operator.policy.contract import PARTIES, spec_digest
from tds_operator.policy.decision import Decision
from tds_operator.policy.digest import canonical_json
from tds_operator.policy.identity import UserInfo, speaks_for

CONSENT_DOMAIN: Final = b"tds.io/consent/v1\n"
PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey


def load_public_key(pem: str) -> PublicKey:
    """An Ed25519 or ECDSA P-256 public key from PEM; ValueError says why not."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError) as error:
        raise ValueError(f"not a PEM public key ({error})") from None
    if isinstance(key, Ed25519PublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise ValueError("only Ed25519 and ECDSA P-256 keys are accepted")


def fingerprint(pem: str) -> str:
    """`sha256:<hex>` of the key's DER SubjectPublicKeyInfo."""
    der = load_public_key(pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(der).hexdigest()


def consent_message(contract: str, party: str, digest: str) -> bytes:
    """What a party's key signs to consent to the terms of digest `digest` of `contract`."""
    body = {"contract": contract, "party": party, "specDigest": digest}
    return CONSENT_DOMAIN + canonical_json(body).encode("utf-8")


def sign_consent(private_pem: bytes, message: bytes) -> str:
    """Base64 of the signature of `message` with a PEM private key (Ed25519 or ECDSA P-256)."""
    key = serialization.load_pem_private_key(private_pem, password=None)
    if isinstance(key, Ed25519PrivateKey):
        return base64.b64encode(key.sign(message)).decode()
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return base64.b64encode(key.sign(message, ec.ECDSA(hashes.SHA256()))).decode()
    raise ValueError("only Ed25519 and ECDSA P-256 private keys can sign a consent")


def signature_valid(pem: str, message: bytes, signature: str) -> bool:
    """Whether `signature` (base64) is the key's over `message`."""
    try:
        key = load_public_key(pem)
        raw = base64.b64decode(signature, validate=True)
        if isinstance(key, Ed25519PublicKey):
            key.verify(raw, message)
        else:
            key.verify(raw, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


# --- Registering keys on a DataSpace -------------------------------------------------------------


def _by_id(spec: DataSpaceSpec | None) -> dict[str, SigningKey]:
    return {key.id: key for key in (spec.signing_keys if spec else [])}


def _other_than_keys(spec: DataSpaceSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude={"signing_keys"})


def admit_space_keys(
    old: DataSpaceSpec | None,
    new: DataSpaceSpec,
    requester: UserInfo,
    metadata_changed: bool = False,
) -> Decision:
    """Only an owner of the space adds or removes its signing keys, each new one under their own
    user name; a key never changes under its id; and an owner (who may patch the space for its
    keys) changes nothing else of it."""
    before, after = _by_id(old), _by_id(new)
    owners = old.owners if old is not None else new.owners
    is_owner = speaks_for(owners, requester)
    for id in sorted(before.keys() & after.keys()):
        if before[id] != after[id]:
            return Decision.deny(
                "SigningKeyImmutable",
                f"signing key {id} cannot change: remove it and add a key under a new id",
            )
    added = [after[id] for id in sorted(after.keys() - before.keys())]
    if (added or before.keys() - after.keys()) and not is_owner:
        return Decision.deny(
            "NotSpaceOwner",
            "only an owner of the space may add or remove its signing keys; "
            f"{requester.describe()} is not",
        )
    for key in added:
        if key.added_by != requester.username:
            return Decision.deny(
                "SigningKeyNotYours",
                f"signing key {key.id} says it was added by {key.added_by}, but "
                f"{requester.describe()} adds it: set addedBy to your own user name",
            )
        try:
            load_public_key(key.public_key)
        except ValueError as error:
            return Decision.deny("InvalidSigningKey", f"signing key {key.id}: {error}")
    if (
        old is not None
        and is_owner
        and (metadata_changed or _other_than_keys(old) != _other_than_keys(new))
    ):
        return Decision.deny(
            "OwnersChangeKeysOnly",
            "a space's owners change only its spec.signingKeys; everything else of a DataSpace "
            "is the hub's platform team's",
        )
    return Decision.allow("SigningKeysAllowed", "the change to signing keys is allowed")


# --- Signed consent ------------------------------------------------------------------------------


def _consent(spec: DataContractSpec | None, party: Party) -> Mapping[str, Any] | None:
    if spec is None:
        return None
    consent = spec.consent.provider if party == "provider" else spec.consent.consumer
    return consent.model_dump(mode="json", exclude_none=True)


def admit_consent_signatures(
    contract: str,
    old: DataContractSpec | None,
    new: DataContractSpec,
    spaces: Mapping[str, DataSpaceSpec | None],
    requester: UserInfo,
    required: bool,
) -> Decision:
    """Each consent given or re-signed in this change carries a valid signature by a key of that
    party's space (when `required`, or whenever one is given); only that party's owners sign."""
    digest = spec_digest(new)
    for party in PARTIES:
        now, before = _consent(new, party) or {}, _consent(old, party) or {}
        if not now.get("approved") or now == before:
            continue
        if before.get("approved"):
            return Decision.deny(
                "ConsentAlreadyGiven",
                f"the {party} has consented already: to sign its consent, withdraw it and "
                "consent again with the signature",
            )
        space_name = new.provider.space if party == "provider" else new.consumer.space
        space = spaces.get(party)
        signature = now.get("signature")
        if signature is None:
            if required:
                return Decision.deny(
                    "SignedConsentRequired",
                    f"the hub requires consent signed with the {party}'s own key: sign with "
                    f"kubectl tds consent {contract} --key <private key file>",
                )
            continue
        refusal = _signature_refusal(
            contract, party, signature, space, space_name, requester, digest
        )
        if refusal is not None:
            return refusal
    return Decision.allow("ConsentSignaturesValid", "every signature given is the party's own")


def _signature_refusal(
    contract: str,
    party: str,
    signature: Mapping[str, str],
    space: DataSpaceSpec | None,
    space_name: str,
    requester: UserInfo,
    digest: str,
) -> Decision | None:
    """Why a party's consent signature is refused (not its owner, an unknown key, a signature
    that does not verify over these terms of this contract), or None if it holds."""
    if space is None or not speaks_for(space.owners, requester):
        return Decision.deny(
            f"Not{party.capitalize()}Owner",
            f"only an owner of DataSpace {space_name} may sign the {party}'s consent; "
            f"{requester.describe()} is not",
        )
    key = space.signing_key(signature["keyId"])
    if key is None:
        return Decision.deny(
            "UnknownSigningKey",
            f"key {signature['keyId']} is not registered for the {party} (DataSpace "
            f"{space_name} spec.signingKeys): register it with kubectl tds keys add",
        )
    if not signature_valid(
        key.public_key, consent_message(contract, party, digest), signature["value"]
    ):
        return Decision.deny(
            "BadConsentSignature",
            f"the {party}'s signature does not verify with key {key.id} over these terms "
            f"({digest}) of contract {contract}: sign this contract's current terms",
        )
    return None


def signed_stamp(
    stamp: Mapping[str, Any], new: DataContractSpec, spaces: Mapping[str, DataSpaceSpec | None]
) -> dict[str, Any]:
    """A consent stamp with the signature it was given with (key id, signature and the public
    key itself, so that the ledger alone proves it); other stamps as they are. Call only after
    admit_consent_signatures allowed the change."""
    party = stamp.get("party")
    if stamp.get("action") != "consent" or party not in PARTIES:
        return dict(stamp)
    consent = _consent(new, party) or {}
    signature = consent.get("signature")
    space = spaces.get(str(party))
    key = space.signing_key(signature["keyId"]) if signature and space else None
    if signature is None or key is None:
        return dict(stamp)
    return {
        **stamp,
        "signature": {
            "keyId": key.id,
            "value": signature["value"],
            "publicKey": key.public_key,
        },
    }


def verify_recorded_consent(contract: str, details: Mapping[str, Any]) -> str | None:
    """Why the signature a Consent ledger entry records does not verify (None if it does, or
    if the entry records none)."""
    signature = details.get("signature")
    if signature is None:
        return None
    if not isinstance(signature, dict):
        return "its signature is not an object"
    message = consent_message(contract, str(details.get("party")), str(details.get("specDigest")))
    if not signature_valid(str(signature.get("publicKey")), message, str(signature.get("value"))):
        return (
            f"the {details.get('party')}'s signature with key {signature.get('keyId')} does not "
            f"verify over the terms {details.get('specDigest')}"
        )
    return None
