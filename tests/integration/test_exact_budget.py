"""A contract's GPU budget is hard: several jobs of one contract stop together the second their
pods' metered usage reaches it, so the contract never meters more than its budget plus one
second of the GPUs its jobs hold, and each job's figure is its own pod's run time."""

from __future__ import annotations

import math
import os
import signal
from datetime import datetime

import pytest

from bench.hubkit.hub import owner_of, unique
from bench.hubkit.manifests import condition, training_job_body
from bench.hubkit.processes import OperatorProcess
from bench.hubkit.training import Deal, Story
from bench.hubkit.waiting import wait_until

pytestmark = pytest.mark.integration

GPUS_PER_JOB = 2
JOBS = 2
# 0.02 GPU-hours are 72 GPU-seconds: two 2-GPU jobs use them up in about 18 s of their 120.
BUDGET_GPU_HOURS = 0.02
BUDGET_GPU_SECONDS = 72


def started_at(story: Story, deal: Deal, job: str) -> datetime:
    (worker,) = story.pods(deal.contract, job)
    started = worker.status.container_statuses[0].state.running.started_at
    assert isinstance(started, datetime)
    return started


def budget_reached(starts: list[datetime]) -> float:
    """The whole second (as a POSIX time) at which the jobs' metered usage reaches the budget:
    the first T with sum of (T - start) x GPUs >= budget."""
    gpus = GPUS_PER_JOB * len(starts)
    offset = sum(s.timestamp() for s in starts) * GPUS_PER_JOB
    return float(math.ceil((BUDGET_GPU_SECONDS + offset) / gpus))


def test_jobs_of_one_contract_stop_at_its_budget_to_the_second(story: Story) -> None:
    deal = story.deal(compute={"maxGpuHours": BUDGET_GPU_HOURS, "maxConcurrentGpus": 8})
    bodies = [
        training_job_body(
            unique("j"), deal.namespace, deal.contract, gpus_per_worker=GPUS_PER_JOB, run_for="120s"
        )
        for _ in range(JOBS)
    ]
    names = [story.submit(owner_of(deal.consumer), body) for body in bodies]
    uids = {
        n: story.wait_job(deal.namespace, n, "Running", timeout=30)["metadata"]["uid"]
        for n in names
    }
    starts = {name: started_at(story, deal, name) for name in names}
    stopped = {
        name: story.wait_job(deal.namespace, name, "Stopped", "Failed", "Succeeded", timeout=60)
        for name in names
    }
    reached = budget_reached(list(starts.values()))
    ledger = story.ledger(deal.contract)
    metered: dict[str, int] = {}
    for name, body in stopped.items():
        assert body["status"]["phase"] == "Stopped", body["status"]
        finished = condition(body, "Finished")
        assert finished is not None
        assert finished["reason"] == "GpuBudgetExhausted", finished
        used = int(body["status"]["gpuSeconds"])
        metered[name] = used
        # The job's figure is its own pod's run time x its GPUs: from its start to the second it
        # was stopped, which is the second the budget was reached (or the next, if the stop
        # itself straddled a second), and no later than the ledger's record of the stop.
        end = starts[name].timestamp() + used / GPUS_PER_JOB
        stop = next(
            e for e in ledger if e["kind"] == "JobStopped" and e["details"]["uid"] == uids[name]
        )
        assert reached <= end <= reached + 1, (name, used, end - reached)
        assert end <= datetime.fromisoformat(stop["at"]).timestamp()
        assert stop["details"]["reason"] == "GpuBudgetExhausted"
    total = sum(metered.values())
    held = GPUS_PER_JOB * JOBS
    print(
        f"\nexact budget: {BUDGET_GPU_SECONDS} GPU-s allowed, {total} metered by {JOBS} jobs "
        f"holding {held} GPUs (overrun {total - BUDGET_GPU_SECONDS}, bound {held})"
    )
    assert BUDGET_GPU_SECONDS <= total <= BUDGET_GPU_SECONDS + held
    story.wait_contract(deal.contract, "Exhausted")
    # The contract turns Exhausted as soon as its usage reaches the budget; the jobs' last
    # seconds (at most one per GPU held) reach its usage on the following reconcile.
    wait_until(
        lambda: (
            story.contract(deal.contract)["status"]["usage"]["gpuHours"] == round(total / 3600, 6)
        ),
        timeout=20,
        what="the contract's usage equal to its jobs' metered GPU-seconds",
    )
    recorded = [e for e in ledger if e["kind"] == "UsageMetered"]
    assert sum(int(e["details"]["increment"]) for e in recorded) == total


def test_the_batch_jobs_deadline_stops_the_job_at_its_budget_while_no_operator_runs(
    story: Story, operator: OperatorProcess
) -> None:
    # 0.01 GPU-hours are 36 GPU-seconds: 18 s on one 2-GPU worker.
    deal = story.deal(compute={"maxGpuHours": 0.01, "maxConcurrentGpus": 8})
    name = story.submit(
        owner_of(deal.consumer),
        training_job_body(
            unique("j"), deal.namespace, deal.contract, gpus_per_worker=GPUS_PER_JOB, run_for="120s"
        ),
    )
    story.wait_job(deal.namespace, name, "Running", timeout=30)
    start = started_at(story, deal, name).timestamp()
    assert operator.process is not None
    # A leader gap at the budget's second: the operator is frozen (as a dead leader is, until a
    # standby takes over) from well before the budget runs out until well after.
    os.kill(operator.process.pid, signal.SIGSTOP)
    try:
        worker = story.terminated_worker(
            deal.contract, name, f"{name}'s worker stopped by its batch Job's deadline"
        )
    finally:
        os.kill(operator.process.pid, signal.SIGCONT)
    finished = worker.status.container_statuses[0].state.terminated.finished_at.timestamp()
    # Kubernetes stopped the worker itself at the second the budget was reached, or the next.
    assert 36 <= (finished - start) * GPUS_PER_JOB <= 36 + 2 * GPUS_PER_JOB, finished - start
    stopped = story.wait_job(deal.namespace, name, "Stopped", "Failed", "Succeeded", timeout=30)
    assert stopped["status"]["phase"] == "Stopped", stopped["status"]
    assert (condition(stopped, "Finished") or {}).get("reason") == "GpuBudgetExhausted"
    used = int(stopped["status"]["gpuSeconds"])
    # The contract never meters more than its budget plus one second of the GPUs it holds.
    assert 36 <= used <= 36 + GPUS_PER_JOB, used
    story.wait_contract(deal.contract, "Exhausted")


def test_a_jobs_start_moves_its_running_siblings_deadline_to_the_shared_second(
    story: Story, operator: OperatorProcess
) -> None:
    # 0.03 GPU-hours are 108 GPU-seconds: 54 s for the first 2-GPU job alone; once a second one
    # starts, both together use the rest up at 4 GPUs. A leader gap follows the second start at
    # once and lasts past the budget's second: only the batch Jobs' deadlines can stop them.
    budget = 108
    deal = story.deal(compute={"maxGpuHours": 0.03, "maxConcurrentGpus": 8})

    def submit() -> str:
        body = training_job_body(
            unique("j"), deal.namespace, deal.contract, gpus_per_worker=GPUS_PER_JOB, run_for="300s"
        )
        return story.submit(owner_of(deal.consumer), body)

    first = submit()
    story.wait_job(deal.namespace, first, "Running", timeout=30)
    first_start = started_at(story, deal, first).timestamp()
    alone = story.batch_job(deal.contract, first)
    assert alone is not None
    second = submit()
    # The second job has started as soon as its status names its batch Job: freeze then.
    wait_until(
        lambda: (story.job(deal.namespace, second) or {}).get("status", {}).get("job"),
        timeout=30,
        interval=0.05,
        what=f"{second}'s batch Job",
    )
    assert operator.process is not None
    os.kill(operator.process.pid, signal.SIGSTOP)
    try:
        deadlines = {
            name: (story.batch_job(deal.contract, name) or alone).spec.active_deadline_seconds
            for name in (first, second)
        }
        ends = {}
        for name in (first, second):
            (worker,) = wait_until(
                lambda name=name: [
                    pod
                    for pod in story.pods(deal.contract, name)
                    if pod.status.container_statuses
                    and pod.status.container_statuses[0].state.terminated is not None
                ],
                timeout=90,
                what=f"{name}'s worker stopped by its batch Job's deadline",
            )
            state = worker.status.container_statuses[0].state.terminated
            ends[name] = (state.started_at.timestamp(), state.finished_at.timestamp())
    finally:
        os.kill(operator.process.pid, signal.SIGCONT)
    # The first job's deadline no longer lets it run its 54 s alone: it was moved to the second
    # both jobs' GPUs use the budget up, which ends the second one too (to the second).
    assert deadlines[first] < alone.spec.active_deadline_seconds, (deadlines, alone.spec)
    assert abs(ends[first][1] - ends[second][1]) <= 1, ends
    metered = sum((end - start) * GPUS_PER_JOB for start, end in ends.values())
    print(
        f"\nshared deadline: {budget} GPU-s allowed, {metered:.0f} run by 2 jobs through a leader "
        f"gap (first alone for {ends[second][0] - first_start:.0f} s; deadlines {deadlines})"
    )
    # Never more than the budget plus one second of the GPUs held; the second job's GPUs count
    # from its start, a moment before its worker ran, so a few GPU-seconds may stay unused.
    assert budget - 4 * GPUS_PER_JOB <= metered <= budget + 2 * GPUS_PER_JOB, metered
    reported = [
        story.wait_job(deal.namespace, name, "Stopped", "Failed", "Succeeded", timeout=30)
        for name in (first, second)
    ]
    for stopped in reported:
        assert stopped["status"]["phase"] == "Stopped", stopped["status"]
        assert (condition(stopped, "Finished") or {}).get("reason") == "GpuBudgetExhausted"
    assert sum(int(body["status"]["gpuSeconds"]) for body in reported) <= budget + 2 * GPUS_PER_JOB
