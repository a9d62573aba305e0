"""Signed ledger checkpoints: the operator's signature over a contract's ledger head.

The operator signs here; what a party checks a checkpoint with (its shape, the signature, the
entries saved with it, whether a later ledger extends it) is the kubectl plugin's
(kubectl_tds.checkpoints, kubectl_tds.signing), so both use one copy of the rules.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kubectl_tds.checkpoints import (
    ALGORITHM,
    DOMAIN,
    KIND,
    CheckpointInvalid,
    checkpoint_of,
    extends,
    saved_entries,
    signed_message,
)
from kubectl_tds.signing import decode_public, key_id, published_keys, verify_signature
from tds_operator.api.rfc3339 import format_precise
from tds_operator.audit.chain import AuditEntry

__all__ = [
    "ALGORITHM",
    "DOMAIN",
    "KIND",
    "CheckpointInvalid",
    "checkpoint_of",
    "decode_public",
    "encode_public",
    "extends",
    "key_id",
    "private_key",
    "published_keys",
    "saved_entries",
    "sign_checkpoint",
    "verify_signature",
]


def private_key(seed: bytes) -> Ed25519PrivateKey:
    """The signing key from its 32-byte seed (what the Secret holds)."""
    return Ed25519PrivateKey.from_private_bytes(seed)


def encode_public(public_key: Ed25519PublicKey) -> str:
    """The raw public key in base64, as the published keys hold it."""
    return base64.b64encode(public_key.public_bytes_raw()).decode()


def sign_checkpoint(
    key: Ed25519PrivateKey, contract: str, uid: str, head: AuditEntry, at: datetime
) -> dict[str, Any]:
    """The signed checkpoint of a ledger whose newest entry is `head`."""
    checkpoint = {
        "contract": contract,
        "uid": uid,
        "sequence": head.sequence,
        "head": head.hash,
        "at": format_precise(at),
        "keyId": key_id(key.public_key()),
    }
    signature = key.sign(signed_message(checkpoint))
    return {
        "kind": KIND,
        "checkpoint": checkpoint,
        "signature": base64.b64encode(signature).decode(),
    }
