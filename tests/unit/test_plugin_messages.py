"""Every flag that a message, help text or example of `kubectl tds` names is one the command line
takes (the light plugin's or the operator's tools'), so no message sends a person to a flag that
does not exist."""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import pytest

from kubectl_tds import cli as light
from tds_operator.plugin import cli as tools

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    *sorted((ROOT / "plugin" / "kubectl_tds").glob("*.py")),
    *sorted((ROOT / "operator" / "tds_operator" / "plugin").glob("*.py")),
]
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*[a-z]")
# kubectl's own flags, named where a message tells what the plugin passes to kubectl.
KUBECTL_FLAGS = {
    "--dry-run",
    "--type",
    "--minify",
    "--help",
    "--output-watch-events",
    "--ignore-not-found",
}


def options(parser: argparse.ArgumentParser) -> set[str]:
    found = {o for action in parser._actions for o in action.option_strings}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found |= options(child)
    return found


def named_flags(path: Path) -> set[str]:
    """The flags named in the module's string constants (f-strings' text parts included)."""
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            named |= set(FLAG.findall(node.value))
    return named


def test_the_sources_are_read() -> None:
    assert len(SOURCES) > 10
    assert "--manifest-digest" in named_flags(ROOT / "plugin" / "kubectl_tds" / "cli.py")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_flag_a_message_names_exists(path: Path) -> None:
    known = options(light.build_parser()) | options(tools.build_parser()) | KUBECTL_FLAGS
    unknown = named_flags(path) - known
    assert not unknown, f"{path.name} names flags no command takes: {sorted(unknown)}"


def test_a_flag_that_does_not_exist_is_caught() -> None:
    """The positive control of the check above: `--datasets` (the flag is `--dataset`)."""
    known = options(light.build_parser()) | options(tools.build_parser())
    assert "--dataset" in known
    assert "--datasets" not in known
