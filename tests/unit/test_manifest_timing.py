"""When an output is listed, and whether it is listed at all: only once nothing may write to it,
and never under `denied`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tds_operator.policy.manifest import (
    WRITERS_OVERDUE,
    WRITERS_WAIT_SECONDS,
    claim_writers,
    writers_overdue,
)
from tds_operator.policy.outputs import lists_output

pytestmark = pytest.mark.unit


def a_pod(name: str, phase: str, claim: str | None = "j-output", **metadata: Any) -> Any:
    volumes = [{"name": "output", "persistentVolumeClaim": {"claimName": claim}}] if claim else []
    return {
        "metadata": {"name": name, **metadata},
        "spec": {"volumes": [{"name": "tmp", "emptyDir": {}}, *volumes]},
        "status": {"phase": phase},
    }


def test_a_worker_still_running_holds_the_manifest_back() -> None:
    pods = [
        a_pod("j-0-abc", "Running", deletionTimestamp="2027-01-15T12:00:00Z"),
        a_pod("j-1-def", "Pending"),
        a_pod("j-2-ghi", "Succeeded"),
        a_pod("j-3-jkl", "Failed"),
        a_pod("other-0", "Running", claim="other-output"),
        a_pod("no-volume", "Running", claim=None),
        a_pod("j-manifest", "Running"),
    ]
    assert claim_writers(pods, "j-output", manifest_pod="j-manifest") == ["j-0-abc", "j-1-def"]


def test_ended_workers_let_the_manifest_start() -> None:
    pods = [
        a_pod("j-0-abc", "Succeeded"),
        a_pod("j-1-def", "Failed"),
        a_pod("j-manifest", "Pending"),
    ]
    assert claim_writers(pods, "j-output", manifest_pod="j-manifest") == []


@pytest.mark.parametrize(
    ("clause", "listed"),
    [("denied", False), ("review", True), ("allowed", True), (None, True)],
)
def test_an_output_that_can_never_leave_is_not_listed(clause: Any, listed: bool) -> None:
    assert lists_output(clause) is listed


def test_writers_that_outlive_the_jobs_end_by_the_bound_leave_the_output_unlisted() -> None:
    ended = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
    just_before = ended + timedelta(seconds=WRITERS_WAIT_SECONDS - 1)
    at_the_bound = ended + timedelta(seconds=WRITERS_WAIT_SECONDS)
    assert writers_overdue(["j-0-abc"], ended, just_before) is None
    assert writers_overdue(["j-0-abc"], ended, at_the_bound) == WRITERS_OVERDUE
    # No writer left: nothing is overdue, the step runs.
    assert writers_overdue([], ended, at_the_bound) is None
    # The message is fixed: nothing a workload chose (not even its pods' names) is in it.
    assert "j-0-abc" not in WRITERS_OVERDUE
