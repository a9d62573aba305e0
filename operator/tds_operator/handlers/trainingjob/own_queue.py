"""Admission in the operator's own queue (no Kueue on the cluster).

Admission happens once per job, under a per-contract lock so that two jobs cannot both take the
last GPUs. A job that does not fit the contract's concurrency yet waits Queued, holding nothing,
and is admitted in creation order as soon as it fits; while it waits, the contract's permanent
refusals still deny it.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from tds_operator.api.resources import DATA_CONTRACT, Manifest
from tds_operator.api.trainingjob import ADMITTED, ADMITTED_REASON, TrainingJob
from tds_operator.audit.usage import admitted_jobs
from tds_operator.handlers.trainingjob import admission
from tds_operator.handlers.trainingjob.end import deny
from tds_operator.handlers.trainingjob.parts import JobParts
from tds_operator.handlers.trainingjob.report import JobReport
from tds_operator.policy.decision import Decision
from tds_operator.policy.training import must_wait

# While a job is Queued, look again this soon should no sibling's end or admission wake it first.
QUEUE_RECHECK_SECONDS = 10.0

ADMITTED_ON_RECORD = Decision.allow(ADMITTED_REASON, "admitted (recorded in the audit ledger)")


class OwnQueue:
    """The admission strategy of the operator's own queue."""

    queue: str | None = None
    """The batch Jobs start at once: no Kueue LocalQueue holds them."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    async def admit(
        self, parts: JobParts, report: JobReport, job: TrainingJob, contract: Manifest | None
    ) -> bool | float | None:
        """True once admitted; else the seconds until a Queued job looks again (None if
        denied)."""
        names, uid = sorted(job.spec.contract_names), job.metadata.uid or ""
        contracts = await admission.contracts_of_job(parts.op, job, first=contract)
        queued = report.phase_was == "Queued"
        async with AsyncExitStack() as held:
            # Every contract's lock, in one order for all jobs: two joint jobs never deadlock.
            for name in names:
                await held.enter_async_context(self._locks.setdefault(name, asyncio.Lock()))
            recorded = {name: (await parts.op.ledger.load(name)).entries for name in names}
            missing = {n: c for n, c in contracts.items() if uid not in admitted_jobs(recorded[n])}
            if not missing:
                decision = ADMITTED_ON_RECORD
            else:
                decision, cases = await admission.decide(
                    parts.op, job, contracts, recorded, waiting=queued
                )
                if must_wait(decision):
                    # It waits for its turn, Queued, holding nothing: no batch Job, no
                    # GPU-seconds.
                    position = max(case.queued_ahead for case in cases) + 1
                    report.phase("Queued", queue=decision, queue_position=position)
                    # Written under the lock: the jobs created after it count it ahead.
                    await report.write()
                    return QUEUE_RECHECK_SECONDS
                await admission.record(parts.op, job, missing, decision, contracts)
            if not decision.allowed:
                deny(report, decision)
                await report.write()
                return None
            queue = decision if queued else None
            report.phase("Admitted", condition=(ADMITTED, decision), queue=queue)
            # Written under the lock: the next admission counts this job's GPUs as held.
            await report.write()
        for name in names:
            report.wake(DATA_CONTRACT, name)
            if queued:
                # The jobs behind it move up.
                report.wake_queue(name)
        return True
