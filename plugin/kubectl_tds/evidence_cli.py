"""The command line of the evidence commands (`audit`, `keys`, `export`): their parsers alone,
so that `kubectl tds --help` and every other command start without the ledger's, the
checkpoints' and the exports' code, which `kubectl tds` loads when one of them runs."""

from __future__ import annotations

import argparse
from typing import Any

from kubectl_tds.render import FORMATS


def add_audit_parsers(
    sub: argparse._SubParsersAction[Any], flags: argparse.ArgumentParser
) -> argparse._SubParsersAction[Any]:
    """`audit verify|checkpoint|keys`, with kubectl's `flags` (their parser's class for all)."""
    audit: argparse.ArgumentParser = sub.add_parser(
        "audit", parents=[flags], help="verify a contract's ledger, save and check its checkpoints"
    )
    audit_sub: argparse._SubParsersAction[Any] = audit.add_subparsers(
        dest="audit_command", required=True, metavar="COMMAND", parser_class=type(flags)
    )
    verify = audit_sub.add_parser(
        "verify", parents=[flags], help="recompute a contract's hash chain and check its head"
    )
    verify.add_argument("contract", help="the DataContract's name")
    verify.add_argument(
        "--since",
        metavar="FILE",
        help="a checkpoint saved with `audit checkpoint`: prove the ledger extends it",
    )
    saved = audit_sub.add_parser(
        "checkpoint",
        parents=[flags],
        help="print the operator's signed checkpoint of the ledger, with its entries (to save)",
    )
    saved.add_argument("contract", help="the DataContract's name")
    for command in (verify, saved):
        command.add_argument(
            "--keys",
            metavar="FILE",
            help="trust only these keys (saved with `audit keys`), not the ones published now",
        )
    audit_sub.add_parser(
        "keys", parents=[flags], help="print the operator's published checkpoint keys (to pin)"
    )
    return audit_sub


def add_keys_parsers(sub: argparse._SubParsersAction[Any], flags: argparse.ArgumentParser) -> None:
    """`keys add SPACE --id ID --public-key FILE`, `keys list SPACE`, `keys remove SPACE --id
    ID`, with kubectl's `flags` (their parser's class for all)."""
    keys: argparse.ArgumentParser = sub.add_parser(
        "keys", parents=[flags], help="the public keys your space's owners sign consents with"
    )
    keys_sub: argparse._SubParsersAction[Any] = keys.add_subparsers(
        dest="keys_command", required=True, metavar="COMMAND", parser_class=type(flags)
    )
    add = keys_sub.add_parser(
        "add", parents=[flags], help="register a public key on your DataSpace (owners only)"
    )
    add.add_argument("space", help="your DataSpace")
    add.add_argument("--id", required=True, help="the key's name in the space, e.g. laptop-2026")
    add.add_argument(
        "--public-key", required=True, metavar="FILE", help="PEM public key (Ed25519 or P-256)"
    )
    listed = keys_sub.add_parser("list", parents=[flags], help="a space's registered keys")
    listed.add_argument("space", help="the DataSpace")
    listed.add_argument("-o", "--output", choices=FORMATS, help="print the keys as JSON or YAML")
    remove = keys_sub.add_parser(
        "remove", parents=[flags], help="unregister a key of your DataSpace (owners only)"
    )
    remove.add_argument("space", help="your DataSpace")
    remove.add_argument("--id", required=True, help="the key's name in the space")


def add_export_parsers(
    sub: argparse._SubParsersAction[Any], flags: argparse.ArgumentParser
) -> None:
    """`export odrl CONTRACT` and `export prov JOB|modelrelease/NAME [--from FILE]`."""
    export: argparse.ArgumentParser = sub.add_parser(
        "export", parents=[flags], help="a contract or a model's provenance, in standard terms"
    )
    export_sub: argparse._SubParsersAction[Any] = export.add_subparsers(
        dest="export_command", required=True, metavar="COMMAND", parser_class=type(flags)
    )
    odrl = export_sub.add_parser(
        "odrl", parents=[flags], help="the contract as an ODRL 2.2 Agreement (JSON-LD)"
    )
    odrl.add_argument("contract", help="the DataContract's name")
    prov = export_sub.add_parser(
        "prov", parents=[flags], help="how a model came to be, as W3C PROV-JSON, from the ledger"
    )
    prov.add_argument(
        "job",
        help="a TrainingJob's name (in your namespace, or -n), modelrelease/NAME, or with --from "
        "the job's uid",
    )
    prov.add_argument(
        "--from",
        dest="saved",
        metavar="FILE",
        help="offline: the entries of a checkpoint saved with `audit checkpoint`",
    )
