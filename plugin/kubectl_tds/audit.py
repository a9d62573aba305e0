"""`kubectl tds audit verify CONTRACT`: recompute a contract's hash chain from the ledger's pages,
as anyone allowed to read them, and check every consent signature it records.

The hub's staff read every ledger; each party's owners read their contracts' ledger pages by name
(the operator grants them), so they check the evidence themselves, with the rules the operator
checks it with (kubectl_tds.ledger).
"""

from __future__ import annotations

import argparse
from typing import TextIO

from kubectl_tds import evidence, stored
from kubectl_tds.failures import EXIT_NOT_FOUND, Failure
from kubectl_tds.kubectl import Connection
from kubectl_tds.verdicts import ledger_verdict

CONTRACT = "DataContract"


def run_audit(connection: Connection, args: argparse.Namespace, out: TextIO) -> int:
    """Carry out one `audit` command."""
    ledgers = stored.ledger_namespace(getattr(args, "ledger_namespace", None))
    match args.audit_command:
        case "keys":
            return evidence.keys(connection, ledgers, out)
        case "checkpoint":
            return evidence.checkpoint(connection, ledgers, args.contract, args.keys, out)
    if args.since:
        return evidence.verify_since(connection, ledgers, args.contract, args.since, args.keys, out)
    return verify_ledger(connection, ledgers, args.contract, out)


def verify_ledger(connection: Connection, ledgers: str, name: str, out: TextIO) -> int:
    """Print the verdict on a contract's ledger; exit status 0 if intact, 1 if not.

    For a live contract its ledger is checked against status.audit. For a deleted one, every
    ledger kept under the name (one per contract object that had it) is checked on its own.
    """
    what = f"{CONTRACT} {name}"
    body = stored.contract(connection, name)
    if body is not None:
        audit = (body.get("status") or {}).get("audit") or {}
        data = stored.stored_data(connection, ledgers, body)
        return ledger_verdict(what, data, audit.get("head"), audit.get("entries"), out)
    kept = stored.all_ledgers(connection, ledgers, name)
    if not kept:
        raise Failure(f"no {what} and no ledger kept for it: check the name", EXIT_NOT_FOUND)
    status = 0
    for uid, data in sorted(kept.items()):
        where = f"{what} (deleted, uid {uid}; ledger kept)"
        status |= ledger_verdict(where, data, None, None, out)
    return status
