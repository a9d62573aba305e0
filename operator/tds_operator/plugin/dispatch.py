"""`kubectl tds`: which command carries out a parsed command line."""

from __future__ import annotations

import argparse
import os
from typing import TextIO

from kubectl_tds.failures import UsageError
from tds_operator.kube import Kube
from tds_operator.plugin import exports, keys

__all__ = ["UsageError", "dispatch"]


async def dispatch(kube: Kube, args: argparse.Namespace, out: TextIO) -> int:
    ledgers = getattr(args, "ledger_namespace", None) or os.environ.get(
        "TDS_NAMESPACE", "tds-system"
    )
    match args.command:
        case "consent":
            return await keys.signed_consent(kube, args.contract, args.party, args.key, out)
        case "export":
            return await exports.run_export(kube, args, ledgers, out)
    raise UsageError(f"kubectl tds: unknown command {args.command}")
