"""`python -m tds_operator audit verify CONTRACT`: recompute a contract's chain from storage, with
the operator's own API client, as anyone allowed to read it (`kubectl tds audit verify` does the
same through kubectl; both print the verdicts of kubectl_tds.verdicts).

The operator's hub staff read every ledger; each party's owners read their contracts' ledgers by
name (the operator grants them, see desired/space.py), so they check the evidence themselves.
"""

from __future__ import annotations

import sys
from typing import TextIO

from kubectl_tds.verdicts import ledger_verdict
from tds_operator import API_VERSION
from tds_operator.audit.store import AuditLedger
from tds_operator.connection import EXIT_NOT_FOUND, Caller, Failure, connect, explain
from tds_operator.kube import Kube


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
            return ledger_verdict(what, data, audit.get("head"), audit.get("entries"), out)
        ledgers = await ledger.all_ledgers(contract)
    except Exception as error:
        raise explain(error, what) from None
    if not ledgers:
        raise Failure(f"no {what} and no ledger kept for it: check the name", EXIT_NOT_FOUND)
    status = 0
    for uid, data in sorted(ledgers.items()):
        where = f"{what} (deleted, uid {uid}; ledger kept)"
        status |= ledger_verdict(where, data, None, None, out)
    return status
