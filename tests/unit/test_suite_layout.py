"""The test suite's own house rule: test modules import helper modules, never each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

TESTS = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, absolute."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def is_test_module(module: str) -> bool:
    """A module pytest collects tests from, or a tier's fixtures."""
    last = module.rsplit(".", 1)[-1]
    return module.startswith("tests.") and (last.startswith("test_") or last == "conftest")


def test_no_test_module_imports_another() -> None:
    offenders = {
        f"{path.relative_to(TESTS.parent)} imports {module}"
        for path in TESTS.rglob("*.py")
        for module in imported_modules(path)
        if is_test_module(module)
    }
    assert not offenders, sorted(offenders)


def test_the_rule_sees_an_offender(tmp_path: Path) -> None:
    offender = tmp_path / "test_x.py"
    offender.write_text(
        "from tests.integration.test_spaces import anything\nimport tests.conftest\n"
    )
    assert {m for m in imported_modules(offender) if is_test_module(m)} == {
        "tests.integration.test_spaces",
        "tests.conftest",
    }


def test_every_test_module_is_marked_with_its_tier() -> None:
    """`make unit`, `make integration`, `make e2e` and `make kind-tier` select by marker: an
    unmarked module's tests would never run."""
    unmarked = [
        str(path.relative_to(TESTS.parent))
        for tier in ("unit", "integration", "e2e", "kind")
        for path in (TESTS / tier).glob("test_*.py")
        if f"pytestmark = pytest.mark.{tier}" not in path.read_text()
        and f"pytest.mark.{tier}," not in path.read_text()
    ]
    assert not unmarked, unmarked
