"""The audit ledger as the operator writes it: each entry carries the hash of the one before it.

Pure: events in, entries out. Decoding stored entries and verifying the chain are the kubectl
plugin's (kubectl_tds.ledger), so that a party checks the ledger with the very code the operator
checks it with before each append. The operator also seals each entry it writes (`mac`, a keyed
digest of its hash with a key only the operator holds), so that entries beyond the recorded head
are adopted only if it wrote them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from kubectl_tds.ledger import (
    ENTRIES_PER_PAGE,
    GENESIS,
    KEY_DIGITS,
    AuditEntry,
    DecodedEntries,
    MalformedEntry,
    VerifyResult,
    decode_entries,
    entry_hash,
    page_of,
    sequence_key,
    verify,
    verify_encoded,
)
from tds_operator.api.rfc3339 import format_precise
from tds_operator.policy.digest import canonical_json, keyed_digest

__all__ = [
    "ENTRIES_PER_PAGE",
    "GENESIS",
    "KEY_DIGITS",
    "MAX_ENTRY_BYTES",
    "AuditEntry",
    "AuditEvent",
    "DecodedEntries",
    "MalformedEntry",
    "VerifyResult",
    "append",
    "decode_entries",
    "encode_entries",
    "encode_pages",
    "entry_hash",
    "entry_seal",
    "extend",
    "head_of",
    "page_of",
    "sequence_key",
    "trusted_entries",
    "verify",
    "verify_before_append",
    "verify_encoded",
]

MAX_ENTRY_BYTES: Final = 2000
"""Largest encoded entry: a full page stays below 1 MiB, the API server's limit per object."""


@dataclass(frozen=True)
class AuditEvent:
    """Something to record: an entry before the chain gives it a sequence and hashes."""

    id: str
    kind: str
    contract: str
    actor: str
    at: datetime
    details: Mapping[str, Any] = field(default_factory=dict)


def entry_seal(key: bytes, hash: str) -> str:
    """The operator's seal of an entry: a keyed digest of its hash, which covers all the rest."""
    return keyed_digest(key, hash)


def head_of(entries: Sequence[AuditEntry]) -> str | None:
    """The hash of the newest entry, as status.audit.head records it (None while empty)."""
    return entries[-1].hash if entries else None


def append(
    chain: Sequence[AuditEntry],
    id: str,
    *,
    at: datetime,
    kind: str,
    contract: str,
    actor: str,
    details: Mapping[str, Any] | None = None,
    key: bytes | None = None,
) -> AuditEntry | None:
    """The entry that follows `chain`, or None if an entry with this id is already in it;
    sealed with `key`, if given.

    `chain` may be the newest pages only, as long as they hold every id that could recur.
    """
    if any(entry.id == id for entry in chain):
        return None
    tail = chain[-1] if chain else None
    body: dict[str, Any] = {
        "sequence": tail.sequence + 1 if tail else 1,
        "id": id,
        "at": format_precise(at),
        "kind": kind,
        "contract": contract,
        "actor": actor,
        # A JSON round trip detaches the caller's dict and fixes tuples as lists, as decoding will.
        "details": json.loads(canonical_json(dict(details or {}))),
        "previous": tail.hash if tail else GENESIS,
    }
    hash = entry_hash(body)
    entry = AuditEntry(**body, hash=hash, mac=entry_seal(key, hash) if key is not None else "")
    size = len(entry.encode().encode("utf-8"))
    if size > MAX_ENTRY_BYTES:
        raise ValueError(
            f"audit entry {id} encodes to {size} bytes, more than {MAX_ENTRY_BYTES}: "
            "keep details to identifiers and numbers"
        )
    return entry


def extend(
    chain: Sequence[AuditEntry], events: Iterable[AuditEvent], key: bytes | None = None
) -> list[AuditEntry]:
    """The entries that record `events` after `chain`, skipping ids already recorded; sealed
    with `key`, if given."""
    grown = list(chain)
    added: list[AuditEntry] = []
    for event in events:
        entry = append(
            grown,
            event.id,
            at=event.at,
            kind=event.kind,
            contract=event.contract,
            actor=event.actor,
            details=event.details,
            key=key,
        )
        if entry is not None:
            grown.append(entry)
            added.append(entry)
    return added


def encode_entries(entries: Iterable[AuditEntry]) -> dict[str, str]:
    """ConfigMap data: sequence key -> the entry as one line of canonical JSON."""
    return {sequence_key(entry.sequence): entry.encode() for entry in entries}


def encode_pages(entries: Iterable[AuditEntry]) -> dict[int, dict[str, str]]:
    """The entries split into pages, each encoded as ConfigMap data."""
    pages: dict[int, dict[str, str]] = {}
    for entry in entries:
        pages.setdefault(page_of(entry.sequence), {})[sequence_key(entry.sequence)] = entry.encode()
    return pages


def _recorded_count(
    entries: Sequence[AuditEntry], expected_head: str | None, expected_count: int | None
) -> int:
    if expected_count is not None:
        return expected_count
    hashes = [entry.hash for entry in entries]
    return hashes.index(expected_head) + 1 if expected_head in hashes else 0


def _verify_seals(entries: Sequence[AuditEntry], key: bytes, recorded: int) -> VerifyResult | None:
    """Every seal present is the operator's; every entry beyond what status records has one."""
    for entry in entries:
        if entry.mac and not entry.sealed_by(key):
            return VerifyResult(
                False,
                entry.sequence,
                "SealMismatch",
                f"entry {entry.sequence} carries a seal the operator did not make",
            )
        if entry.sequence > recorded and not entry.mac:
            return VerifyResult(
                False,
                entry.sequence,
                "UnsealedEntries",
                f"entries from {entry.sequence} on are not in status.audit and carry no seal of "
                "the operator: they were not written by it (forged)",
            )
    return None


def trusted_entries(entries: Sequence[AuditEntry], recorded: int, key: bytes) -> list[AuditEntry]:
    """The entries status.audit records, then those after them up to the first without the
    operator's seal: what usage and admissions may be computed from."""
    trusted = list(entries[:recorded])
    for entry in entries[recorded:]:
        if not entry.sealed_by(key):
            break
        trusted.append(entry)
    return trusted


def verify_before_append(
    data: Mapping[str, str],
    expected_head: str | None,
    expected_count: int | None,
    key: bytes,
) -> VerifyResult:
    """Whether new entries may follow the stored ones: intact up to what status.audit records,
    and every entry after that sealed by the operator (`key`).

    Sealed entries after the recorded head are the operator's own append whose status write has
    not happened yet (a crash in between, or another reconciler's append): they are adopted.
    Unsealed ones were written by someone else, to be laundered into the chain by the next
    append: the ledger is broken. So is any other damage; appending would write over the
    evidence or bury it under valid links.
    """
    result = verify_encoded(data, expected_head, expected_count)
    if not result.ok and result.reason != "UnrecordedEntries":
        return result
    entries = decode_entries(data).entries
    recorded = _recorded_count(entries, expected_head, expected_count)
    problem = _verify_seals(entries, key, recorded)
    if problem is not None:
        return problem
    return VerifyResult(True, None, "Verified", "the entries status.audit records are intact")
