"""A running job's metering pass writes its GPU-seconds every pass: the event of that write is
not news (the next pass comes on its own schedule), while any other change of the job is; the
contract hears of every change, of the metering passes' once for all of them within 10 s."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tds_operator.handlers.children import OwnWrites
from tds_operator.handlers.watches import USAGE_REPORT_SECONDS, training_job_changed

pytestmark = pytest.mark.unit


class Memo:
    """What the handler uses of the operator: its record of metering writes and its queues."""

    def __init__(self) -> None:
        self.metering_writes = OwnWrites()
        self.queued: list[tuple[str, str]] = []
        self.new: list[str] = []
        self.delays: dict[str, float] = {}

    def enqueue(self, kind: str, key: str, delay: float = 0.0, *, new: bool = False) -> None:
        self.queued.append((kind, key))
        self.delays[kind] = delay
        if new:
            self.new.append(key)


def job(version: str) -> dict[str, Any]:
    return {
        "apiVersion": "tds.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": "j", "namespace": "tds-a", "resourceVersion": version},
        "spec": {"contract": "c"},
    }


def deliver(memo: Memo, body: dict[str, Any], kind: str = "MODIFIED") -> list[str]:
    memo.queued.clear()
    event = {"type": kind, "object": body}
    asyncio.run(
        training_job_changed(name="j", namespace="tds-a", body=body, event=event, memo=memo)  # type: ignore[arg-type]
    )
    return [queued_kind for queued_kind, _ in memo.queued]


def test_a_metering_writes_event_reconciles_only_the_contract() -> None:
    memo = Memo()
    memo.metering_writes.wrote(job("7"))
    assert deliver(memo, job("7")) == ["DataContract"]
    # Once for the passes of all its jobs meanwhile: a reconcile is not brought forward by more.
    assert memo.delays["DataContract"] == USAGE_REPORT_SECONDS


def test_any_other_change_reconciles_the_job() -> None:
    memo = Memo()
    memo.metering_writes.wrote(job("7"))
    assert deliver(memo, job("8")) == ["TrainingJob", "DataContract"]
    assert memo.delays["DataContract"] == 0
    assert deliver(memo, job("6")) == ["TrainingJob", "DataContract"]


def test_a_deleted_job_is_forgotten() -> None:
    memo = Memo()
    memo.metering_writes.wrote(job("7"))
    assert deliver(memo, job("7"), "DELETED") == ["TrainingJob", "DataContract"]


def test_a_job_nothing_was_decided_on_goes_ahead_of_routine_work() -> None:
    memo = Memo()
    deliver(memo, job("1"), "ADDED")
    assert memo.new == ["tds-a/j"]
    memo.new.clear()
    assert deliver(memo, {**job("2"), "status": {"phase": "Admitted"}}) == [
        "TrainingJob",
        "DataContract",
    ]
    assert memo.new == []
