"""A new leader's queues: objects with work left go ahead of what its watches queued while it
stood by, so that a takeover does not make a new contract wait behind every finished job."""

from __future__ import annotations

import asyncio

import pytest

from tds_operator.handlers.queue import ReconcileQueue
from tds_operator.handlers.watches import settled

pytestmark = pytest.mark.unit


async def test_keys_put_first_run_before_those_the_standby_queued() -> None:
    calls: list[str] = []

    async def reconcile(key: str) -> None:
        calls.append(key)

    queue = ReconcileQueue("Test", reconcile, workers=1)
    for key in ("done-1", "done-2", "live-1", "done-3"):
        queue.enqueue(key)  # what the watches queued while the replica stood by
    queue.put_first(["live-1", "live-2", "live-1"])
    queue.enqueue("done-2")  # already waiting: once only
    queue.start()
    try:
        await asyncio.sleep(0.05)
    finally:
        await queue.stop()
    assert calls == ["live-1", "live-2", "done-1", "done-2", "done-3"]


def test_only_finished_jobs_ended_contracts_and_ready_spaces_are_settled() -> None:
    def body(phase: str | None, deleting: bool = False) -> dict[str, object]:
        metadata = {
            "name": "x",
            **({"deletionTimestamp": "2027-01-01T00:00:00Z"} if deleting else {}),
        }
        return {"metadata": metadata, "status": {"phase": phase} if phase else {}}

    assert settled("TrainingJob", body("Succeeded"))
    assert settled("TrainingJob", body("Stopped"))
    assert not settled("TrainingJob", body("Running"))
    assert not settled("TrainingJob", body("Queued"))
    assert not settled("TrainingJob", body("Succeeded", deleting=True))
    assert settled("DataContract", body("Revoked"))
    assert settled("DataContract", body("Exhausted"))
    assert not settled("DataContract", body("Proposed"))
    assert not settled("DataContract", body("Active"))
    assert not settled("DataContract", body(None))
    assert settled("DataSpace", body("Ready"))
    assert not settled("DataSpace", body("Pending"))
    assert not settled("ModelRelease", body("Released"))
