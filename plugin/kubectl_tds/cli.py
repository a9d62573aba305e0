"""`kubectl tds`: a party's view of the trusted data space, and the operator's tools.

Every command acts with your own kubeconfig identity through kubectl, so RBAC and the hub's
admission rules decide what you may do; a refusal is shown with the hub's reason.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Final, TextIO

from kubectl_tds import completion, render, verbs
from kubectl_tds.failures import EXIT_CODES_HELP, EXIT_REFUSED, EXIT_USAGE, Failure, UsageError
from kubectl_tds.kubectl import Connection, current_namespace

OPERATOR_TOOLS: Final = {
    "propose": "propose a DataContract, from flags or a file",
    "consent": "consent to a contract for your side",
    "withdraw": "withdraw your side's consent",
    "revoke": "revoke a contract, for good",
    "status": "phase, usage against budget, signatures, expiry and jobs of a contract",
    "why": "which term admitted, denied or stopped a TrainingJob",
    "usage": "GPU-hours per contract and per organisation",
    "audit": "verify a contract's ledger, save and check its checkpoints",
    "keys": "the public keys your space's owners sign consents with",
    "export": "a contract or a model's provenance, in standard terms (ODRL, PROV)",
}
"""The commands that need the ledger's and the signatures' code, which comes with the operator's
distribution: `kubectl tds` runs them with it when it is installed beside the plugin."""

NESTED: Final = {
    "audit": ("verify", "checkpoint", "keys"),
    "keys": ("add", "list", "remove"),
    "export": ("odrl", "prov"),
}
"""The operator's tools' own subcommands, named here for help and completion."""

SHOWN: Final = {
    "status": ("datacontracts.tds.io", "CONTRACT"),
    "why": ("trainingjobs.tds.io", "JOB"),
}
"""The operator's tools' reads that the plugin prints itself with -o json|yaml."""

VALUE_FLAGS: Final = frozenset(
    {"-n", "--namespace", "--context", "--kubeconfig", "--as", "--as-group", "-o", "--output"}
    | {"--ledger-namespace", "--operator-namespace"}
)

EPILOG = f"""examples:
  kubectl tds contracts                      # the contracts of your space (your namespace)
  kubectl tds contracts -n tds-cmcc -o yaml
  kubectl tds release approve forecaster-model -n tds-cmcc
  kubectl tds release reject forecaster-model -n tds-cmcc
  kubectl tds check                          # do the hub's webhooks answer?
  kubectl tds version
  kubectl tds why forecaster                 # in your kubeconfig's namespace
  source <(kubectl tds completion bash)

{EXIT_CODES_HELP}"""


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so the caller prints one line and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _connection_flags() -> Parser:
    """kubectl's usual flags, accepted before or after the command."""
    flags = Parser(add_help=False, argument_default=argparse.SUPPRESS)
    flags.add_argument("-n", "--namespace", help="the namespace (default: your kubeconfig's)")
    flags.add_argument("--context", help="the kubeconfig context to use")
    flags.add_argument("--kubeconfig", help="the kubeconfig file (default: $KUBECONFIG)")
    flags.add_argument("--as", dest="as_user", metavar="USER", help="act as USER (impersonation)")
    flags.add_argument(
        "--as-group", dest="as_groups", metavar="GROUP", action="append", help="act in GROUP"
    )
    return flags


def _output_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output", choices=render.FORMATS, help="print the objects as JSON or YAML"
    )


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
    _release_parser(sub, flags)
    for name, text in OPERATOR_TOOLS.items():
        tool = sub.add_parser(name, parents=[flags], help=text, add_help=False)
        if name in SHOWN:
            tool.add_argument("name", metavar=SHOWN[name][1])
            _output_flag(tool)
        elif name in NESTED:
            nested = tool.add_subparsers(dest="nested", metavar="COMMAND", parser_class=Parser)
            for child in NESTED[name]:
                nested.add_parser(child, add_help=False).add_argument("rest", nargs="...")
        else:
            tool.add_argument("rest", nargs=argparse.REMAINDER)
    shell = sub.add_parser("completion", help="print a shell completion script")
    shell.add_argument("shell", choices=completion.SHELLS)
    for command in sub.choices.values():
        command.epilog = EXIT_CODES_HELP
        command.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


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


def connection_of(args: argparse.Namespace) -> Connection:
    """Who asks and where, from kubectl's flags."""
    if getattr(args, "as_groups", None) and not getattr(args, "as_user", None):
        raise UsageError("kubectl tds: --as-group needs --as (the user who is in those groups)")
    return Connection(
        kubeconfig=getattr(args, "kubeconfig", None),
        context=getattr(args, "context", None),
        namespace=getattr(args, "namespace", None),
        user=getattr(args, "as_user", None),
        groups=tuple(getattr(args, "as_groups", None) or ()),
    )


def command_of(argv: Sequence[str]) -> str | None:
    """The command word: the first word that is neither a flag nor a flag's value."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word.startswith("-"):
            skip = word in VALUE_FLAGS
        else:
            return word
    return None


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Carry out one of the plugin's own commands."""
    connection = connection_of(args)
    output = getattr(args, "output", None)
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
        case "status" | "why" if output:
            return verbs.show(connection, SHOWN[args.command][0], args.name, output, out)
    raise UsageError(f"kubectl tds: unknown command {args.command}")


def flag_values(argv: Sequence[str]) -> argparse.Namespace:
    """kubectl's connection flags in a command line that goes to the operator's tools."""
    found: dict[str, list[str]] = {}
    words = list(argv)
    for at, word in enumerate(words):
        flag, equals, value = word.partition("=")
        if flag in VALUE_FLAGS:
            if not equals:
                value = words[at + 1] if at + 1 < len(words) else ""
            found.setdefault(flag.lstrip("-"), []).append(value)

    def last(*names: str) -> str | None:
        values = [value for name in names for value in found.get(name, [])]
        return values[-1] if values else None

    return argparse.Namespace(
        kubeconfig=last("kubeconfig"),
        context=last("context"),
        as_user=last("as"),
        as_groups=found.get("as-group") or [],
        namespace=last("namespace", "n"),
    )


def operator_tool(argv: Sequence[str], command: str) -> int:
    """Run a command of the operator's tools, installed beside the plugin, as a process of its
    own (the plugin imports nothing of the operator); `why` gets the kubeconfig's namespace."""
    if importlib.util.find_spec("tds_operator") is None:
        raise Failure(
            f"kubectl tds {command} needs the operator's tools (the ledger and signature checks), "
            "which are not installed here: pip install the operator's distribution (the "
            "repository's root) into the same environment as kubectl-tds",
            EXIT_USAGE,
        )
    argv = list(argv)
    if command == "why" and not {"-n", "--namespace"} & _flags(argv):
        argv += ["--namespace", current_namespace(connection_of(flag_values(argv)))]
    return subprocess.call([sys.executable, "-m", "tds_operator.plugin", *argv])


def _flags(argv: Sequence[str]) -> set[str]:
    return {word.split("=")[0] for word in argv if word.startswith("-")}


def main(
    argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """The `kubectl-tds` entry point: one line on stderr and a documented exit status on failure."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        command = command_of(argv)
        parser = build_parser()
        if command in OPERATOR_TOOLS and not (
            command in SHOWN and {"-o", "--output"} & _flags(argv)
        ):
            return operator_tool(argv, command)
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
        connection: Connection | None = connection_of(flag_values(typed))
    except UsageError:
        connection = None
    print("\n".join(completion.candidates(build_parser(), typed, connection)), file=out)
    print(":4", file=out)  # cobra's ShellCompDirectiveNoFileComp: offer no file names
    return 0
