"""Metering while a TrainingJob runs: GPU-seconds from the worker pods' run windows, when to
meter next and when to record usage, the budget left and when it ends. Pure."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from tds_operator.api.datacontract import GPU_BUDGET_EXHAUSTED
from tds_operator.api.resources import LiveObject
from tds_operator.api.rfc3339 import parse
from tds_operator.api.trainingjob import FINISHED_PHASES, TrainingJobSpec
from tds_operator.policy.decision import Decision

METERING_INTERVAL_SECONDS: Final = 2.0
"""While workers run, usage is metered this often; it is what budget enforcement sees."""
LEDGER_CHECKPOINT_GPU_SECONDS: Final = 3600
"""Usage is recorded in the ledger when it grew by this many GPU-seconds, and when a job ends."""


def running_workers(pods: Iterable[LiveObject]) -> int:
    """How many worker pods are Running."""
    return sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Running")


def remaining_seconds(
    job: TrainingJobSpec,
    gpu_seconds_left: float,
    gpus: int,
    not_after: datetime,
    started: datetime,
    now: datetime,
) -> int:
    """The batch Job's activeDeadlineSeconds, counted from `started` (its start, whole seconds):
    maxDurationSeconds, or less if the contract's validity or its budget runs out first.

    It is the backstop that stops the workers when the operator cannot (down, a leader gap, or
    cut off from the API server): it never reaches past `not_after`, so no worker reads data
    after the contract has ended, and it ends at the very second the operator's own metering
    sees the budget reached (see `next_metering`): the contract's `gpu_seconds_left` used at the
    rate of the `gpus` its jobs hold, this one included. The operator sets it as the job starts
    and again whenever that second moves (a sibling starts or ends).
    """
    start = math.floor(started.timestamp())
    budget_end = math.floor(now.timestamp()) + math.ceil(max(0.0, gpu_seconds_left) / max(1, gpus))
    validity_end = math.floor(not_after.timestamp())
    return max(1, min(job.max_duration_seconds, validity_end - start, budget_end - start))


def seconds_to_budget_end(
    gpu_seconds_left: float, gpus_running: int, now: datetime
) -> float | None:
    """Seconds from `now` to the whole second at which the metered usage (see `gpu_seconds`)
    reaches the budget at the current rate; None while nothing uses it up."""
    if gpus_running <= 0 or gpu_seconds_left <= 0:
        return None
    at = math.floor(now.timestamp()) + math.ceil(gpu_seconds_left / gpus_running)
    return max(0.0, at - now.timestamp())


def next_metering(
    gpu_seconds_left: float, gpus_running: int, now: datetime, interval: float, lead: float = 0.0
) -> float:
    """Seconds until usage is next metered: every `interval`, and `lead` seconds before the
    whole second at which the metered usage reaches the budget at the current rate (to
    prepare the stop at that second)."""
    due = seconds_to_budget_end(gpu_seconds_left, gpus_running, now)
    if due is None:
        return interval  # nothing runs out; a used-up budget ends the contract, which wakes us
    return min(interval, max(0.0, due - lead))


def pod_run_window(pod: Mapping[str, Any], now: datetime) -> tuple[datetime, datetime] | None:
    """When a worker pod's container ran: start to finish, or to `now` (whole seconds) while it
    runs."""
    status = pod.get("status") or {}
    # Pod times have whole seconds; counting a running worker to a whole second too keeps each
    # estimate at or below the final figure, so taking the largest never overcounts.
    now = now.replace(microsecond=0)
    starts: list[datetime] = []
    ends: list[datetime] = []
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        if "running" in state:
            start = parse(state["running"].get("startedAt"))
            if start:
                starts.append(start)
                ends.append(now)
        elif "terminated" in state:
            start = parse(state["terminated"].get("startedAt"))
            end = parse(state["terminated"].get("finishedAt"))
            if start and end:
                starts.append(start)
                ends.append(end)
    if not starts:
        return None
    start, end = min(starts), max(ends)
    return (start, max(start, end))


def gpu_seconds(pods: Iterable[Mapping[str, Any]], gpus_per_worker: int, now: datetime) -> int:
    """GPU-seconds the worker pods used: each pod's run time times its GPUs, rounded down."""
    total = 0.0
    for pod in pods:
        window = pod_run_window(pod, now)
        if window is not None:
            total += (window[1] - window[0]).total_seconds() * gpus_per_worker
    return int(total)


def usage_due(used: int, recorded: int, *, final: bool) -> bool:
    """Whether a job's usage is due in the ledger: it grew by a checkpoint's worth since the
    ledger last recorded it, or the job ended with more than the ledger holds."""
    if used <= recorded:
        return False
    return final or used - recorded >= LEDGER_CHECKPOINT_GPU_SECONDS


@dataclass(frozen=True)
class LiveBudget:
    """A contract's budget as its jobs' pods show it this second: GPU-seconds left (negative once
    overrun) and the GPUs its running workers hold, which use it up at that rate."""

    gpu_seconds_left: float
    gpus_running: int

    @property
    def used_up(self) -> bool:
        return self.gpu_seconds_left <= 0.0


def live_budget(
    budget_gpu_seconds: float,
    recorded: Mapping[str, int],
    jobs: Iterable[tuple[LiveObject, Sequence[LiveObject]]],
    now: datetime,
) -> LiveBudget:
    """The contract's budget left from all its jobs' live metering, not its last written usage.

    `recorded` is the ledger's GPU-seconds by job uid (it keeps deleted jobs' usage); `jobs` are
    the contract's live TrainingJobs, each with its own worker pods. An unfinished job counts
    what its pods ran to `now` (see `gpu_seconds`), a finished one its final status; each job
    counts with the largest figure known, as the contract's usage does.
    """
    used = dict(recorded)
    gpus_running = 0
    for job, own in jobs:
        metadata, status = job["metadata"], job.get("status") or {}
        uid = str(metadata.get("uid", ""))
        figure = int(status.get("gpuSeconds") or 0)
        if status.get("phase") not in FINISHED_PHASES:
            per_worker = int((job.get("spec") or {}).get("gpusPerWorker", 1))
            figure = max(figure, gpu_seconds(own, per_worker, now))
            gpus_running += running_workers(own) * per_worker
        used[uid] = max(used.get(uid, 0), figure)
    # Rounded as the contract's usage is (to the micro-GPU-hour), so both agree on "used up".
    left = round(budget_gpu_seconds - sum(used.values()), 3)
    return LiveBudget(left, gpus_running)


def budget_exhausted(budget_gpu_seconds: float, live: LiveBudget) -> Decision:
    """Why a job stops once its contract's jobs have metered the whole budget."""
    used = round(budget_gpu_seconds - live.gpu_seconds_left)
    return Decision.deny(
        GPU_BUDGET_EXHAUSTED,
        f"the contract's jobs metered {used} of its {budget_gpu_seconds:g} GPU-seconds "
        "(spec.compute.maxGpuHours)",
    )
