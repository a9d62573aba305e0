"""Fixtures and settings shared by every test tier."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from bench.hubkit.processes import log_sizes, problems_since

# The machines are small and shared: property tests judge correctness, never speed, so neither
# a slow example nor slow input generation may fail them.
settings.register_profile("project", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("project")


# A failed test's report carries what the operator processes warned of meanwhile: CI keeps the
# end of its output, not the operators' logs.
OPERATOR_LOG_SIZES = pytest.StashKey[dict[Path, int]]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[OPERATOR_LOG_SIZES] = log_sizes()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    lines = problems_since(item.stash.get(OPERATOR_LOG_SIZES, {}))
    if lines:
        text = "\n".join(f"operator| {line}" for line in lines)
        report.sections.append(("the operator's warnings during the test", text))
