"""Turns at a contract's ledger: one writer at a time, first come first served, except that the
record of a job's end goes before the admissions and denials still waiting. Turns at a client's
requests in flight: so many at once, a stop's requests before the routine ones waiting."""

from __future__ import annotations

import asyncio

import pytest

from tds_operator.turns import Turns

pytestmark = pytest.mark.unit


async def writers(arrivals: list[tuple[str, bool]]) -> list[str]:
    """The order in which writers arriving while the turn is held get it."""
    turns, order = Turns(), []

    async def write(name: str, urgent: bool) -> None:
        async with turns.turn(urgent=urgent):
            order.append(name)

    async with turns.turn():
        tasks = []
        for name, urgent in arrivals:
            tasks.append(asyncio.create_task(write(name, urgent)))
            await asyncio.sleep(0)  # each one waiting before the next arrives
        assert order == [], "a writer got in while the turn was held"
    await asyncio.gather(*tasks)
    return order


def test_writers_take_turns_in_order_of_arrival() -> None:
    order = asyncio.run(writers([("deny-1", False), ("deny-2", False), ("admit", False)]))
    assert order == ["deny-1", "deny-2", "admit"]


def test_the_record_of_a_stop_goes_before_the_writers_waiting() -> None:
    order = asyncio.run(writers([("deny-1", False), ("deny-2", False), ("stop", True)]))
    assert order == ["stop", "deny-1", "deny-2"]


@pytest.mark.parametrize("handed", [False, True])
def test_a_writer_cancelled_while_waiting_or_once_handed_the_turn_passes_it_on(
    handed: bool,
) -> None:
    async def scenario() -> list[str]:
        turns, order = Turns(), []

        async def write(name: str) -> None:
            async with turns.turn():
                order.append(name)

        async with turns.turn():
            gone = asyncio.create_task(write("gone"))
            late = asyncio.create_task(write("late"))
            await asyncio.sleep(0)
            if not handed:
                gone.cancel()
        if handed:
            gone.cancel()  # the turn was just handed to it: it never ran
        await asyncio.wait_for(late, timeout=1)
        async with turns.turn():  # free again
            order.append("after")
        return order

    assert asyncio.run(scenario()) == ["late", "after"]


def test_up_to_capacity_hold_turns_at_once_and_an_urgent_waiter_goes_first() -> None:
    async def scenario() -> list[str]:
        turns, order = Turns(capacity=2), []
        release = asyncio.Event()

        async def request(name: str, urgent: bool = False) -> None:
            async with turns.turn(urgent=urgent):
                order.append(name)
                if name.startswith("held"):
                    await release.wait()

        held = [asyncio.create_task(request(f"held-{n}")) for n in (1, 2)]
        await asyncio.sleep(0)
        waiting = [
            asyncio.create_task(request("resync")),
            asyncio.create_task(request("stop", True)),
        ]
        await asyncio.sleep(0)
        assert order == ["held-1", "held-2"], "a third got in while two held turns"
        release.set()
        await asyncio.gather(*held, *waiting)
        return order

    assert asyncio.run(scenario()) == ["held-1", "held-2", "stop", "resync"]
