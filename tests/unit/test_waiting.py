"""The tests' polling helper: what it returns, and what a timeout says it saw."""

from __future__ import annotations

import ast
import itertools

import pytest

from bench.hubkit.waiting import wait_for

pytestmark = pytest.mark.unit


def test_wait_for_returns_the_first_value_done() -> None:
    values = iter([None, "Queued", "Running", "Succeeded"])
    found = wait_for(
        lambda: next(values), lambda v: v == "Running", timeout=5, what="Running", interval=0
    )
    assert found == "Running"


def test_a_timeout_names_each_different_value_seen_in_order() -> None:
    first = [None, None, "Queued", "Queued", "Admitted"]
    values = itertools.chain(first, itertools.repeat("Running"))
    with pytest.raises(AssertionError) as raised:
        wait_for(
            lambda: next(values),
            lambda v: v == "Succeeded",
            timeout=0.05,
            what="TrainingJob j Succeeded",
            interval=0.001,
        )
    head, seen = str(raised.value).split("; seen: ", 1)
    assert head == "timed out after 0.05s waiting for TrainingJob j Succeeded"
    assert [view for _, view in ast.literal_eval(seen)] == [None, "Queued", "Admitted", "Running"]
