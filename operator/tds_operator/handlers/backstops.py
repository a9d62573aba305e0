"""Keep every running batch Job of a contract ending at the same second: the one its budget runs
out at the rate of all the GPUs its batch Jobs hold (see policy/backstop.py).

The deadlines are written under a lock per contract, each time from a fresh list of its batch
Jobs: two reconciles of sibling jobs never interleave a stale second with a fresh one, and a job
that starts counts every sibling that started before it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from pydantic import ValidationError

from tds_operator.api.datacontract import DataContract
from tds_operator.api.resources import Manifest
from tds_operator.api.trainingjob import FINISHED_PHASES, TrainingJob, TrainingJobSpec
from tds_operator.desired.isolation import GPU_RESOURCE
from tds_operator.handlers.batch_run import BatchRun, made_for
from tds_operator.policy.backstop import gpus_held, shared_deadlines
from tds_operator.policy.metering import LiveBudget


class Backstops:
    """The shared backstop of each contract's batch Jobs."""

    def __init__(self, batch_run: BatchRun) -> None:
        self.batch_run = batch_run
        self._locks: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def held(self, contract: str) -> AsyncIterator[None]:
        """Hold the contract's backstops: no other start or move of them meanwhile."""
        async with self._locks.setdefault(contract, asyncio.Lock()):
            yield

    async def batch_jobs(self, contract: str) -> list[Manifest]:
        """The contract's batch Jobs as the API server has them now (call under `held`)."""
        return await self.batch_run.contract_batch_jobs(contract)

    @staticmethod
    def gpus(batches: Sequence[Manifest], budget: LiveBudget) -> int:
        """The GPUs the contract's batch Jobs hold: the rate its budget runs out at."""
        return gpus_held(batches, GPU_RESOURCE, budget)

    async def align(
        self,
        contract: DataContract,
        jobs: Sequence[Manifest],
        batches: Sequence[Manifest],
        gpus: int,
        budget: LiveBudget,
        now: datetime,
    ) -> None:
        """Move the deadline of every running batch Job of the contract's unfinished `jobs` to the
        second the `budget` (measured at `now`) runs out at `gpus` (call under `held`)."""
        pairs: list[tuple[TrainingJobSpec, Manifest]] = []
        for body in jobs:
            if (body.get("status") or {}).get("phase") in FINISHED_PHASES:
                continue
            try:
                spec = TrainingJob.model_validate(body).spec
            except ValidationError:
                continue
            pairs.extend((spec, batch) for batch in batches if made_for(batch, body))
        not_after = contract.spec.validity.not_after
        for batch, seconds in shared_deadlines(pairs, gpus, budget, not_after, now):
            await self.batch_run.keep_deadline(batch, seconds)
