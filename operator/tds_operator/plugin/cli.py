"""`kubectl tds`: propose, sign, revoke and follow data contracts, explain jobs, verify ledgers.

These are the operator's tools: the light `kubectl-tds` (plugin/, package kubectl_tds) runs them
as `python -m tds_operator.plugin` when the operator's distribution is installed beside it.

Every command acts with your own kubeconfig identity (like kubectl), so RBAC and the hub's
admission rules decide what you may do; a refusal is shown with the hub's reason.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import TextIO, get_args

from kubectl_tds.report import PARTIES
from tds_operator.api.datacontract import Purpose
from tds_operator.connection import (
    EXIT_CODES_HELP,
    EXIT_REFUSED,
    EXIT_USAGE,
    Caller,
    Failure,
    connect,
    explain,
)
from tds_operator.plugin import commands, evidence, exports, keys, report
from tds_operator.plugin.dispatch import UsageError, dispatch

EPILOG = f"""examples:
  kubectl tds propose sgcc-to-cmcc-load --provider sgcc --consumer cmcc \\
      --dataset grid-load-2025 --purpose model-training --not-after 2027-03-15T00:00:00Z \\
      --max-gpu-hours 500 --max-concurrent-gpus 16 --approve
  kubectl tds propose -f examples/02-datacontract.yaml
  kubectl tds consent sgcc-to-cmcc-load          # signs for the party whose space you own
  kubectl tds keys add sgcc --id laptop --public-key consent.pub.pem
  kubectl tds consent sgcc-to-cmcc-load --key consent.pem   # signed with your own key
  kubectl tds why forecaster -n tds-cmcc
  kubectl tds audit verify sgcc-to-cmcc-load
  kubectl tds audit checkpoint sgcc-to-cmcc-load > head.json
  kubectl tds audit verify sgcc-to-cmcc-load --since head.json
  kubectl tds usage sgcc-to-cmcc-load

{EXIT_CODES_HELP}"""


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so the caller prints one line and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _connection_flags() -> Parser:
    """kubectl's usual flags, accepted before or after the command."""
    flags = Parser(add_help=False, argument_default=argparse.SUPPRESS)
    flags.add_argument("-n", "--namespace", help="namespace of a TrainingJob (why)")
    flags.add_argument("--context", help="the kubeconfig context to use")
    flags.add_argument("--kubeconfig", help="the kubeconfig file (default: $KUBECONFIG)")
    flags.add_argument("--as", dest="as_user", metavar="USER", help="act as USER (impersonation)")
    flags.add_argument(
        "--as-group", dest="as_groups", metavar="GROUP", action="append", help="act in GROUP"
    )
    flags.add_argument(
        "--ledger-namespace",
        help="the operator's namespace, where ledgers are kept (default: $TDS_NAMESPACE or "
        "tds-system)",
    )
    return flags


def build_parser() -> Parser:
    """The whole command line of `kubectl tds`."""
    flags = _connection_flags()
    parser = Parser(
        prog="kubectl tds",
        description=__doc__,
        epilog=EPILOG,
        parents=[flags],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=Parser
    )
    _propose_parser(sub, flags)
    _consent_parsers(sub, flags)
    _contract_report_parsers(sub, flags)
    audit_sub = evidence.add_audit_commands(sub, flags)
    keys.add_keys_commands(sub, flags)
    exports.add_export_commands(sub, flags)
    usage = sub.add_parser(
        "usage", parents=[flags], help="GPU-hours per contract and per organisation"
    )
    usage.add_argument(
        "contracts", nargs="*", metavar="CONTRACT", help="contracts (default: all, hub staff only)"
    )
    for command in [*sub.choices.values(), *audit_sub.choices.values()]:
        command.epilog = EXIT_CODES_HELP
        command.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def _consent_parsers(sub: argparse._SubParsersAction[Parser], flags: Parser) -> None:
    """consent, withdraw and revoke: what a party signs."""
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


def _contract_report_parsers(sub: argparse._SubParsersAction[Parser], flags: Parser) -> None:
    """why: what a job says of itself (status is the light plugin's own)."""
    why = sub.add_parser(
        "why", parents=[flags], help="which term admitted, denied or stopped a TrainingJob"
    )
    why.add_argument("job", help="the TrainingJob's name (its namespace with -n)")


def _propose_parser(sub: argparse._SubParsersAction[Parser], flags: Parser) -> None:
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
        choices=get_args(Purpose),
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


REQUIRED_TERMS = {
    "provider": "--provider",
    "consumer": "--consumer",
    "datasets": "--dataset",
    "not_after": "--not-after",
    "max_gpu_hours": "--max-gpu-hours",
    "max_concurrent_gpus": "--max-concurrent-gpus",
}
"""The terms `propose` needs from flags, and the flag that gives each."""


def proposal_of(args: argparse.Namespace) -> dict[str, object]:
    """The contract `propose` sends: the file's, or one made from the flags (all needed given)."""
    if args.filename:
        if args.contract:
            raise UsageError(
                "kubectl tds propose: give either NAME with flags or -f FILE, not both"
            )
        return commands.load_manifest(args.filename)
    missing = [REQUIRED_TERMS[term] for term in REQUIRED_TERMS if not getattr(args, term)]
    if not args.contract or missing:
        needed = ", ".join((["NAME"] if not args.contract else []) + missing)
        raise UsageError(f"kubectl tds propose: missing {needed} (or give -f FILE)")
    return report.proposal(
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


def caller_of(args: argparse.Namespace) -> Caller:
    """Who the command acts as, from kubectl's flags."""
    if getattr(args, "as_groups", None) and not getattr(args, "as_user", None):
        raise UsageError("kubectl tds: --as-group needs --as (the user who is in those groups)")
    return Caller(
        kubeconfig=getattr(args, "kubeconfig", None),
        context=getattr(args, "context", None),
        user=getattr(args, "as_user", None),
        groups=tuple(getattr(args, "as_groups", None) or ()),
    )


async def run(args: argparse.Namespace, out: TextIO) -> int:
    """Carry out one parsed command."""
    if args.command == "propose":
        manifest = proposal_of(args)
    if exports.offline(args):
        return await exports.run_export(None, args, "", out)
    kube = await connect(caller_of(args))
    try:
        return await dispatch(kube, args, out, manifest if args.command == "propose" else {})
    except Failure:
        raise
    except Exception as error:
        raise explain(error) from None


def main(
    argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """The `kubectl-tds` entry point: one line on stderr and a documented exit status on failure."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return asyncio.run(run(args, out))
    except UsageError as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    except Failure as failure:
        print(f"error: {failure.message}", file=err)
        return failure.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # a defect of the plugin: still one line, never a traceback
        print(f"error: kubectl tds failed unexpectedly ({type(error).__name__}: {error})", file=err)
        return EXIT_REFUSED
