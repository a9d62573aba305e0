"""Every module of the operator is placed by an import-linter contract (.importlinter): a new
module that no contract names, nor any package above it, fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "operator" / "tds_operator"


def uncovered(package: Path, contracts: str) -> list[str]:
    """The modules under `package` that no contract names, directly or through a parent."""
    named = set(re.findall(r"tds_operator(?:\.\w+)*", contracts))
    found = []
    for path in sorted(package.rglob("*.py")):
        parts = ("tds_operator", *path.relative_to(package).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        ancestors = {".".join(parts[:end]) for end in range(2, len(parts) + 1)}
        if len(parts) > 1 and not ancestors & named:
            found.append(".".join(parts))
    return found


def test_every_module_is_in_a_contract() -> None:
    assert uncovered(PACKAGE, (REPO / ".importlinter").read_text()) == []


def test_a_module_no_contract_names_is_found(tmp_path: Path) -> None:
    (tmp_path / "kube").mkdir()
    (tmp_path / "kube" / "client.py").write_text("")
    (tmp_path / "stray.py").write_text("")
    assert uncovered(tmp_path, "layers =\n    tds_operator.kube\n") == ["tds_operator.stray"]
