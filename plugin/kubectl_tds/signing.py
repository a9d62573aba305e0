"""Ed25519 (and ECDSA P-256) signatures: the operator's over ledger checkpoints, and each party's
over its consent to a contract's terms.

The one module of the plugin that needs `cryptography`, which is an extra
(`pip install 'kubectl-tds[signing]'`): the commands that sign or check signatures import it when
they run (kubectl_tds.extras), so every other command starts without it. The operator signs and
admits with these very functions.

A consent's signed message is `CONSENT_DOMAIN` followed by the canonical JSON of {contract, party,
specDigest}: the contract's name makes a signature useless on any other contract, the party on the
other side, the digest on other terms.
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

from kubectl_tds.checkpoints import ALGORITHM, CheckpointInvalid, checkpoint_of, signed_message
from kubectl_tds.digest import canonical_json

CONSENT_DOMAIN: Final = b"tds.io/consent/v1\n"
PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey


# --- The operator's checkpoint keys --------------------------------------------------------------


def key_id(public_key: Ed25519PublicKey) -> str:
    """`ed25519-<16 hex>`: the first 8 bytes of the sha256 of the raw public key (a valid
    ConfigMap key, as the published keys hold it)."""
    raw = public_key.public_bytes_raw()
    return f"{ALGORITHM}-{hashlib.sha256(raw).hexdigest()[:16]}"


def decode_public(text: str) -> Ed25519PublicKey:
    """A public key from base64 of its 32 raw bytes; ValueError if it is not one."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key has 32 bytes, this one {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def published_keys(data: Mapping[str, str]) -> dict[str, Ed25519PublicKey]:
    """Key id -> public key, from the published ConfigMap's data (or a pinned copy); an entry
    whose id is not its key's is refused, so a key cannot be published under another's id."""
    keys: dict[str, Ed25519PublicKey] = {}
    for kid, text in data.items():
        try:
            key = decode_public(text)
        except ValueError as error:
            raise CheckpointInvalid(f"published key {kid} is unusable: {error}") from None
        if key_id(key) != kid:
            raise CheckpointInvalid(f"published key {kid} is in fact key {key_id(key)}")
        keys[kid] = key
    return keys


def verify_signature(
    document: Mapping[str, Any], keys: Mapping[str, Ed25519PublicKey]
) -> dict[str, Any]:
    """The checkpoint, once its signature verifies with the published key it names;
    CheckpointInvalid otherwise."""
    checkpoint = checkpoint_of(document)
    kid = checkpoint["keyId"]
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        known = ", ".join(sorted(keys)) or "none"
        raise CheckpointInvalid(
            f"the checkpoint is signed with key {kid}, which is not among the trusted keys "
            f"({known})"
        )
    try:
        signature = base64.b64decode(str(document["signature"]), validate=True)
        key.verify(signature, signed_message(checkpoint))
    except (InvalidSignature, binascii.Error, ValueError):
        raise CheckpointInvalid(
            f"the checkpoint's signature does not verify with key {kid}: the document was altered "
            "or not signed by the operator"
        ) from None
    return checkpoint


# --- A party's consent keys ----------------------------------------------------------------------


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
