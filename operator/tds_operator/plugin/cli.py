"""`kubectl tds consent --key`: consent signed with your own key.

These are the operator's tools: the light `kubectl-tds` (plugin/, package kubectl_tds) runs them
as `python -m tds_operator.plugin` when the operator's distribution is installed beside it; it
carries out every other command itself.

Every command acts with your own kubeconfig identity (like kubectl), so RBAC and the hub's
admission rules decide what you may do; a refusal is shown with the hub's reason.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import TextIO

from kubectl_tds.cli import Parser, connection_flags
from kubectl_tds.report import PARTIES
from tds_operator.connection import (
    EXIT_CODES_HELP,
    EXIT_REFUSED,
    EXIT_USAGE,
    Caller,
    Failure,
    connect,
    explain,
)
from tds_operator.plugin.dispatch import UsageError, dispatch

EPILOG = f"""examples:
  kubectl tds consent sgcc-to-cmcc-load --key consent.pem   # signed with your own key

{EXIT_CODES_HELP}"""


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
    _consent_parsers(sub, flags)
    for command in sub.choices.values():
        command.epilog = EXIT_CODES_HELP
        command.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def _consent_parsers(sub: argparse._SubParsersAction[Parser], flags: Parser) -> None:
    """consent --key: a consent signed with the caller's own key (the light plugin carries out
    consent without a key, withdraw and revoke itself)."""
    signing = sub.add_parser(
        "consent", parents=[flags], help="consent to a contract for your side, with your key"
    )
    signing.add_argument("contract", help="the DataContract's name")
    signing.add_argument(
        "--party",
        choices=PARTIES,
        help="the side you sign for (default: the party whose space you own)",
    )
    signing.add_argument(
        "--key",
        metavar="FILE",
        required=True,
        help="sign the consent with this PEM private key (registered with `keys add`); "
        "it never leaves your machine",
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
    kube = await connect(caller_of(args))
    try:
        return await dispatch(kube, args, out)
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
