"""What a replica does as its role changes: a new leader makes its takeover cheap (indexes
kept warm while it stood by, the objects with work left first), a replica that stands by stops
reconciling; its watches go on queueing either way."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import httpx

from tds_operator.handlers import watches
from tds_operator.handlers.context import Operator
from tds_operator.handlers.trainingjob.orphans import keep_sweeping
from tds_operator.handlers.trainingjob.parts import JobParts
from tds_operator.kube import KubeError

logger = logging.getLogger(__name__)

CHILDREN_LISTED_SECONDS = 60.0
"""How long a new leader waits for the child watches' first LISTs before reconciling anyway
(reconciles then read what the index does not hold yet)."""

_sweeps: set[asyncio.Task[None]] = set()
"""The sweeps of the clean rooms this replica runs while it leads (each ends when it stops)."""


def still_leads(memo: Operator) -> bool:
    return memo.elector is not None and memo.elector.leading


async def take_the_lead(memo: Operator) -> None:
    """Indexes first (a standby keeps them warm from its watches: filled already, unless it
    could not list yet), so that the first reconciles read from them; then the objects with
    work left to the head of the queues, then the reconcilers, then the sweep of the clean
    rooms for what gone TrainingJobs left (at once, then on a period, while it leads)."""
    if not memo.contracts.synced:
        try:
            await watches.fill_indexes(memo)
        except (KubeError, httpx.HTTPError) as error:
            # Reconciles then read what the indexes miss from the API server.
            logger.warning("could not list the contracts: %s", error)
    try:
        # The children of spaces are listed by their own watches (child_watches.py).
        await asyncio.wait_for(memo.children_listed.wait(), CHILDREN_LISTED_SECONDS)
    except TimeoutError:
        logger.warning("the children of spaces are not all listed yet: reconciles read them")
    if not still_leads(memo):
        return  # lost the Lease meanwhile: stand_by has run, the queues stay stopped
    try:
        await watches.resync(memo)
        resynced = True
    except (KubeError, httpx.HTTPError) as error:
        logger.warning("resync as the new leader failed, retrying: %s", error)
        resynced = False
    if not still_leads(memo):
        return
    for queue in memo.queues.values():
        queue.start()
    if not resynced:
        await resync_while_leading(memo)
    # What TrainingJobs gone without the operator's finalizer left in the clean rooms (while
    # no operator led, or by a path no watch shows) is ended now and on a period.
    sweeping = asyncio.create_task(
        keep_sweeping(JobParts(memo), lambda: still_leads(memo)), name="orphan-sweep"
    )
    _sweeps.add(sweeping)
    sweeping.add_done_callback(_sweeps.discard)


async def keep_indexes_warm(memo: Operator) -> None:
    """Fill the indexes as the replica starts, leader or standby, retrying through API errors;
    its watches keep them current from then on, so that a takeover need not list them again."""
    await _retry(lambda: watches.fill_indexes(memo), lambda: True, "filling the indexes")


async def resync_while_leading(memo: Operator) -> None:
    """Enqueue every object, retrying through API errors (a restarting API server answers 429
    or 503) for as long as this replica leads."""
    await _retry(lambda: watches.resync(memo), lambda: still_leads(memo), "resync as the leader")


async def _retry(
    action: Callable[[], Awaitable[None]], meanwhile: Callable[[], bool], what: str
) -> None:
    """Run `action` until it succeeds, backing off through API errors, while `meanwhile`."""
    delay = 0.5
    while meanwhile():
        try:
            await action()
            return
        except (KubeError, httpx.HTTPError) as error:
            logger.warning("%s failed, retrying in %ss: %s", what, delay, error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def stop_sweeping() -> None:
    """Cancel the sweeps of the clean rooms (the replica stands by, or stops)."""
    for task in _sweeps:
        task.cancel()


async def stand_by(memo: Operator) -> None:
    """This replica is no longer the leader: stop reconciling and sweeping (the watches go on
    queueing)."""
    stop_sweeping()
    for queue in memo.queues.values():
        await queue.stop()
