"""What one reconcile of a TrainingJob does next, from the job and its contract as read once.

The reconciler gathers a `JobInputs` snapshot, asks `decide_run` for the step, then acts: the
step is the whole of its branching between lifecycles (admission, running, ending, the output
of a finished job), so that each lifecycle's code runs only where it applies.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from tds_operator.api.common import INVALID_SPEC
from tds_operator.api.resources import LiveObject
from tds_operator.api.trainingjob import FINISHED_PHASES, TrainingJob, TrainingJobPhase
from tds_operator.policy.contract import validity_passed
from tds_operator.policy.decision import Decision
from tds_operator.policy.enforcement import (
    budget_outcome,
    contract_lets_jobs_run,
    stop_reason,
    validity_outcome,
)
from tds_operator.policy.metering import (
    LiveBudget,
    budget_exhausted,
    next_metering,
    seconds_to_budget_end,
)
from tds_operator.policy.wakes import metering_interval

# Usage is also metered at the whole second the budget runs out; wake just after it.
WAKE_MARGIN_SECONDS = 0.05
# A job wakes this long before the second its contract's budget runs out, so that everything
# its stop needs is read by then and its deletes reach the workers within that very second.
STOP_LEAD_SECONDS = 1.0

WAITING_PHASES = frozenset({None, "Pending", "Queued"})
"""The phases of a job not admitted yet: it asks for admission on every reconcile."""

RunStepKind = Literal["gone", "delete", "invalid", "finished", "admit", "stop", "run"]


@dataclass(frozen=True)
class JobInputs:
    """One TrainingJob and its contract as this reconcile read them."""

    body: dict[str, Any] | None
    """The TrainingJob as read (None: it is gone)."""
    job: TrainingJob | None
    """Its spec parsed (None if it does not parse, or is gone)."""
    invalid: str | None
    """Why it does not parse, naming the field."""
    contract: dict[str, Any] | None
    """Its DataContract as read (None: gone, or not read because the job needs no contract);
    a joint job's first."""
    contracts: tuple[tuple[str, dict[str, Any] | None], ...] = ()
    """A joint job's every contract, by name, in the order it names them, as read (each None if
    gone); empty for a job of one contract, or when not read."""

    @property
    def phase(self) -> str | None:
        status: dict[str, Any] = dict((self.body or {}).get("status") or {})
        return status.get("phase")

    @property
    def queued(self) -> bool:
        return self.phase == "Queued"

    @property
    def needs_contract(self) -> bool:
        """Whether the step depends on the contract: a live, valid job not finished yet."""
        return (
            self.body is not None
            and not _deleted(self.body)
            and self.job is not None
            and self.phase not in FINISHED_PHASES
        )


@dataclass(frozen=True)
class RunStep:
    """The step: what kind, and the decision that explains it (a denial, a stop's reason)."""

    kind: RunStepKind
    decision: Decision | None = None
    stopped_by: str | None = None
    """The contract that stops the job (a stop), by name."""


def _deleted(body: LiveObject) -> bool:
    return bool((body.get("metadata") or {}).get("deletionTimestamp"))


def decide_run(inputs: JobInputs, now: datetime) -> RunStep:
    """The step of this reconcile at `now`: gone (release what it held), delete (stop, let it
    go), invalid (deny), finished (keep its output), admit (a job not admitted yet), stop (its
    contract no longer lets it run, or its validity passed), else run (start, meter)."""
    if inputs.body is None:
        return RunStep("gone")
    if _deleted(inputs.body):
        return RunStep("delete")
    if inputs.job is None:
        return RunStep("invalid", Decision.deny(INVALID_SPEC, inputs.invalid or "invalid spec"))
    if inputs.phase in FINISHED_PHASES:
        return RunStep("finished")
    if inputs.phase in WAITING_PHASES:
        return RunStep("admit")
    first = inputs.job.spec.contract if inputs.job is not None else ""
    for name, contract in inputs.contracts or ((first, inputs.contract),):
        stop = _stopped(contract, now)
        if stop is not None:
            return RunStep("stop", named(name, stop) if inputs.contracts else stop, name)
    return RunStep("run")


def _stopped(contract: dict[str, Any] | None, now: datetime) -> Decision | None:
    """Why the contract stops its jobs at `now`, if it does."""
    if not contract_lets_jobs_run(contract):
        return stop_reason(contract)
    return validity_passed(contract, now)


def named(name: str, decision: Decision) -> Decision:
    """A joint job's stop names the contract that stopped it."""
    if f"DataContract {name}" in decision.message:
        return decision
    return Decision.deny(decision.reason, f"DataContract {name}: {decision.message}")


MeterStepKind = Literal["finish", "exhausted", "yield", "stop_at", "report"]


@dataclass(frozen=True)
class MeterInputs:
    """A running job's metering pass as read: its batch Job's outcome (None while it runs), its
    contract's budget as all its jobs' pods show it, and whether a stop waits for the job."""

    outcome: tuple[TrainingJobPhase, Decision] | None
    budget: LiveBudget
    gpu_budget: float
    """The contract's budget in GPU-seconds (spec.compute.maxGpuHours)."""
    total_gpus: int
    not_after: datetime
    stop_waiting: bool
    """Work that stops jobs (a revocation, an expiry) came while this pass read."""
    workers: int
    """The job's running workers."""


@dataclass(frozen=True)
class MeterStep:
    """What a metering pass does: finish (the batch Job ended: `phase`, `decision`), exhausted
    (the budget is used up: stop now), yield (a stop waits: give way to it), stop_at (the budget
    runs out at `at`, within STOP_LEAD_SECONDS: stop then) or report (`phase`, and meter again
    in `wake` seconds; None: nothing runs to meter)."""

    kind: MeterStepKind
    phase: TrainingJobPhase | None = None
    decision: Decision | None = None
    at: datetime | None = None
    wake: float | None = None


def decide_metering(inputs: MeterInputs, now: datetime) -> MeterStep:
    """The metering pass's step at `now` (the instant its budget was measured at)."""
    budget = inputs.budget
    if inputs.outcome is not None:
        outcome = validity_outcome(inputs.outcome, inputs.not_after, now)
        phase, decision = budget_outcome(outcome, inputs.gpu_budget, budget, inputs.total_gpus)
        return MeterStep("finish", phase, decision)
    if budget.used_up:
        # The job stops itself the second its contract's jobs reach the budget, without
        # waiting for the contract's usage and phase to catch up; so do its siblings.
        return MeterStep("exhausted", "Stopped", budget_exhausted(inputs.gpu_budget, budget))
    if inputs.stop_waiting:
        return MeterStep("yield")
    due = seconds_to_budget_end(budget.gpu_seconds_left, budget.gpus_running, now)
    if due is not None and due <= STOP_LEAD_SECONDS:
        return MeterStep("stop_at", at=now + timedelta(seconds=due))
    if not inputs.workers:
        return MeterStep("report", "Admitted")
    # Less often while the budget and the contract's end are far; the budget's second is
    # prepared on time whatever the interval, and what moves it wakes the job at once.
    interval = metering_interval(due, (inputs.not_after - now).total_seconds())
    left, gpus = budget.gpu_seconds_left, budget.gpus_running
    wake = next_metering(left, gpus, now, interval, lead=STOP_LEAD_SECONDS)
    return MeterStep("report", "Running", wake=wake + WAKE_MARGIN_SECONDS)


METER_URGENCY: dict[MeterStepKind, int] = {
    "finish": 0,
    "exhausted": 1,
    "yield": 2,
    "stop_at": 3,
    "report": 4,
}


def joint_metering(steps: list[tuple[str, MeterStep]]) -> tuple[str, MeterStep]:
    """A joint job's metering step from each contract's (by name, in the job's order): the most
    urgent wins, its decision naming the contract; of several stops at a budget's second, the
    earliest; of several finishes, one that a contract ended (Stopped) before a plain one; a
    report wakes at the soonest of every contract's wakes."""

    def rank(item: tuple[int, tuple[str, MeterStep]]) -> tuple[int, int, float, int]:
        index, (_, step) = item
        ended_by_contract = 0 if step.phase == "Stopped" else 1
        at = step.at.timestamp() if step.at is not None else 0.0
        return (METER_URGENCY[step.kind], ended_by_contract, at, index)

    _, (name, step) = min(enumerate(steps), key=rank)
    by_contract = step.kind == "exhausted" or (step.kind == "finish" and step.phase == "Stopped")
    if step.decision is not None and by_contract:
        step = replace(step, decision=named(name, step.decision))
    if step.kind == "report":
        wakes = [s.wake for _, s in steps if s.wake is not None]
        step = replace(step, wake=min(wakes) if wakes else None)
    return name, step


def contract_states(inputs: JobInputs, step: RunStep) -> list[dict[str, Any]]:
    """A joint job's status.contracts: each contract's phase as read, and which stopped the
    job (empty for a job of one contract)."""
    states = []
    for name, contract in inputs.contracts:
        phase = ((contract or {}).get("status") or {}).get("phase") if contract else "Missing"
        state: dict[str, Any] = {"name": name, "phase": str(phase or "Proposed")}
        if step.kind == "stop" and step.stopped_by == name:
            state["stoppedJob"] = True
        states.append(state)
    return states
