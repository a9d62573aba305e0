"""The operator's tool behind `kubectl tds consent --key`: when it runs, and running it.

Consent signed with your own key signs the digest of the contract's terms as the operator's API
models normalise them, so it still comes with the operator's distribution (`python -m
tds_operator.plugin`). `kubectl tds` runs it in a process of its own when the operator is
installed beside it: the plugin imports nothing of the operator.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from collections.abc import Sequence
from typing import Final

from kubectl_tds.failures import EXIT_USAGE, Failure, UsageError
from kubectl_tds.kubectl import Connection

VALUE_FLAGS: Final = frozenset(
    {"-n", "--namespace", "--context", "--kubeconfig", "--as", "--as-group", "-o", "--output"}
    | {"--ledger-namespace", "--operator-namespace"}
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
    own (the plugin imports nothing of the operator)."""
    if importlib.util.find_spec("tds_operator") is None:
        raise Failure(
            f"kubectl tds {command} --key needs the operator's tools (it signs the terms' digest "
            "as the operator's models compute it), which are not installed here: pip install "
            "the operator's distribution (the repository's root) into the same environment as "
            "kubectl-tds, or consent without --key",
            EXIT_USAGE,
        )
    argv = list(argv)
    return subprocess.call([sys.executable, "-m", "tds_operator.plugin", *argv])


def needs_operator(argv: Sequence[str], command: str | None) -> bool:
    """Whether the operator's tool carries out this command line: `consent` signed with the
    caller's own key (--key)."""
    return command == "consent" and "--key" in flags_in(argv)


def flags_in(argv: Sequence[str]) -> set[str]:
    return {word.split("=")[0] for word in argv if word.startswith("-")}
