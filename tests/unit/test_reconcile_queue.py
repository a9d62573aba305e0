"""The reconcile queue coalesces events, serialises a key, retries and wakes up on time."""

from __future__ import annotations

import asyncio

import pytest

from tds_operator.handlers.queue import ReconcileQueue

pytestmark = pytest.mark.unit


async def test_a_burst_of_events_for_one_key_is_coalesced() -> None:
    calls: list[str] = []
    release = asyncio.Event()

    async def reconcile(key: str) -> None:
        calls.append(key)
        await release.wait()

    queue = ReconcileQueue("Test", reconcile, workers=2)
    queue.start()
    try:
        queue.enqueue("a")
        await asyncio.sleep(0.01)  # "a" is now running
        for _ in range(10):
            queue.enqueue("a")  # changes while running: exactly one more run afterwards
        release.set()
        await asyncio.sleep(0.05)
        assert calls == ["a", "a"]
    finally:
        await queue.stop()


async def test_one_key_never_runs_twice_at_once() -> None:
    active = 0
    peak = 0

    async def reconcile(key: str) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1

    queue = ReconcileQueue("Test", reconcile, workers=4)
    queue.start()
    try:
        for _ in range(20):
            queue.enqueue("same")
            await asyncio.sleep(0.002)
        await asyncio.sleep(0.1)
        assert peak == 1
    finally:
        await queue.stop()


async def test_a_failing_reconcile_is_retried_until_it_succeeds() -> None:
    attempts = 0

    async def reconcile(key: str) -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise RuntimeError("API not reachable")

    queue = ReconcileQueue("Test", reconcile)
    queue.start()
    try:
        queue.enqueue("k")
        await asyncio.sleep(2.0)  # backoffs of 0.5 s and 1 s
        assert attempts == 3
    finally:
        await queue.stop()


async def test_a_requested_wake_up_runs_at_that_instant() -> None:
    loop = asyncio.get_running_loop()
    times: list[float] = []

    async def reconcile(key: str) -> float | None:
        times.append(loop.time())
        return 0.3 if len(times) == 1 else None

    queue = ReconcileQueue("Test", reconcile)
    queue.start()
    try:
        queue.enqueue("k")
        await asyncio.sleep(0.6)
        assert len(times) == 2
        assert times[1] - times[0] == pytest.approx(0.3, abs=0.1)
    finally:
        await queue.stop()


async def test_the_earliest_of_two_wake_ups_wins() -> None:
    loop = asyncio.get_running_loop()
    times: list[float] = []

    async def reconcile(key: str) -> None:
        times.append(loop.time())

    queue = ReconcileQueue("Test", reconcile)
    queue.start()
    start = loop.time()
    try:
        queue.enqueue("k", delay=5.0)
        queue.enqueue("k", delay=0.1)
        await asyncio.sleep(0.3)
        assert len(times) == 1
        assert times[0] - start == pytest.approx(0.1, abs=0.1)
    finally:
        await queue.stop()
