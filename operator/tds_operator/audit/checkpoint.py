"""Signed ledger checkpoints: the operator's signature over a contract's ledger head.

Pure: keys, documents and entries in, documents and verdicts out. A checkpoint names a contract
object (name and uid), the sequence number and hash of its newest entry, and the time; the operator
signs it with an Ed25519 key whose public half it publishes. A party that saves a checkpoint
together with the entries up to it can later prove that the ledger it is shown extends that
checkpoint entry for entry, or name the first entry that was rewritten, removed or forked, and
can show a third party the hub's own signature over the head it saw.

Signatures cover `DOMAIN` followed by the canonical JSON of the checkpoint, so that no other
message the key might sign can pass for a checkpoint.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tds_operator.api.rfc3339 import format_precise
from tds_operator.audit.chain import (
    AuditEntry,
    VerifyResult,
    decode_entries,
    sequence_key,
    verify,
)
from tds_operator.policy.digest import canonical_json

KIND: Final = "LedgerCheckpoint"
DOMAIN: Final = b"tds.io/ledger-checkpoint/v1\n"
ALGORITHM: Final = "ed25519"
_FIELDS: Final = ("contract", "uid", "sequence", "head", "at", "keyId")


class CheckpointInvalid(ValueError):
    """A checkpoint document that cannot be trusted, and why."""


def key_id(public_key: Ed25519PublicKey) -> str:
    """`ed25519-<16 hex>`: the first 8 bytes of the sha256 of the raw public key (a valid
    ConfigMap key, as the published keys hold it)."""
    raw = public_key.public_bytes_raw()
    return f"{ALGORITHM}-{hashlib.sha256(raw).hexdigest()[:16]}"


def private_key(seed: bytes) -> Ed25519PrivateKey:
    """The signing key from its 32-byte seed (what the Secret holds)."""
    return Ed25519PrivateKey.from_private_bytes(seed)


def encode_public(public_key: Ed25519PublicKey) -> str:
    """The raw public key in base64, as the published keys hold it."""
    return base64.b64encode(public_key.public_bytes_raw()).decode()


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
    signature = key.sign(DOMAIN + canonical_json(checkpoint).encode("utf-8"))
    return {
        "kind": KIND,
        "checkpoint": checkpoint,
        "signature": base64.b64encode(signature).decode(),
    }


def checkpoint_of(document: object) -> dict[str, Any]:
    """The checkpoint a document carries, checked for shape; CheckpointInvalid says what is
    wrong."""
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise CheckpointInvalid(f"not a {KIND} document (kubectl tds audit checkpoint makes one)")
    checkpoint = document.get("checkpoint")
    if not isinstance(checkpoint, dict) or sorted(checkpoint) != sorted(_FIELDS):
        raise CheckpointInvalid(f"its checkpoint must have exactly the fields {', '.join(_FIELDS)}")
    sequence = checkpoint["sequence"]
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
        raise CheckpointInvalid("its checkpoint's sequence is not a positive integer")
    if not isinstance(document.get("signature"), str):
        raise CheckpointInvalid("it carries no signature")
    return checkpoint


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
        key.verify(signature, DOMAIN + canonical_json(checkpoint).encode("utf-8"))
    except (InvalidSignature, binascii.Error, ValueError):
        raise CheckpointInvalid(
            f"the checkpoint's signature does not verify with key {kid}: the document was altered "
            "or not signed by the operator"
        ) from None
    return checkpoint


def saved_entries(document: Mapping[str, Any], checkpoint: Mapping[str, Any]) -> list[AuditEntry]:
    """The entries saved with a checkpoint, checked to be a whole chain ending at its head."""
    raw = document.get("entries")
    if not isinstance(raw, list):
        raise CheckpointInvalid(
            "the file holds no entries: save it with kubectl tds audit checkpoint"
        )
    decoded = decode_entries(
        {sequence_key(position): canonical_json(item) for position, item in enumerate(raw, 1)}
    )
    if decoded.malformed:
        first = decoded.malformed[0]
        raise CheckpointInvalid(f"saved entry {first.key} is malformed: {first.problem}")
    entries = decoded.entries
    result = verify(entries, checkpoint["head"], checkpoint["sequence"])
    if not result.ok:
        raise CheckpointInvalid(
            f"the saved entries do not lead to the signed head (entry "
            f"{result.first_bad_sequence}: {result.message}): the file was edited"
        )
    return entries


def extends(
    saved: Sequence[AuditEntry], today: Sequence[AuditEntry], revision: str = "today's ledger"
) -> VerifyResult:
    """Whether `today` begins with exactly the `saved` entries; if not, the first that differs."""
    for position, entry in enumerate(saved, start=1):
        if position > len(today):
            return VerifyResult(
                False,
                position,
                "Truncated",
                f"{revision} holds {len(today)} entries, the checkpoint {len(saved)}: entries "
                f"from {position} on ({entry.kind} at {entry.at} first) were removed",
            )
        now = today[position - 1]
        if now.hash != entry.hash:
            return VerifyResult(
                False,
                position,
                "Rewritten",
                f"entry {position} differs from the checkpoint's: it was {entry.kind} at "
                f"{entry.at} (hash {entry.hash}), it is now {now.kind} at {now.at} "
                f"(hash {now.hash}): history was rewritten or forked from there",
            )
    return VerifyResult(
        True,
        None,
        "Extends",
        f"{revision} extends the checkpoint: its first {len(saved)} entries are the saved ones, "
        f"{len(today) - len(saved)} entries follow",
    )
