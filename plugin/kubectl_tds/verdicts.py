"""The verdicts `audit verify` prints on a ledger: its hash chain, and the consent signatures it
records. `kubectl tds audit verify` and the operator's `python -m tds_operator audit verify` print
them alike, from this module."""

from __future__ import annotations

from typing import TextIO

from kubectl_tds import extras
from kubectl_tds.ledger import CONSENT_KIND, VerifyResult, decode_entries, verify_encoded


def ledger_verdict(
    where: str, data: dict[str, str], head: str | None, count: int | None, out: TextIO
) -> int:
    """Verify stored entries against the head and count status.audit records (none for a
    deleted contract's kept ledger) and their consent signatures; print both verdicts, 1 if
    either fails."""
    result = verify_encoded(data, head, count)
    return chain_verdict(where, result, head, out) | consent_verdicts(where, data, out)


def consent_verdicts(where: str, data: dict[str, str], out: TextIO) -> int:
    """Check every consent signature the ledger records, offline, with the public keys it
    records; 1 if any fails."""
    signed = [
        entry
        for entry in decode_entries(data).entries
        if entry.kind == CONSENT_KIND and "signature" in entry.details
    ]
    if not signed:
        return 0
    extras.require_signing("audit verify")
    from kubectl_tds.signing import verify_recorded_consent

    bad = 0
    for entry in signed:
        problem = verify_recorded_consent(entry.contract, entry.details)
        if problem is not None:
            bad += 1
            print(
                f"{where}: consent signature BROKEN at entry {entry.sequence}: {problem}", file=out
            )
    if not bad:
        print(
            f"{where}: all {len(signed)} signed consents verified with the parties' keys", file=out
        )
    return 1 if bad else 0


def chain_verdict(where: str, result: VerifyResult, head: str | None, out: TextIO) -> int:
    """Print whether the chain is intact (and its head); 1 if it is not."""
    if result.ok:
        print(f"{where}: audit chain verified: {result.message}; head {head}", file=out)
        return 0
    print(
        f"{where}: audit chain BROKEN at entry {result.first_bad_sequence}: "
        f"{result.reason}: {result.message}",
        file=out,
    )
    return 1
