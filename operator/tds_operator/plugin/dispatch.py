"""`kubectl tds`: which command carries out a parsed command line."""

from __future__ import annotations

import argparse
from typing import TextIO

from kubectl_tds.failures import UsageError
from tds_operator.kube import Kube
from tds_operator.plugin import keys

__all__ = ["UsageError", "dispatch"]


async def dispatch(kube: Kube, args: argparse.Namespace, out: TextIO) -> int:
    if args.command == "consent":
        return await keys.signed_consent(kube, args.contract, args.party, args.key, out)
    raise UsageError(f"kubectl tds: unknown command {args.command}")
