"""Every running batch Job of a contract ends at one shared second: the second its budget runs
out at the GPUs all its batch Jobs hold, so that no sibling outlives the budget in a leader gap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tds_operator.api.trainingjob import TrainingJobSpec
from tds_operator.policy.backstop import (
    batch_gpus,
    deadline_of,
    gpus_held,
    holds_gpus,
    shared_deadlines,
)
from tds_operator.policy.metering import LiveBudget

pytestmark = pytest.mark.unit

NOW = datetime(2027, 1, 1, 12, 0, 0, tzinfo=UTC)
GPU = "nvidia.com/gpu"


def batch(
    gpus: int = 2, workers: int = 1, started: datetime | None = NOW, **status: Any
) -> dict[str, Any]:
    container = {"name": "worker", "resources": {"limits": {GPU: str(gpus)}}}
    return {
        "metadata": {"name": "j"},
        "spec": {"parallelism": workers, "template": {"spec": {"containers": [container]}}},
        "status": {**({"startTime": started.isoformat()} if started else {}), **status},
    }


def spec(max_duration: int = 3600) -> TrainingJobSpec:
    return TrainingJobSpec.model_validate(
        {"contract": "c1", "image": "x", "gpusPerWorker": 2, "maxDurationSeconds": max_duration}
    )


def test_a_batch_job_holds_its_pods_gpus_until_it_finishes_is_deleted_or_suspended() -> None:
    assert batch_gpus(batch(gpus=2, workers=3), GPU) == 6
    assert holds_gpus(batch())
    done = {"conditions": [{"type": "Complete", "status": "True"}]}
    assert not holds_gpus(batch(**done))
    deleting = batch()
    deleting["metadata"]["deletionTimestamp"] = NOW.isoformat()
    assert not holds_gpus(deleting)
    suspended = batch()
    suspended["spec"]["suspend"] = True
    assert not holds_gpus(suspended)
    budget = LiveBudget(gpu_seconds_left=100, gpus_running=2)
    assert gpus_held([batch(), batch(), batch(**done)], GPU, budget) == 4
    # Never fewer than the running workers hold (a batch Job deleted while its pods run on).
    assert gpus_held([], GPU, budget) == 2


def test_siblings_started_at_different_seconds_all_end_at_the_same_second() -> None:
    # 180 GPU-seconds left at NOW, three 2-GPU jobs: the budget runs out 30 s from now.
    first = batch(started=NOW - timedelta(seconds=40))
    second = batch(started=NOW - timedelta(seconds=7))
    third = batch(started=None)  # the Job controller has not started it yet
    budget = LiveBudget(gpu_seconds_left=180, gpus_running=4)
    held = [(spec(), first), (spec(), second), (spec(), third)]
    deadlines = shared_deadlines(held, 6, budget, NOW + timedelta(hours=1), NOW)
    assert [seconds for _, seconds in deadlines] == [70, 37, 30]


def test_the_shared_second_never_passes_the_contracts_end_or_a_jobs_own_limit() -> None:
    budget = LiveBudget(gpu_seconds_left=1000, gpus_running=2)
    held = [(spec(), batch()), (spec(max_duration=60), batch())]
    deadlines = shared_deadlines(held, 4, budget, NOW + timedelta(seconds=90), NOW)
    assert [seconds for _, seconds in deadlines] == [90, 60]
    finished = batch(conditions=[{"type": "Failed", "status": "True"}])
    assert shared_deadlines([(spec(), finished)], 2, budget, NOW, NOW) == []


def test_a_batch_jobs_deadline_is_its_start_plus_its_seconds_while_it_holds_gpus() -> None:
    running = batch(started=NOW)
    running["spec"]["activeDeadlineSeconds"] = 30
    assert deadline_of(running) == NOW + timedelta(seconds=30)
    assert deadline_of(batch(started=NOW)) is None  # no deadline written
    unstarted = batch(started=None)
    unstarted["spec"]["activeDeadlineSeconds"] = 30
    assert deadline_of(unstarted) is None
    # Ended, even at its deadline: it stays behind its finished TrainingJob, whose every
    # reconcile (at each takeover) would otherwise go in the urgent lane.
    for ended in ("Complete", "Failed"):
        done = batch(started=NOW, conditions=[{"type": ended, "status": "True"}])
        done["spec"]["activeDeadlineSeconds"] = 30
        assert deadline_of(done) is None
