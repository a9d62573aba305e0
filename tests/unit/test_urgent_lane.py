"""Work that stops jobs goes ahead of routine work: a revocation, an expiry or an exhausted
budget is acted on before the metering passes and status writes queued ahead of it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tds_operator.handlers.queue import ReconcileQueue
from tds_operator.kube import URGENT_REQUESTS
from tds_operator.policy.contract import ends_now, validity_passed

pytestmark = pytest.mark.unit

NOW = datetime(2027, 1, 1, tzinfo=UTC)


async def run_all(queue: ReconcileQueue) -> None:
    queue.start()
    try:
        await asyncio.sleep(0.05)
    finally:
        await queue.stop()


async def test_an_urgent_key_runs_before_every_routine_key_queued_ahead_of_it() -> None:
    calls: list[str] = []

    async def reconcile(key: str) -> None:
        calls.append(key)

    queue = ReconcileQueue("Test", reconcile, workers=1)
    for key in ("meter-1", "meter-2", "meter-3"):
        queue.enqueue(key)
    queue.enqueue("stop-1", urgent=True)
    queue.enqueue("meter-2", urgent=True)  # waiting as routine: it moves up, once
    queue.put_first(["resync-1"])  # a new leader's work left: ahead of routine, not of stops
    await run_all(queue)
    assert calls == ["stop-1", "meter-2", "resync-1", "meter-1", "meter-3"]


async def test_a_new_job_is_admitted_ahead_of_routine_work_and_after_the_stops() -> None:
    calls: list[str] = []

    async def reconcile(key: str) -> None:
        calls.append(key)

    queue = ReconcileQueue("Test", reconcile, workers=1)
    for key in ("meter-1", "meter-2"):
        queue.enqueue(key)
    queue.enqueue("new-1", new=True)
    queue.enqueue("new-2", new=True)  # new keys in the order they came
    queue.enqueue("meter-2", new=True)  # waiting as routine: it moves up
    queue.enqueue("new-1", urgent=True)  # waiting as new: it moves up to the stops
    queue.enqueue("stop-1", urgent=True)
    assert queue.waiting == (["new-1", "stop-1"], ["new-2", "meter-2", "meter-1"])
    await run_all(queue)
    assert calls == ["new-1", "stop-1", "new-2", "meter-2", "meter-1"]


async def test_an_urgent_reconciles_api_requests_are_urgent_and_a_routine_ones_are_not() -> None:
    seen: dict[str, bool] = {}

    async def reconcile(key: str) -> None:
        seen[key] = URGENT_REQUESTS.get()

    queue = ReconcileQueue("Test", reconcile, workers=1)
    queue.enqueue("meter")
    queue.enqueue("stop", urgent=True)
    await run_all(queue)
    assert seen == {"stop": True, "meter": False}
    assert URGENT_REQUESTS.get() is False


async def test_the_queues_predicate_makes_a_key_urgent_when_it_becomes_ready() -> None:
    calls: list[str] = []
    ending = {"expired"}

    async def reconcile(key: str) -> None:
        calls.append(key)

    queue = ReconcileQueue("Test", reconcile, workers=1, urgent=ending.__contains__)
    queue.enqueue("active-1")
    queue.enqueue("active-2")
    queue.put_first(["active-3", "expired"])
    await run_all(queue)
    assert calls == ["expired", "active-3", "active-1", "active-2"]


async def test_a_key_that_turns_urgent_while_it_runs_reruns_ahead_of_routine_work() -> None:
    calls: list[str] = []
    release = asyncio.Event()

    async def reconcile(key: str) -> None:
        calls.append(key)
        if key == "job" and calls.count("job") == 1:
            await release.wait()

    queue = ReconcileQueue("Test", reconcile, workers=1)
    queue.start()
    try:
        queue.enqueue("job")
        await asyncio.sleep(0.01)
        queue.enqueue("meter-1")
        queue.enqueue("job", urgent=True)  # its contract was revoked while it ran
        release.set()
        await asyncio.sleep(0.05)
    finally:
        await queue.stop()
    assert calls == ["job", "job", "meter-1"]


async def test_a_running_pass_sees_a_stop_come_for_its_key_and_only_for_its_key() -> None:
    seen: dict[str, bool] = {}
    release = asyncio.Event()
    queue: ReconcileQueue

    async def reconcile(key: str) -> None:
        if key not in seen:
            await release.wait()
            seen[key] = queue.urgent_waiting(key)

    queue = ReconcileQueue("Test", reconcile, workers=2)
    queue.start()
    try:
        queue.enqueue("job")
        queue.enqueue("sibling")
        await asyncio.sleep(0.01)
        queue.enqueue("job", urgent=True)  # its contract was revoked during the pass
        queue.enqueue("sibling")  # a routine event: no reason to give way
        release.set()
        await asyncio.sleep(0.05)
    finally:
        await queue.stop()
    assert seen == {"job": True, "sibling": False}
    assert not queue.urgent_waiting("job")  # its urgent rerun took it


def contract(**fields: object) -> dict[str, object]:
    status = fields.pop("status", {"phase": "Active", "usage": {"gpuHours": 0.01}})
    spec = {
        "validity": {"notAfter": (NOW + timedelta(hours=1)).isoformat()},
        "compute": {"maxGpuHours": 0.05},
        **fields,
    }
    return {"metadata": {"name": "c1"}, "spec": spec, "status": status}


def test_a_contract_ends_now_when_revoked_expired_or_at_its_budget_and_not_ended_yet() -> None:
    assert not ends_now(contract(), NOW)
    assert not ends_now(None, NOW)
    assert ends_now(contract(revoked=True), NOW)
    assert ends_now(contract(validity={"notAfter": NOW.isoformat()}), NOW)
    assert ends_now(contract(status={"phase": "Active", "usage": {"gpuHours": 0.05}}), NOW)
    # Ended already: its reconcile is routine (its jobs are stopped through their own lane).
    assert not ends_now(contract(revoked=True, status={"phase": "Revoked"}), NOW)


def test_a_contracts_jobs_stop_at_its_not_after_before_it_turns_expired() -> None:
    assert validity_passed(contract(), NOW) is None
    assert validity_passed(None, NOW) is None
    ended = validity_passed(contract(validity={"notAfter": NOW.isoformat()}), NOW)
    assert ended is not None
    assert not ended.allowed
    assert ended.reason == "ValidityEnded"
    assert "spec.validity.notAfter" in ended.message
