"""`python -m tds_operator audit verify CONTRACT`: recompute a contract's chain from storage."""

from __future__ import annotations

import sys
from typing import TextIO

from tds_operator import API_VERSION
from tds_operator.audit.chain import verify_encoded
from tds_operator.audit.store import AuditLedger
from tds_operator.config import OperatorConfig
from tds_operator.kube import Kube


async def verify_command(config: OperatorConfig, contract: str, out: TextIO = sys.stdout) -> int:
    """Print the verdict on a contract's ledger; exit status 0 if intact, 1 if not."""
    kube = await Kube.connect(config.kubeconfig)
    ledger = AuditLedger(kube, config.namespace)
    body = await kube.get(API_VERSION, "DataContract", contract)
    audit = ((body or {}).get("status") or {}).get("audit") or {}
    data = await ledger.stored_data(contract)
    if body is None and not data:
        print(f"no DataContract {contract} and no ledger for it", file=out)
        return 1
    result = verify_encoded(data, audit.get("head"), audit.get("entries"))
    where = f"DataContract {contract}" + ("" if body else " (deleted; ledger kept)")
    if result.ok:
        print(
            f"{where}: audit chain verified: {result.message}; head {audit.get('head')}", file=out
        )
        return 0
    print(
        f"{where}: audit chain BROKEN at entry {result.first_bad_sequence}: "
        f"{result.reason}: {result.message}",
        file=out,
    )
    return 1
