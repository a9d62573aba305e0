"""A level-based work queue: each object is reconciled by at most one worker at a time.

kopf delivers watch events; the handlers only enqueue the affected object's key here. The queue
coalesces bursts of events into one reconcile, re-runs a reconcile whose object changed while it
ran, retries failures with per-key exponential backoff, and wakes objects up at an exact instant
(for validity windows) instead of polling.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from tds_operator.metrics import (
    QUEUE_ADDS,
    QUEUE_DEPTH,
    QUEUE_RETRIES,
    RECONCILE_DURATION,
    RECONCILE_ERRORS,
    RECONCILES,
)

logger = logging.getLogger(__name__)

# A reconcile returns the seconds after which it wants to run again (a scheduled wake-up), or None.
ReconcileFn = Callable[[str], Awaitable[float | None]]

INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 30.0


class ReconcileQueue:
    """Serialises reconciles per key; any number of keys run concurrently up to `workers`."""

    def __init__(self, kind: str, reconcile: ReconcileFn, *, workers: int = 4) -> None:
        self.kind = kind
        self._reconcile = reconcile
        self._workers = workers
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._running: set[str] = set()
        self._dirty: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._deadlines: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def enqueue(self, key: str, delay: float = 0.0) -> None:
        """Reconcile `key` now, or after `delay` seconds (the earliest pending wake-up wins)."""
        if delay > 0:
            self._schedule(key, delay)
            return
        if key in self._running:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._ready.put_nowait(key)
            QUEUE_ADDS.labels(name=self.kind).inc()
            QUEUE_DEPTH.labels(name=self.kind).set(len(self._queued))

    def put_first(self, keys: Iterable[str]) -> None:
        """Queue `keys` ahead of every key already waiting (those queued already move up): what
        a new leader does with the objects that have work left, so that they do not wait behind
        everything its watches queued while it stood by."""
        first = [key for key in dict.fromkeys(keys) if key not in self._running]
        waiting = []
        while not self._ready.empty():
            waiting.append(self._ready.get_nowait())
        chosen = set(first)
        for key in [*first, *(key for key in waiting if key not in chosen)]:
            self._ready.put_nowait(key)
            self._queued.add(key)
        QUEUE_DEPTH.labels(name=self.kind).set(len(self._queued))

    def _schedule(self, key: str, delay: float) -> None:
        deadline = time.monotonic() + delay
        if key in self._deadlines and self._deadlines[key] <= deadline:
            return
        if key in self._timers:
            self._timers.pop(key).cancel()
        self._deadlines[key] = deadline
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_at(loop.time() + delay, self._fire, key)

    def _fire(self, key: str) -> None:
        self._timers.pop(key, None)
        self._deadlines.pop(key, None)
        self.enqueue(key)

    def start(self) -> None:
        """Start the workers on the running event loop (once: a running queue is left as it is)."""
        if self._tasks:
            return
        for index in range(self._workers):
            self._tasks.append(
                asyncio.create_task(self._work(), name=f"{self.kind}-worker-{index}")
            )

    async def stop(self) -> None:
        """Stop the workers and every pending wake-up."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._deadlines.clear()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _work(self) -> None:
        while True:
            key = await self._ready.get()
            self._queued.discard(key)
            QUEUE_DEPTH.labels(name=self.kind).set(len(self._queued))
            self._running.add(key)
            try:
                await self._run_one(key)
            finally:
                self._running.discard(key)
                if key in self._dirty:
                    self._dirty.discard(key)
                    self.enqueue(key)

    async def _run_one(self, key: str) -> None:
        started = time.perf_counter()
        try:
            wake_after = await self._reconcile(key)
        except asyncio.CancelledError:
            raise
        except Exception:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            backoff = min(MAX_BACKOFF, INITIAL_BACKOFF * 2 ** (failures - 1))
            logger.exception(
                "reconcile of %s %s failed; retrying in %.1fs", self.kind, key, backoff
            )
            RECONCILES.labels(kind=self.kind, result="error").inc()
            RECONCILE_ERRORS.labels(kind=self.kind).inc()
            QUEUE_RETRIES.labels(name=self.kind).inc()
            self._schedule(key, backoff)
        else:
            self._failures.pop(key, None)
            RECONCILES.labels(kind=self.kind, result="success").inc()
            if wake_after is not None:
                self._schedule(key, max(wake_after, 0.001))
        finally:
            RECONCILE_DURATION.labels(kind=self.kind).observe(time.perf_counter() - started)
