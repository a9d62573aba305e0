"""The operator's layout table is generated from the docstrings and checked fresh by make lint."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def _layout() -> ModuleType:
    spec = importlib.util.spec_from_file_location("layout", REPO / "hack" / "layout.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["layout"] = module
    spec.loader.exec_module(module)
    return module


layout = _layout()


def test_summary_is_the_first_paragraph_on_one_line() -> None:
    source = '"""One line\ncontinued | here.\n\nDetails."""\n'
    assert layout.summary(source) == "One line continued \\| here."
    assert layout.summary("x = 1\n") == ""


def test_rows_list_packages_and_modules_but_not_entry_points(tmp_path: Path) -> None:
    (tmp_path / "kube").mkdir()
    (tmp_path / "kube" / "__init__.py").write_text('"""The client."""\n')
    (tmp_path / "config.py").write_text('"""Settings."""\n')
    (tmp_path / "__main__.py").write_text("")
    (tmp_path / "notes").mkdir()
    assert layout.rows(tmp_path)[2:] == [
        "| `operator/tds_operator/config.py` | Settings. |",
        "| `operator/tds_operator/kube/` | The client. |",
    ]


def test_render_replaces_only_what_is_between_the_markers(tmp_path: Path) -> None:
    (tmp_path / "config.py").write_text('"""Settings."""\n')
    page = f"before\n{layout.BEGIN}\nold row\n{layout.END}\nafter\n"
    fresh = layout.render(page, tmp_path)
    assert fresh.startswith(f"before\n{layout.BEGIN}\n")
    assert "old row" not in fresh
    assert "| `operator/tds_operator/config.py` | Settings. |" in fresh
    assert fresh.endswith(f"{layout.END}\nafter\n")
    with pytest.raises(ValueError, match="markers"):
        layout.render("no markers", tmp_path)


def test_the_page_is_fresh() -> None:
    page = layout.PAGE.read_text()
    assert layout.render(page, layout.PACKAGE) == page
