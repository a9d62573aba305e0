"""`python -m tds_operator audit verify CONTRACT`: recompute a contract's chain from storage."""

from __future__ import annotations

import sys
from typing import TextIO

from tds_operator import API_VERSION
from tds_operator.audit.chain import VerifyResult, verify_encoded
from tds_operator.audit.store import AuditLedger
from tds_operator.config import OperatorConfig
from tds_operator.kube import Kube


async def verify_command(config: OperatorConfig, contract: str, out: TextIO = sys.stdout) -> int:
    """Print the verdict on a contract's ledger; exit status 0 if intact, 1 if not.

    For a live contract its ledger is checked against status.audit. For a deleted one, every
    ledger kept under the name (one per contract object that had it) is checked on its own.
    """
    kube = await Kube.connect(config.kubeconfig)
    ledger = AuditLedger(kube, config.namespace)
    body = await kube.get(API_VERSION, "DataContract", contract)
    if body is not None:
        audit = (body.get("status") or {}).get("audit") or {}
        data = await ledger.stored_data(contract)
        result = verify_encoded(data, audit.get("head"), audit.get("entries"))
        return _report(f"DataContract {contract}", result, audit.get("head"), out)
    ledgers = await ledger.all_ledgers(contract)
    if not ledgers:
        print(f"no DataContract {contract} and no ledger for it", file=out)
        return 1
    status = 0
    for uid, data in sorted(ledgers.items()):
        result = verify_encoded(data)
        where = f"DataContract {contract} (deleted, uid {uid}; ledger kept)"
        status |= _report(where, result, None, out)
    return status


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
