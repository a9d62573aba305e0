"""Signed ledger checkpoints as a party keeps them: their shape, the entries saved with them, and
whether today's ledger extends them.

Pure, stdlib only: the signature itself is checked in kubectl_tds.signing. A checkpoint names a
contract object (name and uid), the sequence number and hash of its newest entry, and the time;
the operator signs `DOMAIN` followed by its canonical JSON with an Ed25519 key whose public half
it publishes, so that no other message the key might sign can pass for a checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from kubectl_tds.digest import canonical_json
from kubectl_tds.ledger import AuditEntry, VerifyResult, decode_entries, sequence_key, verify

KIND: Final = "LedgerCheckpoint"
DOMAIN: Final = b"tds.io/ledger-checkpoint/v1\n"
ALGORITHM: Final = "ed25519"
_FIELDS: Final = ("contract", "uid", "sequence", "head", "at", "keyId")


class CheckpointInvalid(ValueError):
    """A checkpoint document that cannot be trusted, and why."""


def signed_message(checkpoint: Mapping[str, Any]) -> bytes:
    """What the operator's key signs for a checkpoint."""
    return DOMAIN + canonical_json(checkpoint).encode("utf-8")


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
