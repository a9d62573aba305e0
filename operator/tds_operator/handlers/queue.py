"""A level-based work queue: each object is reconciled by at most one worker at a time.

kopf delivers watch events; the handlers only enqueue the affected object's key here. The queue
coalesces bursts of events into one reconcile, re-runs a reconcile whose object changed while it
ran, retries failures with per-key exponential backoff, and wakes objects up at an exact instant
(for validity windows) instead of polling.

Three lanes: work that stops jobs (a contract revoked, expired or exhausted, the jobs of a
contract that ended) goes in the urgent lane, which the workers empty before they take any other;
then the new lane: objects nothing has decided on yet (a TrainingJob just submitted, whose
submitter waits for its admission); then routine work (metering, status). A stop never waits
behind a burst of routine reconciles (a new leader's resync, or the metering passes of every
running job of the hub), nor does an admission.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable

from tds_operator.kube import URGENT_REQUESTS
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
# Whether the reconcile of a key stops jobs (asked as the key becomes ready: enqueued, woken up).
UrgencyFn = Callable[[str], bool]


def queue_key(namespace: str, name: str) -> str:
    """The key of a namespaced object in its kind's queue: `namespace/name`."""
    return f"{namespace}/{name}"


INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 30.0


class ReconcileQueue:
    """Serialises reconciles per key; any number of keys run concurrently up to `workers`."""

    def __init__(
        self,
        kind: str,
        reconcile: ReconcileFn,
        *,
        workers: int = 4,
        urgent: UrgencyFn | None = None,
    ) -> None:
        """`urgent`: whether a key's reconcile stops jobs (it then goes ahead of routine work),
        besides the keys enqueued as urgent."""
        self.kind = kind
        self._reconcile = reconcile
        self._workers = workers
        self._is_urgent = urgent
        self._urgent: deque[str] = deque()
        self._new: deque[str] = deque()
        self._routine: deque[str] = deque()
        self._available = asyncio.Semaphore(0)
        self._queued: set[str] = set()
        self._urgent_dirty: set[str] = set()
        self._urgent_since: dict[str, float] = {}
        self._running: set[str] = set()
        self._dirty: set[str] = set()
        # Keys asked for as new work while they ran (a job just admitted, to start): they run
        # again in the new lane.
        self._new_dirty: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._deadlines: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def enqueue(
        self, key: str, delay: float = 0.0, *, urgent: bool = False, new: bool = False
    ) -> None:
        """Reconcile `key` now, or after `delay` seconds (the earliest pending wake-up wins);
        `urgent`: it stops jobs, ahead of all other work; `new`: nothing was decided on it yet,
        ahead of routine work."""
        if delay > 0:
            self._schedule(key, delay)
            return
        urgent = urgent or (self._is_urgent is not None and self._is_urgent(key))
        if key in self._running:
            self._dirty.add(key)
            if urgent:
                self._urgent_dirty.add(key)
            if new:
                self._new_dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            (self._urgent if urgent else self._new if new else self._routine).append(key)
            if urgent:
                self._urgent_since[key] = time.monotonic()
            self._available.release()
            QUEUE_ADDS.labels(name=self.kind).inc()
            QUEUE_DEPTH.labels(name=self.kind).set(len(self._queued))
        elif urgent and key not in self._urgent:
            # Already waiting as other work: it moves to the urgent lane.
            (self._new if key in self._new else self._routine).remove(key)
            self._urgent.append(key)
            self._urgent_since[key] = time.monotonic()
        elif new and key in self._routine:
            self._routine.remove(key)
            self._new.append(key)

    def put_first(self, keys: Iterable[str]) -> None:
        """Queue `keys` ahead of every routine key already waiting (those queued already move
        up; urgent work stays ahead of them): what a new leader does with the objects that have
        work left, so that they do not wait behind everything its watches queued while it stood
        by."""
        first = [
            key
            for key in dict.fromkeys(keys)
            if key not in self._running and key not in self._urgent
        ]
        for key in first:
            if key in self._routine:
                self._routine.remove(key)
            elif key in self._new:
                self._new.remove(key)
            else:
                self._queued.add(key)
                self._available.release()
        urgent = {key for key in first if self._is_urgent is not None and self._is_urgent(key)}
        self._urgent.extend(key for key in first if key in urgent)
        self._urgent_since.update(dict.fromkeys(urgent, time.monotonic()))
        self._routine.extendleft(reversed([key for key in first if key not in urgent]))
        QUEUE_DEPTH.labels(name=self.kind).set(len(self._queued))

    def urgent_waiting(self, key: str) -> bool:
        """Whether `key`, while its reconcile runs, was enqueued again as urgent (it runs again
        as soon as this reconcile returns)."""
        return key in self._urgent_dirty

    @property
    def waiting(self) -> tuple[list[str], list[str]]:
        """The keys waiting, urgent then the others (new, then routine), in the order the
        workers will take them."""
        return list(self._urgent), [*self._new, *self._routine]

    def _take(self) -> str:
        for lane in (self._urgent, self._new):
            if lane:
                return lane.popleft()
        return self._routine.popleft()

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
            await self._available.acquire()
            key = self._take()
            self._queued.discard(key)
            QUEUE_DEPTH.labels(name=self.kind).set(len(self._queued))
            self._running.add(key)
            since = self._urgent_since.pop(key, None)
            try:
                await self._run_one(key, since)
            finally:
                self._running.discard(key)
                if key in self._dirty:
                    self._dirty.discard(key)
                    urgent = key in self._urgent_dirty
                    new = key in self._new_dirty
                    self._urgent_dirty.discard(key)
                    self._new_dirty.discard(key)
                    self.enqueue(key, urgent=urgent, new=new)

    async def _run_one(self, key: str, urgent_since: float | None = None) -> None:
        started = time.perf_counter()
        waited = None if urgent_since is None else time.monotonic() - urgent_since
        # An urgent reconcile's requests go ahead of routine ones waiting for a place.
        urgent = URGENT_REQUESTS.set(waited is not None)
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
            URGENT_REQUESTS.reset(urgent)
            took = time.perf_counter() - started
            RECONCILE_DURATION.labels(kind=self.kind).observe(took)
            if waited is not None:
                # A stop's lag is this wait for a worker, the reconcile, and any time nobody led.
                logger.info(
                    "urgent reconcile of %s %s: %.2fs in the queue, %.2fs to run",
                    self.kind,
                    key,
                    waited,
                    took,
                )
