"""`python -m tds_operator --help` lists every TDS_* setting the operator reads, and the
configuration reference documents each."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tds_operator import config
from tds_operator.policy import rules
from tds_operator.process import main
from tds_operator.settings import SETTINGS

pytestmark = pytest.mark.unit

CONFIGURATION_PAGE = Path(__file__).parents[2] / "docs" / "reference" / "configuration.md"


def names_read_by(*modules: object) -> set[str]:
    """The TDS_* names these modules' sources spell out: what they read from the environment."""
    names: set[str] = set()
    for module in modules:
        source = Path(str(getattr(module, "__file__", ""))).read_text()
        names.update(re.findall(r'"(TDS_[A-Z0-9_]+)"', source))
    return names


def test_the_settings_listed_are_exactly_those_the_operator_reads() -> None:
    read = names_read_by(config, rules)
    assert len(read) > 30  # the scan finds them
    assert {setting.name for setting in SETTINGS} == read


def test_help_lists_every_setting(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main.main(["--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    for name in names_read_by(config, rules):
        assert re.search(rf"^\s+{name}\s", shown, re.MULTILINE), f"--help does not list {name}"


def test_the_configuration_reference_documents_every_setting() -> None:
    page = CONFIGURATION_PAGE.read_text()
    for name in names_read_by(config, rules):
        assert f"`{name}`" in page, f"{CONFIGURATION_PAGE.name} does not document {name}"
