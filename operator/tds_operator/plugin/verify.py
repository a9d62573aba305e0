"""`audit verify CONTRACT`: recompute a contract's chain from storage, as anyone allowed to read it.

The operator's hub staff read every ledger; each party's owners read their contracts' ledgers by
name (the operator grants them, see desired/space.py), so they check the evidence themselves.
"""

from __future__ import annotations

import sys
from typing import TextIO

from tds_operator import API_VERSION
from tds_operator.audit.chain import VerifyResult, decode_entries, verify_encoded
from tds_operator.audit.events import CONSENT_KIND
from tds_operator.audit.store import AuditLedger
from tds_operator.connection import EXIT_NOT_FOUND, Caller, Failure, connect, explain
from tds_operator.kube import Kube
from tds_operator.policy.consent_keys import verify_recorded_consent


async def verify_command(
    caller: Caller, namespace: str, contract: str, out: TextIO = sys.stdout
) -> int:
    """`python -m tds_operator audit verify`: connect as the caller, verify, report; a failure
    to reach or read the ledger is one line on stderr and its exit status."""
    try:
        kube = await connect(caller)
        return await verify_ledger(kube, namespace, contract, out)
    except Failure as failure:
        print(f"error: {failure.message}", file=sys.stderr)
        return failure.exit_code


async def verify_ledger(kube: Kube, namespace: str, contract: str, out: TextIO) -> int:
    """Print the verdict on a contract's ledger; exit status 0 if intact, 1 if not.

    For a live contract its ledger is checked against status.audit. For a deleted one, every
    ledger kept under the name (one per contract object that had it) is checked on its own.
    Raises Failure when the contract or its ledger cannot be read.
    """
    ledger = AuditLedger(kube, namespace)
    what = f"DataContract {contract}"
    try:
        body = await kube.get(API_VERSION, "DataContract", contract)
        if body is not None:
            audit = (body.get("status") or {}).get("audit") or {}
            data = await ledger.stored_data(contract)
            result = verify_encoded(data, audit.get("head"), audit.get("entries"))
            return _report(what, result, audit.get("head"), out) | _consents(what, data, out)
        ledgers = await ledger.all_ledgers(contract)
    except Exception as error:
        raise explain(error, what) from None
    if not ledgers:
        raise Failure(f"no {what} and no ledger kept for it: check the name", EXIT_NOT_FOUND)
    status = 0
    for uid, data in sorted(ledgers.items()):
        result = verify_encoded(data)
        where = f"{what} (deleted, uid {uid}; ledger kept)"
        status |= _report(where, result, None, out) | _consents(where, data, out)
    return status


def _consents(where: str, data: dict[str, str], out: TextIO) -> int:
    """Check every consent signature the ledger records, offline, with the public keys it
    records; 1 if any fails."""
    signed = bad = 0
    for entry in decode_entries(data).entries:
        if entry.kind != CONSENT_KIND or "signature" not in entry.details:
            continue
        signed += 1
        problem = verify_recorded_consent(entry.contract, entry.details)
        if problem is not None:
            bad += 1
            print(
                f"{where}: consent signature BROKEN at entry {entry.sequence}: {problem}", file=out
            )
    if signed and not bad:
        print(f"{where}: all {signed} signed consents verified with the parties' keys", file=out)
    return 1 if bad else 0


def _report(where: str, result: VerifyResult, head: str | None, out: TextIO) -> int:
    if result.ok:
        print(f"{where}: audit chain verified: {result.message}; head {head}", file=out)
        return 0
    print(
        f"{where}: audit chain BROKEN at entry {result.first_bad_sequence}: "
        f"{result.reason}: {result.message}",
        file=out,
    )
    return 1
