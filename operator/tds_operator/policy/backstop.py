"""The shared backstop of a contract's batch Jobs: each one's activeDeadlineSeconds ends it at the
one second the contract's budget runs out at the rate of every GPU its batch Jobs hold.

The operator stops its jobs itself at that second; the deadlines are what stops them while no
operator leads. So every running batch Job of the contract must carry the same second, moved for
all of them whenever one starts or ends: a sibling left with the second computed before another
job started would run past the budget through a leader gap.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from tds_operator.api.resources import LiveObject
from tds_operator.api.trainingjob import TrainingJobSpec
from tds_operator.policy.enforcement import batch_start
from tds_operator.policy.metering import LiveBudget, remaining_seconds

Batch = TypeVar("Batch", bound=LiveObject)


def holds_gpus(batch: LiveObject) -> bool:
    """Whether a batch Job holds (or is about to hold) its GPUs: not being deleted, not
    suspended (a Kueue queue holds it back), not finished."""
    if (batch.get("metadata") or {}).get("deletionTimestamp"):
        return False
    spec = batch.get("spec") or {}
    if spec.get("suspend"):
        return False
    return not any(
        condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed")
        for condition in (batch.get("status") or {}).get("conditions") or []
    )


def batch_gpus(batch: LiveObject, resource: str) -> int:
    """The GPUs a batch Job's pods request together: parallelism x each pod's `resource`."""
    spec = batch.get("spec") or {}
    pod = ((spec.get("template") or {}).get("spec")) or {}
    per_pod = sum(
        int(((container.get("resources") or {}).get("limits") or {}).get(resource, 0) or 0)
        for container in pod.get("containers") or []
    )
    return int(spec.get("parallelism", 1) or 0) * per_pod


def gpus_held(batches: Iterable[LiveObject], resource: str, budget: LiveBudget) -> int:
    """The rate the contract's budget runs out at: the GPUs of its batch Jobs that hold them
    (their pods are running or about to), never fewer than its running workers hold."""
    held = sum(batch_gpus(batch, resource) for batch in batches if holds_gpus(batch))
    return max(held, budget.gpus_running)


def shared_deadlines(
    held: Sequence[tuple[TrainingJobSpec, Batch]],
    gpus: int,
    budget: LiveBudget,
    not_after: datetime,
    now: datetime,
) -> list[tuple[Batch, int]]:
    """Each running batch Job (with its TrainingJob's spec) and the activeDeadlineSeconds that
    ends it at the shared second: the contract's budget left at `now` used up at `gpus`, or
    sooner at `not_after` or its own maxDurationSeconds. A batch Job the Job controller has not
    started yet counts from `now` (its start is no earlier)."""
    return [
        (batch, remaining_seconds(spec, budget.gpu_seconds_left, gpus, not_after, started, now))
        for spec, batch in held
        if holds_gpus(batch)
        for started in [batch_start(batch) or now]
    ]


def deadline_of(batch: LiveObject) -> datetime | None:
    """The instant a batch Job's deadline ends it (its start plus activeDeadlineSeconds), while it
    holds GPUs; None before it started, or once it no longer holds them (a batch Job that ended,
    even at its deadline, stays behind its finished TrainingJob: its report is not urgent)."""
    started = batch_start(batch)
    seconds = (batch.get("spec") or {}).get("activeDeadlineSeconds")
    if started is None or seconds is None or not holds_gpus(batch):
        return None
    return started + timedelta(seconds=int(seconds))
