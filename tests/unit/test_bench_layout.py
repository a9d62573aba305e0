"""The benchmarks' house rule: bench/ is a package run with `python -m`, sharing its hub helpers
(bench/hubkit) with the tests; it never imports the test suite and never edits sys.path."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

BENCH = Path(__file__).resolve().parents[2] / "bench"


def offences(source: str) -> list[str]:
    """What in one module breaks the rule: an import of tests, a change of sys.path."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] == "tests"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tests":
            found.append(f"from {node.module} import ...")
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "path"
            and isinstance(node.value, ast.Name)
            and node.value.id == "sys"
        ):
            found.append("sys.path")
    return found


def test_no_benchmark_imports_the_tests_or_edits_sys_path() -> None:
    broken = {
        f"{path.relative_to(BENCH.parent)}: {offence}"
        for path in BENCH.rglob("*.py")
        for offence in offences(path.read_text())
    }
    assert not broken, sorted(broken)


def test_the_rule_sees_each_offence() -> None:
    source = (
        "import sys\nimport tests.conftest\nfrom tests.integration import hub\n"
        "sys.path.insert(0, '.')\nfrom bench.hubkit.hub import Hub\n"
    )
    assert offences(source) == [
        "import tests.conftest",
        "from tests.integration import ...",
        "sys.path",
    ]
