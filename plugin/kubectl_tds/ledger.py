"""A contract's audit ledger as stored: decoding its entries and verifying their hash chain.

Pure, stdlib only: entries in, verdicts out. Anyone holding the stored entries and the head the
contract's status.audit records can check that nothing was altered, removed, reordered or
inserted; the operator (which writes the chain, tds_operator.audit.chain) and `kubectl tds`
(which lets each party check it) share this one copy of the rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kubectl_tds.digest import MAC_PREFIX, canonical_json, keyed_digest_matches, sha256_digest

CONSENT_KIND: Final = "Consent"
"""The kind of the entries that record a party's consent (with its signature, when signed)."""

GENESIS: Final = "sha256:" + "0" * 64
"""The `previous` of the first entry."""

ENTRIES_PER_PAGE: Final = 500
"""Entries per stored page (one ConfigMap each)."""
KEY_DIGITS: Final = 8

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_MAC = re.compile(r"^" + re.escape(MAC_PREFIX) + r"[0-9a-f]{64}$")
_STRING_FIELDS: Final = ("id", "at", "kind", "contract", "actor", "previous", "hash")
_FIELDS: Final = frozenset({"sequence", "details", *_STRING_FIELDS})
_SEALED_FIELDS: Final = _FIELDS | {"mac"}


@dataclass(frozen=True)
class AuditEntry:
    """One ledger entry; `id` is an idempotency key, so an event is never recorded twice."""

    sequence: int
    id: str
    at: str
    kind: str
    contract: str
    actor: str
    details: dict[str, Any]
    previous: str
    hash: str
    mac: str = ""
    """The operator's seal over `hash` (empty in entries written before entries were sealed)."""

    def body(self) -> dict[str, Any]:
        """Every field but `hash`: what the hash covers."""
        return {
            "sequence": self.sequence,
            "id": self.id,
            "at": self.at,
            "kind": self.kind,
            "contract": self.contract,
            "actor": self.actor,
            "details": self.details,
            "previous": self.previous,
        }

    def to_dict(self) -> dict[str, Any]:
        """The entry as plain JSON data."""
        sealed = {"mac": self.mac} if self.mac else {}
        return {**self.body(), "hash": self.hash, **sealed}

    def sealed_by(self, key: bytes) -> bool:
        """Whether the operator holding `key` wrote this entry."""
        return keyed_digest_matches(key, self.hash, self.mac)

    def encode(self) -> str:
        """The entry as one line of canonical JSON."""
        return canonical_json(self.to_dict())


def entry_hash(entry_without_hash: Mapping[str, Any]) -> str:
    """`sha256:<hex>` over the canonical JSON of an entry's fields other than `hash`."""
    return sha256_digest({key: value for key, value in entry_without_hash.items() if key != "hash"})


# --- Verification --------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    """Whether a ledger is intact; if not, the first sequence number that cannot be trusted."""

    ok: bool
    first_bad_sequence: int | None
    reason: str
    message: str


def _bad(sequence: int, reason: str, message: str) -> VerifyResult:
    return VerifyResult(False, sequence, reason, message)


def _verify_links(entries: Sequence[AuditEntry]) -> VerifyResult | None:
    previous = GENESIS
    ids: set[str] = set()
    for position, entry in enumerate(entries, start=1):
        if entry.sequence < position:
            return _bad(position, "DuplicateSequence", f"sequence {entry.sequence} occurs twice")
        if entry.sequence > position:
            return _bad(
                position,
                "SequenceGap",
                f"expected sequence {position}, found {entry.sequence}: "
                "entries are missing or out of order",
            )
        if entry_hash(entry.body()) != entry.hash:
            return _bad(
                position,
                "HashMismatch",
                f"entry {position} was altered: its content does not match its hash",
            )
        if entry.previous != previous:
            return _bad(
                position,
                "BrokenLink",
                f"entry {position} does not link to the entry before it",
            )
        if entry.id in ids:
            return _bad(position, "DuplicateId", f"entry {position} repeats id {entry.id}")
        ids.add(entry.id)
        previous = entry.hash
    return None


def _verify_recorded(
    entries: Sequence[AuditEntry], expected_head: str | None, expected_count: int | None
) -> VerifyResult | None:
    held = len(entries)
    recorded = expected_count
    if recorded is None and expected_head is not None:
        hashes = [entry.hash for entry in entries]
        recorded = hashes.index(expected_head) + 1 if expected_head in hashes else held
    if recorded is None:
        return None
    if held < recorded:
        return _bad(
            held + 1,
            "EntriesMissing",
            f"the ledger holds {held} entries, but status.audit records {recorded}: "
            f"entries from {held + 1} on were removed",
        )
    if expected_head is not None and (recorded == 0 or entries[recorded - 1].hash != expected_head):
        return _bad(
            max(recorded, 1),
            "HeadMismatch",
            f"entry {recorded} does not have the hash recorded in status.audit.head; "
            "the ledger was rewritten",
        )
    if held > recorded:
        return _bad(
            recorded + 1,
            "UnrecordedEntries",
            f"the ledger holds {held} entries, but status.audit records {recorded}: "
            f"entries from {recorded + 1} on are not in status (an unfinished write, or forged)",
        )
    return None


def verify(
    entries: Sequence[AuditEntry],
    expected_head: str | None = None,
    expected_count: int | None = None,
) -> VerifyResult:
    """Check sequence, hashes and links, then the head and count that status.audit records."""
    problem = _verify_links(entries) or _verify_recorded(entries, expected_head, expected_count)
    if problem is not None:
        return problem
    return VerifyResult(True, None, "Verified", f"all {len(entries)} entries are intact")


def sequence_key(sequence: int) -> str:
    """The storage key of an entry: its sequence number, zero-padded so keys sort in order."""
    return f"{sequence:0{KEY_DIGITS}d}"


def page_of(sequence: int) -> int:
    """The page (0, 1, ...) that holds an entry; page n holds sequences n*500+1 to (n+1)*500."""
    if sequence < 1:
        raise ValueError(f"sequence numbers start at 1, got {sequence}")
    return (sequence - 1) // ENTRIES_PER_PAGE


@dataclass(frozen=True)
class MalformedEntry:
    """A stored value that is not an entry, and why."""

    key: str
    problem: str


@dataclass(frozen=True)
class DecodedEntries:
    """What decoding stored data found: entries in key order, and what could not be read."""

    entries: list[AuditEntry]
    malformed: list[MalformedEntry]


def _decode_one(key: str, text: str) -> AuditEntry:
    """One stored entry; ValueError says what is wrong with it."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error.msg} at character {error.pos}") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if data.keys() != _FIELDS and data.keys() != _SEALED_FIELDS:
        missing, extra = sorted(_FIELDS - data.keys()), sorted(data.keys() - _SEALED_FIELDS)
        raise ValueError(f"fields missing: {missing or 'none'}; unexpected: {extra or 'none'}")
    sequence = data["sequence"]
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
        raise ValueError("sequence is not a positive integer")
    if any(not isinstance(data[name], str) for name in _STRING_FIELDS):
        raise ValueError("id, at, kind, contract, actor, previous and hash must be strings")
    if not isinstance(data["details"], dict):
        raise ValueError("details is not a JSON object")
    if not (_DIGEST.match(data["previous"]) and _DIGEST.match(data["hash"])):
        raise ValueError("previous and hash must be sha256:<64 hex digits>")
    if "mac" in data and not (isinstance(data["mac"], str) and _MAC.match(data["mac"])):
        raise ValueError(f"mac must be {MAC_PREFIX}<64 hex digits>")
    if key != sequence_key(sequence):
        raise ValueError(f"stored under key {key}, but its sequence is {sequence}")
    # Byte for byte: a value that decodes to the same data but is spelled differently was edited.
    if canonical_json(data) != text:
        raise ValueError("not in canonical form: the stored text was edited")
    return AuditEntry(**data)


def _sequence_of(key: str) -> int | None:
    return int(key) if key.isascii() and key.isdigit() else None


def _key_order(key: str) -> tuple[int, str]:
    return (_sequence_of(key) or -1, key)


def decode_entries(data: Mapping[str, str]) -> DecodedEntries:
    """Entries from ConfigMap data in key order; unreadable values are reported, not raised."""
    entries: list[AuditEntry] = []
    malformed: list[MalformedEntry] = []
    for key in sorted(data, key=_key_order):
        try:
            entries.append(_decode_one(key, data[key]))
        except (ValueError, TypeError) as error:
            malformed.append(MalformedEntry(key, str(error)))
    return DecodedEntries(entries, malformed)


def verify_encoded(
    data: Mapping[str, str],
    expected_head: str | None = None,
    expected_count: int | None = None,
) -> VerifyResult:
    """Decode stored data (all pages merged) and verify it; a malformed entry fails the check."""
    decoded = decode_entries(data)
    if decoded.malformed:
        first = decoded.malformed[0]
        return VerifyResult(
            False,
            _sequence_of(first.key),
            "MalformedEntry",
            f"stored entry {first.key} cannot be read: {first.problem}",
        )
    return verify(decoded.entries, expected_head, expected_count)
