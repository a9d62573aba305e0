"""The CRD reference page: every field of every kind, and a check that fails on a stale page."""

from __future__ import annotations

from pathlib import Path

import pytest

from tds_operator.api.crddoc import main, render
from tds_operator.api.crdgen import openapi_schema
from tds_operator.api.resources import KINDS

pytestmark = pytest.mark.unit


def _paths(node: dict[str, object], path: str) -> list[str]:
    found = []
    properties = node.get("properties", {})
    assert isinstance(properties, dict)
    for name, child in properties.items():
        child_path = f"{path}.{name}"
        found.append(child_path)
        found += _paths(child, child_path)
        items = child.get("items", {})
        if items.get("properties"):
            found += _paths(items, child_path + "[]")
    return found


@pytest.mark.parametrize("kind", KINDS)
def test_every_field_of_spec_and_status_is_documented(kind: str) -> None:
    page = render()
    schema = openapi_schema(kind)
    section = page.split(f"## {kind}\n", 1)[1].split("\n## ", 1)[0]
    for part in ("spec", "status"):
        if part in schema["properties"]:
            for path in _paths(schema["properties"][part], part):
                assert f"| `{path}` |" in section, f"{kind}: {path} missing from the reference"


def test_required_fields_and_rules_are_shown() -> None:
    page = render()
    assert "| `spec.organization` | string |" in page
    organization = next(line for line in page.splitlines() if "`spec.organization`" in line)
    assert "**required**" in organization
    assert "rule: " in page


def test_check_fails_on_a_stale_page_and_passes_on_a_fresh_one(tmp_path: Path) -> None:
    page = tmp_path / "crds.md"
    assert main([str(page), "--check"]) == 1
    assert main([str(page)]) == 0
    assert main([str(page), "--check"]) == 0
    page.write_text(page.read_text() + "edited by hand\n")
    assert main([str(page), "--check"]) == 1


def test_the_committed_page_is_fresh() -> None:
    committed = Path(__file__).resolve().parents[2] / "docs" / "reference" / "crds.md"
    assert committed.read_text(encoding="utf-8") == render(), "run `make crds`"
