"""The size rules `make lint` enforces: modules and functions that outgrow them are reported."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_size", REPO / "hack" / "check_size.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_size"] = module
    spec.loader.exec_module(module)
    return module


check_size = _checker()


def _function(name: str, body_lines: int) -> str:
    return f"def {name}():\n" + "    x = 1\n" * (body_lines - 1)


def test_small_module_and_functions_pass(tmp_path: Path) -> None:
    (tmp_path / "small.py").write_text(_function("fits", check_size.MAX_FUNCTION_LINES))
    assert check_size.violations(tmp_path) == []


def test_long_function_is_reported(tmp_path: Path) -> None:
    (tmp_path / "long.py").write_text(_function("grows", check_size.MAX_FUNCTION_LINES + 1))
    found = check_size.violations(tmp_path)
    assert len(found) == 1
    assert "function grows has 51 lines" in found[0]


def test_long_method_is_reported(tmp_path: Path) -> None:
    body = "    " + _function("grows", check_size.MAX_FUNCTION_LINES + 1).replace("\n", "\n    ")
    (tmp_path / "cls.py").write_text("class C:\n" + body)
    assert any("function grows" in line for line in check_size.violations(tmp_path))


def test_long_module_is_reported(tmp_path: Path) -> None:
    (tmp_path / "big.py").write_text("x = 1\n" * (check_size.MAX_MODULE_LINES + 1))
    found = check_size.violations(tmp_path)
    assert found == [f"{tmp_path / 'big.py'}: module has 301 lines (limit 300)"]


def test_listed_exception_may_be_long(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "crdgen.py").write_text("x = 1\n" * (check_size.MAX_MODULE_LINES + 1))
    assert check_size.violations(tmp_path) == []


def test_pending_breach_passes_and_a_stale_entry_fails(tmp_path: Path) -> None:
    (tmp_path / "long.py").write_text(_function("grows", check_size.MAX_FUNCTION_LINES + 1))
    assert check_size.violations(tmp_path, {"long.py:grows"}) == []
    stale = check_size.violations(tmp_path, {"long.py:grows", "gone.py"})
    assert len(stale) == 1
    assert stale[0].startswith("gone.py: listed as pending")


def test_main_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check_size, "PENDING", set())
    assert check_size.main([str(tmp_path)]) == 0
    (tmp_path / "big.py").write_text("x = 1\n" * (check_size.MAX_MODULE_LINES + 1))
    assert check_size.main([str(tmp_path)]) == 1
    assert check_size.main([str(tmp_path / "missing")]) == 2


def test_operator_meets_the_rules() -> None:
    assert check_size.violations(REPO / "operator" / "tds_operator", check_size.PENDING) == []
