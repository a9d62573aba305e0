"""The report of one reconcile of a TrainingJob: its typed status written once, then one Event
per condition whose status or reason changed (policy/condition_events.py), then the wakes of
what the change concerns (its contract, its siblings, its queue)."""

from __future__ import annotations

from typing import Any

from tds_operator.api.output import OutputStatus
from tds_operator.api.resources import TRAINING_JOB, Manifest
from tds_operator.api.trainingjob import (
    ENDED,
    FINISHED,
    FINISHED_PHASES,
    QUEUED,
    RUNNING_REASON,
    TrainingJobPhase,
    TrainingJobStatus,
)
from tds_operator.handlers.context import utcnow
from tds_operator.handlers.objects import record_event, write_status
from tds_operator.handlers.trainingjob.parts import JobParts, key_of
from tds_operator.policy.condition_events import ConditionEvent, condition_events
from tds_operator.policy.conditions import set_condition, timestamp
from tds_operator.policy.decision import Decision

# Leaving the queue is no failure: the Admitted condition says whether it was admitted.
NORMAL_WHEN_FALSE = frozenset({QUEUED})


class JobReport:
    """Collects what one reconcile reports of `body`; `flush` writes it."""

    def __init__(self, parts: JobParts, body: Manifest) -> None:
        self.parts = parts
        self.body = body
        self._old: dict[str, Any] = dict(body.get("status") or {})
        self._read_phase: str | None = self._old.get("phase")
        self._conditions: list[dict[str, Any]] = list(self._old.get("conditions") or [])
        self._fields: dict[str, Any] = {}
        self._wakes: list[tuple[str, str, bool]] = []
        self._queues: list[str] = []
        self._events: list[ConditionEvent] = []
        self._why: str | None = None

    @property
    def phase_was(self) -> str | None:
        """The phase as this reconcile read it."""
        return self._read_phase

    def phase(
        self,
        phase: TrainingJobPhase,
        *,
        used: int | None = None,
        condition: tuple[str, Decision] | None = None,
        queue: Decision | None = None,
        queue_position: int | None = None,
        completed: bool = False,
        job: str | None = None,
        clean_room: str | None = None,
        start_time: str | None = None,
    ) -> None:
        """Report the phase (and what else is given). `queue` sets the Queued condition: True
        while the phase is Queued, else why the job left the queue."""
        changes = [condition] if condition is not None else []
        changes += [(QUEUED, queue)] if queue is not None else []
        for type, decision in changes:
            self.condition(type, decision, phase)
        deciding = condition[1] if condition is not None else queue
        if deciding is not None and phase in FINISHED_PHASES:
            # However it ended: what `kubectl wait --for=condition=Ended` waits for.
            self.condition(ENDED, deciding, phase)
        self._fields["reason"] = self._reason(phase, deciding)
        given = {"job": job, "clean_room": clean_room, "start_time": start_time}
        self._fields.update({name: value for name, value in given.items() if value is not None})
        self._fields["phase"] = phase
        self._fields["queue_position"] = queue_position
        if used is not None:
            seconds = max(used, int(self._old.get("gpuSeconds") or 0))
            self._fields["gpu_seconds"] = seconds
            self._fields["gpu_hours"] = round(seconds / 3600, 2)
        if completed and not self._old.get("completionTime"):
            # The first end is the one that counts.
            self._fields["completion_time"] = timestamp(utcnow())

    def _reason(self, phase: TrainingJobPhase, deciding: Decision | None) -> str | None:
        """Why the job is in `phase`: the reason of the decision that set it, else of the last
        condition this reconcile set (the clean room a job waits for), else Running while its
        workers run, else the reason it had."""
        if deciding is not None:
            return deciding.reason
        if self._why is not None:
            return self._why
        return RUNNING_REASON if phase == "Running" else self._old.get("reason")

    def condition(self, type: str, decision: Decision, phase: TrainingJobPhase) -> None:
        """Set the condition `type` from `decision`: Finished holds if the job Succeeded, Ended
        once it ended, Queued while it is Queued, any other if the decision allows."""
        self._why = decision.reason
        if type == FINISHED:
            holds = phase == "Succeeded"
        elif type == ENDED:
            holds = phase in FINISHED_PHASES
        else:
            holds = phase == "Queued" if type == QUEUED else decision.allowed
        self._conditions = set_condition(
            self._conditions,
            type=type,
            status=holds,
            reason=decision.reason,
            message=decision.message,
            generation=self.body["metadata"].get("generation"),
            now=utcnow(),
        )

    def contracts(self, states: list[dict[str, Any]]) -> None:
        """Report a joint job's contracts' states, if they changed."""
        if states and states != self._old.get("contracts"):
            self._fields["contracts"] = states

    def output(self, output: OutputStatus) -> None:
        """Report the state of the job's output."""
        self._fields["output"] = output

    def wake(self, kind: str, key: str) -> None:
        """Reconcile another object once the status is written."""
        self._wakes.append((kind, key, False))

    def wake_self(self) -> None:
        """Reconcile this job again once the status is written (a new step follows at once)."""
        self._wakes.append((TRAINING_JOB, key_of(self.body), True))

    def wake_queue(self, contract: str) -> None:
        """Reconcile the contract's Queued jobs once the status is written: one may fit, or move
        up (they read this job's new phase)."""
        self._queues.append(contract)

    async def flush(self) -> None:
        """Write the status (if anything changed), post the Events of the conditions that
        changed, then wake what was asked for."""
        await self.write()
        events, self._events = self._events, []
        for event in events:
            await record_event(
                self.parts.kube,
                self.body,
                reason=event.reason,
                message=event.message,
                warning=event.warning,
            )
        wakes, queues = self._wakes, self._queues
        self._wakes, self._queues = [], []
        for kind, key, new in wakes:
            self.parts.op.enqueue(kind, key, new=new)
        for contract in dict.fromkeys(queues):
            for sibling in await self.parts.batch_run.contract_jobs_in_phase(contract, "Queued"):
                self.parts.op.enqueue(TRAINING_JOB, key_of(sibling))

    async def write(self) -> None:
        """Write the status now (under a lock its readers share), its Events and wakes left
        for `flush`."""
        if not self._fields and self._conditions == (self._old.get("conditions") or []):
            return
        phase = self._fields.get("phase")
        status = TrainingJobStatus(
            conditions=self._conditions,
            observed_generation=self.body["metadata"].get("generation"),
            **{name: value for name, value in self._fields.items() if value is not None},
        )
        clear: tuple[str, ...] = ()
        position = self._fields.get("queue_position")
        if phase is not None and not (phase == "Queued" and position is not None):
            # Out of the queue (or in Kueue's, with no position to give): no position, in the
            # same write as the new phase.
            clear = ("queuePosition",)
        written = await write_status(self.parts.kube, self.body, status, clear=clear)
        if phase == "Running" and self._old.get("phase") == "Running":
            # A metering pass's write: its event would only start the next pass at once,
            # keeping the job's reconcile busy (and a stop waiting) when it is due in seconds.
            self.parts.op.metering_writes.wrote(written)
        self._events += self._changes(phase)
        self._old = {**self._old, **(written or {}).get("status", {})}
        self._old["conditions"] = self._conditions
        if phase is not None:
            self._old["phase"] = phase
        self._fields = {}

    def _changes(self, phase: str | None) -> list[ConditionEvent]:
        """The Events of this write: one per condition that changed (a finish says how the job
        ended), and the workers' start, which no condition reports."""
        old = self._old.get("conditions") or []
        events = [
            ConditionEvent(e.type, e.reason, f"{phase}: {e.message}", e.warning)
            if e.type in (FINISHED, ENDED)
            else e
            for e in condition_events(old, self._conditions, normal=NORMAL_WHEN_FALSE)
        ]
        if phase == "Running" and self._old.get("phase") != "Running":
            clean_room = self._fields.get("clean_room") or self._old.get("cleanRoom")
            message = f"workers run in {clean_room}"
            events.append(ConditionEvent(RUNNING_REASON, RUNNING_REASON, message, False))
        return events
