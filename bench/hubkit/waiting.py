"""Polling helpers for tests that observe a cluster converge."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
V = TypeVar("V")


def wait_until(
    probe: Callable[[], T | None], *, timeout: float, interval: float = 0.2, what: str = ""
) -> T:
    """Call `probe` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what or probe}: {last!r}"
            )
        time.sleep(interval)


def wait_for(
    read: Callable[[], V],
    done: Callable[[V], bool],
    *,
    timeout: float,
    what: str,
    shown: Callable[[V], object] = lambda value: value,
    interval: float = 0.2,
) -> V:
    """Read until `done(value)` and return that value. A timeout names `what` and each different
    value read on the way (through `shown`, with the seconds since the start), so that one that
    went past tells from one that never got there."""
    started = time.monotonic()
    seen: list[tuple[float, object]] = []
    while True:
        value = read()
        view = shown(value)
        if not seen or seen[-1][1] != view:
            seen.append((round(time.monotonic() - started, 1), view))
        if done(value):
            return value
        if time.monotonic() - started >= timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; seen: {seen}")
        time.sleep(interval)
