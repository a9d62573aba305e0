"""`kubectl tds`: a party's view of the trusted data space and of its evidence.

Every command acts with your own kubeconfig identity through kubectl, so RBAC and the hub's
admission rules decide what you may do; a refusal is shown with the hub's reason.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Final, TextIO

from kubectl_tds import completion, contract_cli, evidence_cli, render, status, tools, verbs
from kubectl_tds.failures import EXIT_CODES_HELP, EXIT_REFUSED, EXIT_USAGE, Failure, UsageError
from kubectl_tds.kubectl import Connection

EPILOG = f"""examples:
  kubectl tds propose sgcc-to-cmcc-load --provider sgcc --consumer cmcc \\
      --dataset grid-load-2025 --not-after 2027-03-15T00:00:00Z \\
      --max-gpu-hours 500 --max-concurrent-gpus 16 --approve
  kubectl tds propose -f examples/02-datacontract.yaml
  kubectl tds consent sgcc-to-cmcc-load      # signs for the party whose space you own
  kubectl tds usage sgcc-to-cmcc-load
  kubectl tds contracts                      # the contracts of your space (your namespace)
  kubectl tds contracts -n tds-cmcc -o yaml
  kubectl tds release approve forecaster-model -n tds-cmcc
  kubectl tds release reject forecaster-model -n tds-cmcc
  kubectl tds check                          # do the hub's webhooks answer?
  kubectl tds version
  kubectl tds status sgcc-to-cmcc-load --watch
  kubectl tds why forecaster                 # in your kubeconfig's namespace
  kubectl tds audit verify sgcc-to-cmcc-load
  kubectl tds audit checkpoint sgcc-to-cmcc-load > head.json   # needs kubectl-tds[signing]
  kubectl tds audit verify sgcc-to-cmcc-load --since head.json
  kubectl tds export odrl sgcc-to-cmcc-load   # ODRL 2.2 JSON-LD; export prov: PROV-JSON
  source <(kubectl tds completion bash)

needs more than the plugin:
  signatures (audit checkpoint|keys, audit verify --since, keys add|list, and audit verify of
    signed consents): pip install 'kubectl-tds[signing]'
  consent --key: the operator's distribution installed beside the plugin

{EXIT_CODES_HELP}"""


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so the caller prints one line and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def connection_flags() -> Parser:
    """kubectl's usual flags, accepted before or after the command."""
    flags = Parser(add_help=False, argument_default=argparse.SUPPRESS)
    flags.add_argument("-n", "--namespace", help="the namespace (default: your kubeconfig's)")
    flags.add_argument("--context", help="the kubeconfig context to use")
    flags.add_argument("--kubeconfig", help="the kubeconfig file (default: $KUBECONFIG)")
    flags.add_argument("--as", dest="as_user", metavar="USER", help="act as USER (impersonation)")
    flags.add_argument(
        "--as-group", dest="as_groups", metavar="GROUP", action="append", help="act in GROUP"
    )
    flags.add_argument(
        "--ledger-namespace",
        help="the operator's namespace, where ledgers and checkpoint keys are kept "
        "(default: $TDS_NAMESPACE or tds-system)",
    )
    return flags


def _output_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output", choices=render.FORMATS, help="print the objects as JSON or YAML"
    )


def build_parser() -> Parser:
    """The whole command line of `kubectl tds`."""
    flags = connection_flags()
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
    listed = sub.add_parser("contracts", parents=[flags], help="the contracts of your space")
    _output_flag(listed)
    version = sub.add_parser(
        "version", parents=[flags], help="this plugin's and the operator's version"
    )
    version.add_argument(
        "--operator-namespace",
        default=os.environ.get("TDS_NAMESPACE", "tds-system"),
        help="where the operator runs (default: $TDS_NAMESPACE or tds-system)",
    )
    _output_flag(version)
    sub.add_parser("check", parents=[flags], help="whether the hub's admission webhook answers")
    status = sub.add_parser(
        "status",
        parents=[flags],
        help="phase, usage against budget, signatures, expiry and jobs of a contract",
    )
    status.add_argument("name", metavar="CONTRACT", help="the DataContract's name")
    status.add_argument(
        "-w", "--watch", action="store_true", help="then print each phase change as it happens"
    )
    _output_flag(status)
    _release_parser(sub, flags)
    contract_cli.add_contract_parsers(sub, flags)
    _why_parser(sub, flags)
    audit_sub = evidence_cli.add_audit_parsers(sub, flags)
    evidence_cli.add_keys_parsers(sub, flags)
    evidence_cli.add_export_parsers(sub, flags)
    shell = sub.add_parser("completion", help="print a shell completion script")
    shell.add_argument("shell", choices=completion.SHELLS)
    for command in [*sub.choices.values(), *audit_sub.choices.values()]:
        command.epilog = EXIT_CODES_HELP
        command.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def _why_parser(sub: argparse._SubParsersAction[Parser], flags: Parser) -> None:
    explained = sub.add_parser(
        "why", parents=[flags], help="which term admitted, denied or stopped a TrainingJob"
    )
    explained.add_argument(
        "job", metavar="JOB", help="the TrainingJob's name (in your namespace, or -n)"
    )
    _output_flag(explained)


def _release_parser(sub: argparse._SubParsersAction[Parser], flags: Parser) -> None:
    release = sub.add_parser(
        "release",
        parents=[flags],
        help="approve or reject a model release (an owner of the provider's space)",
    )
    decide = release.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=Parser)
    for verb in render.DECISIONS:
        review = decide.add_parser(
            verb,
            parents=[flags],
            help=f"{verb} a ModelRelease awaiting your review",
            description=f"{verb.capitalize()} a ModelRelease as an owner of the provider's space. "
            "The release is in the consumer's namespace: give it with -n.",
        )
        review.add_argument("release", help="the ModelRelease's name")
        if verb == "approve":
            review.add_argument(
                "--manifest-digest",
                metavar="DIGEST",
                help="approve only if the output's manifest has this digest (sha256:...); "
                "default: the digest the release records",
            )


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Carry out one of the plugin's own commands."""
    connection = tools.connection_of(args)
    output = getattr(args, "output", None)
    if output and args.command in PRINTED:
        return _printed(args, connection, output, out)
    match args.command:
        case "contracts":
            return verbs.contracts(connection, output, out)
        case "version":
            return verbs.version(connection, args.operator_namespace, output, out)
        case "check":
            return verbs.check(connection, out)
        case "release":
            digest = getattr(args, "manifest_digest", None)
            return verbs.release(connection, args.verb, args.release, digest, out)
        case "status":
            return status.status(connection, args.name, args.watch, out)
        case "why" | "audit" | "keys" | "export":
            return _evidence(connection, args, output, out)
        case "propose" | "consent" | "withdraw" | "revoke" | "usage":
            return contract_cli.run(connection, args, out)
    raise UsageError(f"kubectl tds: unknown command {args.command}")


PRINTED: Final = frozenset({"status", "usage", "keys"})
"""The reads that -o json|yaml prints as the API server holds the objects."""


def _evidence(
    connection: Connection, args: argparse.Namespace, output: str | None, out: TextIO
) -> int:
    """The commands of the evidence: why a job was admitted, the ledger's verdicts, the keys
    consents are signed with, the exports in standard terms (loaded only when one runs)."""
    if args.command == "audit":
        from kubectl_tds import audit

        return audit.run_audit(connection, args, out)
    if args.command == "keys":
        from kubectl_tds import keys

        return keys.run_keys(connection, args, out)
    if args.command == "export":
        from kubectl_tds import exports

        return exports.run_export(connection, args, out)
    from kubectl_tds import stored, why

    ledgers = stored.ledger_namespace(getattr(args, "ledger_namespace", None))
    return why.why(connection, args.job, ledgers, output, out)


def _printed(args: argparse.Namespace, connection: Connection, output: str, out: TextIO) -> int:
    """The reads printed as the API server holds them, with -o json|yaml."""
    match args.command:
        case "status":
            return verbs.show(connection, "datacontracts.tds.io", [args.name], output, out)
        case "usage":
            return verbs.show(connection, "datacontracts.tds.io", args.contracts, output, out)
        case "keys":
            return verbs.keys(connection, args.space, output, out)
    raise UsageError(f"kubectl tds {args.command}: -o is not one of its flags")


def main(
    argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """The `kubectl-tds` entry point: one line on stderr and a documented exit status on failure."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        command = tools.command_of(argv)
        parser = build_parser()
        if tools.needs_operator(argv, command):
            return tools.operator_tool(argv, str(command))
        args = parser.parse_args(argv)
        if args.command == "completion":
            print(completion.script(args.shell, parser), file=out)
            return 0
        return run(args, out)
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


def complete(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    """`kubectl_complete-tds`: kubectl (1.26 and later) runs it to complete `kubectl tds ...`."""
    typed = list(sys.argv[1:] if argv is None else argv)
    try:
        connection: Connection | None = tools.connection_of(tools.flag_values(typed))
    except UsageError:
        connection = None
    print("\n".join(completion.candidates(build_parser(), typed, connection)), file=out)
    print(":4", file=out)  # cobra's ShellCompDirectiveNoFileComp: offer no file names
    return 0
