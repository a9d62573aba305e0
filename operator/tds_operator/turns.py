"""Turns at a shared resource: up to `capacity` holders at a time, the others served in order of
arrival, except that an urgent one goes before every one still waiting.

Appending to one contract's ledger (capacity 1): a revocation ends several jobs of a contract at
once, each recording its end, and denies its queued jobs, each recording the denial: the record
of a stop (which the job's Stopped status waits for) should not queue behind the denials that
came first. A client's requests in flight (kube/transport.py): a stop's requests go before the
routine requests waiting for a place, such as a new leader's resync.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import AsyncIterator


class Turns:
    """An asyncio semaphore (a lock by default) whose waiters are served urgent first, then first
    come, first served."""

    def __init__(self, capacity: int = 1) -> None:
        self._capacity = capacity
        self._held = 0
        self._waiting: list[tuple[bool, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    @contextlib.asynccontextmanager
    async def turn(self, *, urgent: bool = False) -> AsyncIterator[None]:
        """Hold the turn for the body of the `async with`."""
        if self._held >= self._capacity:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            waiter = (not urgent, next(self._arrivals), future)
            heapq.heappush(self._waiting, waiter)
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self._pass_on()  # handed the turn, but cancelled before taking it
                else:
                    self._waiting.remove(waiter)
                    heapq.heapify(self._waiting)
                raise
        else:
            self._held += 1
        try:
            yield
        finally:
            self._pass_on()

    def _pass_on(self) -> None:
        """Hand the turn to the first waiter, or free it."""
        while self._waiting:
            _, _, future = heapq.heappop(self._waiting)
            if not future.done():
                future.set_result(None)
                return
        self._held -= 1
