"""When an output is listed, and whether it is listed at all: only once nothing may write to it,
and never under `denied`."""

from __future__ import annotations

from typing import Any

import pytest

from tds_operator.policy.outputs import lists_output

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("clause", "listed"),
    [("denied", False), ("review", True), ("allowed", True), (None, True)],
)
def test_an_output_that_can_never_leave_is_not_listed(clause: Any, listed: bool) -> None:
    assert lists_output(clause) is listed
