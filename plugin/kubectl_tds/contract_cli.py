"""The command lines of what a party does to a contract: propose, consent, withdraw, revoke,
and usage; and the proposal `propose` sends, from a file or from its flags."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from kubectl_tds import contracts, render, terms
from kubectl_tds.failures import UsageError
from kubectl_tds.kubectl import Connection
from kubectl_tds.report import PARTIES

COMMANDS = ("propose", "consent", "withdraw", "revoke", "usage")


def add_contract_parsers(sub: Any, flags: argparse.ArgumentParser) -> None:
    """propose, consent, withdraw, revoke and usage, with the flags each takes."""
    _propose_parser(sub, flags)
    for name, text in (
        ("consent", "consent to a contract for your side (the terms as they stand)"),
        ("withdraw", "withdraw your side's consent"),
    ):
        signing = sub.add_parser(name, parents=[flags], help=text, description=text)
        signing.add_argument("contract", help="the DataContract's name")
        signing.add_argument(
            "--party",
            choices=PARTIES,
            help="the side you sign for (default: the party whose space you own)",
        )
    sub.choices["consent"].add_argument(
        "--key",
        metavar="FILE",
        help="sign the consent with this PEM private key (registered with `keys add`); "
        "it never leaves your machine",
    )
    revoke = sub.add_parser("revoke", parents=[flags], help="revoke a contract, for good")
    revoke.add_argument("contract", help="the DataContract's name")
    usage = sub.add_parser(
        "usage", parents=[flags], help="GPU-hours per contract and per organisation"
    )
    usage.add_argument(
        "contracts", nargs="*", metavar="CONTRACT", help="contracts (default: all, hub staff only)"
    )
    usage.add_argument(
        "-o", "--output", choices=render.FORMATS, help="print the objects as JSON or YAML"
    )


def _propose_parser(sub: Any, flags: argparse.ArgumentParser) -> None:
    propose = sub.add_parser(
        "propose",
        parents=[flags],
        help="propose a DataContract, from flags or a file",
        description="Propose a contract as an owner of one party. Either -f FILE, or NAME "
        "with the terms as flags.",
    )
    propose.add_argument("contract", nargs="?", help="the new contract's name")
    propose.add_argument(
        "-f", "--filename", help="a DataContract manifest (YAML or JSON; - reads stdin)"
    )
    propose.add_argument("--provider", help="the providing DataSpace")
    propose.add_argument("--consumer", help="the consuming DataSpace")
    propose.add_argument(
        "--dataset", dest="datasets", action="append", help="a dataset of the provider (repeat)"
    )
    propose.add_argument(
        "--purpose",
        default="model-training",
        choices=terms.PURPOSES,
        help="what the data may be used for (default: model-training)",
    )
    propose.add_argument("--not-before", help="start of validity, RFC 3339 (default: at once)")
    propose.add_argument("--not-after", help="end of validity, RFC 3339, e.g. 2027-03-15T00:00:00Z")
    propose.add_argument("--max-gpu-hours", type=float, help="GPU-hour budget of all jobs")
    propose.add_argument("--max-concurrent-gpus", type=int, help="GPUs held at the same time")
    propose.add_argument("--max-jobs", type=int, help="jobs that may be admitted in all")
    propose.add_argument(
        "--approve", action="store_true", help="consent for the provider at once (as its owner)"
    )


def proposal_of(args: argparse.Namespace) -> dict[str, Any]:
    """The contract `propose` sends: the file's, or one made from the flags (all needed given)."""
    if args.filename:
        if args.contract:
            raise UsageError(
                "kubectl tds propose: give either NAME with flags or -f FILE, not both"
            )
        return contracts.load_manifest(args.filename)
    missing = [flag for term, flag in terms.REQUIRED_TERMS.items() if not getattr(args, term)]
    if not args.contract or missing:
        needed = ", ".join((["NAME"] if not args.contract else []) + missing)
        raise UsageError(f"kubectl tds propose: missing {needed} (or give -f FILE)")
    return terms.proposal(
        args.contract,
        args.provider,
        args.consumer,
        args.datasets,
        args.purpose,
        (args.not_before, args.not_after),
        (args.max_gpu_hours, args.max_concurrent_gpus),
        args.max_jobs,
        args.approve,
    )


def run(connection: Connection, args: argparse.Namespace, out: TextIO) -> int:
    """Carry out propose, consent, withdraw, revoke or usage."""
    match args.command:
        case "propose":
            return contracts.propose(connection, proposal_of(args), out)
        case "consent" | "withdraw":
            approved = args.command == "consent"
            return contracts.sign(connection, args.contract, args.party, approved, out)
        case "revoke":
            return contracts.revoke(connection, args.contract, out)
    return contracts.usage(connection, args.contracts, out)
