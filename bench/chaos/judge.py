"""The invariants the chaos campaign judges once the system has settled, by the bounds of
`bounds.py`. Pure: each check takes facts the campaign observed (hand-made in the unit tests)
and returns a `Check` with its numbers and every violation it found.

Times are POSIX seconds. A job's "natural end" is when its workers would have finished on their
own (`start + runFor`); the contract's "end" is the moment it stopped letting jobs run (the
revocation as its party sent it, `notAfter`, or the ledger's record of the budget running out).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from bench.chaos.bounds import DEFAULT

FINAL_PHASES: Final = frozenset({"Succeeded", "Failed", "Denied", "Stopped"})
STOP_REASONS: Final = {
    "Revoked": "Revoked",
    "Expired": "ValidityEnded",
    "Exhausted": "GpuBudgetExhausted",
}
"""The reason a job stopped by its contract's end carries, by the contract's final phase."""
PHASE_MARGIN_SECONDS: Final = DEFAULT.phase_margin
METERING_TOLERANCE_SECONDS: Final = DEFAULT.metering_per_pod
USAGE_TOLERANCE_SECONDS: Final = DEFAULT.usage_rounding
BUDGET_OVERRUN_SECONDS: Final = DEFAULT.budget_overrun


@dataclass(frozen=True)
class ContractEnd:
    """Why and when a contract stopped letting jobs run."""

    phase: str
    at: float


@dataclass(frozen=True)
class PodRun:
    """A worker pod's run as the pod itself reported it: start to finish (or to the moment it
    was deleted, if it never reported a finish)."""

    start: float
    end: float
    gpus: int


@dataclass(frozen=True)
class JobFacts:
    """A TrainingJob the campaign made, and what became of it."""

    namespace: str
    name: str
    uid: str
    contract: str
    gpus: int
    run_for: float
    deleted: bool
    """The campaign deleted it while it ran."""
    phase: str | None
    """Its final phase; None once it is gone."""
    reason: str | None = None
    start: float | None = None
    gpu_seconds: int | None = None
    stopped_seen: float | None = None
    """When the campaign first saw it in a final phase (or gone, if deleted)."""
    pods: tuple[PodRun, ...] = ()


@dataclass(frozen=True)
class ContractFacts:
    """A contract the campaign made, its ledger and its clean room."""

    name: str
    phase: str | None
    end: ContractEnd | None
    budget_gpu_seconds: float
    usage_gpu_seconds: float
    ledger_verified: bool
    ledger_message: str = ""
    sequences: tuple[int, ...] = ()
    admissions: Mapping[str, int] = field(default_factory=dict)
    """Job uid -> how many JobAdmitted entries name it."""
    metered: Mapping[str, int] = field(default_factory=dict)
    """Job uid -> the last GPU-seconds the ledger recorded for it."""
    clean_room: bool = False
    """Its clean room namespace exists and is not being deleted."""


@dataclass(frozen=True)
class Owned:
    """An object the operator made, and the owner it names (kind, namespace, name)."""

    kind: str
    namespace: str
    name: str
    owner: tuple[str, str, str] | None


@dataclass(frozen=True)
class SpaceChildren:
    """What a DataSpace should have, and what of it exists."""

    space: str
    expected: frozenset[str]
    present: frozenset[str]


@dataclass
class Check:
    """One invariant: its name, its figures, and the violations (none when it holds)."""

    name: str
    figures: str = ""
    violations: list[str] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        return not self.violations


def contract_index(contracts: Iterable[ContractFacts]) -> dict[str, ContractFacts]:
    return {contract.name: contract for contract in contracts}


def expected_phases(job: JobFacts, end: ContractEnd | None) -> set[tuple[str, str | None]]:
    """The (phase, reason) pairs the contract's history allows the job to end in; a reason of
    None means any."""
    if job.deleted:
        return set()
    stopped = ("Stopped", STOP_REASONS.get(end.phase, end.phase)) if end else None
    if job.start is None:
        return {("Denied", None)} | ({stopped} if stopped else set())
    natural_end = job.start + job.run_for
    if end is None or end.at >= natural_end + PHASE_MARGIN_SECONDS:
        return {("Succeeded", None)}
    assert stopped is not None
    if end.at <= natural_end - PHASE_MARGIN_SECONDS:
        return {stopped}
    return {("Succeeded", None), stopped}


def check_phases(jobs: Sequence[JobFacts], contracts: Sequence[ContractFacts]) -> Check:
    """Every job ends in the phase its contract's history implies; a deleted job is gone."""
    index = contract_index(contracts)
    check = Check("phases implied by each contract's history")
    tally: dict[str, int] = {}
    for job in jobs:
        contract = index.get(job.contract)
        allowed = expected_phases(job, contract.end if contract else None)
        label = "gone" if job.phase is None else job.phase
        tally[label] = tally.get(label, 0) + 1
        if job.deleted:
            if job.phase is not None:
                check.violations.append(f"{job.name}: deleted but still there ({job.phase})")
            continue
        if not any(
            job.phase == phase and (reason is None or job.reason == reason)
            for phase, reason in allowed
        ):
            check.violations.append(
                f"{job.name}: {job.phase}/{job.reason}, expected one of {sorted(allowed, key=str)}"
            )
    check.figures = f"{len(jobs)} jobs: " + ", ".join(f"{v} {k}" for k, v in sorted(tally.items()))
    return check


def stop_lag(job: JobFacts, end: ContractEnd | None) -> float | None:
    """How long the job ran on after its contract ended (None if it was not running then)."""
    if end is None or job.start is None or job.stopped_seen is None:
        return None
    if job.start > end.at or job.start + job.run_for <= end.at:
        return None
    return job.stopped_seen - end.at


def unserved(start: float, end: float, gaps: Sequence[tuple[float, float]]) -> float:
    """Seconds of [start, end] inside the `gaps` (no leader, or no API server; they may
    overlap: counted once)."""
    covered, reach = 0.0, start
    for low, high in sorted(gaps):
        low, high = max(low, reach), min(high, end)
        if high > low:
            covered += high - low
            reach = high
    return covered


def check_nothing_runs_after_end(
    jobs: Sequence[JobFacts],
    contracts: Sequence[ContractFacts],
    bound: float,
    gaps: Sequence[tuple[float, float]] = (),
) -> tuple[Check, dict[str, float]]:
    """No job runs more than `bound` served seconds past its contract's end: its pods stopped
    and its phase reported within `bound` seconds of the end, not counting the seconds in the
    `gaps` (no leader, or no API server: wall-clock intervals), in which nothing on the hub could
    stop it or say so; those are bounded by their own checks. Returns the worst lag per kind of
    end (revocation, expiry, budget) as the wall clock saw it, with its unserved seconds apart."""
    index = contract_index(contracts)
    check = Check(f"nothing runs under a contract that is not Active (bound {bound:g} s served)")
    worst: dict[str, float] = {}
    split: dict[str, float] = {}
    worst_served = 0.0
    for job in jobs:
        contract = index.get(job.contract)
        end = contract.end if contract else None
        lag = stop_lag(job, end)
        if end is None or lag is None:
            continue
        gap = unserved(end.at, end.at + lag, gaps) if lag > 0 else 0.0
        if lag >= worst.get(end.phase, lag):
            split[end.phase] = gap
        worst[end.phase] = max(worst.get(end.phase, lag), lag)
        worst_served = max(worst_served, lag - gap)
        if lag - gap > bound:
            check.violations.append(
                f"{job.name}: ran {lag:.1f}s after {end.phase}, {lag - gap:.1f}s of it served "
                f"({gap:.1f}s unserved: no leader or no API server)"
            )
        for pod in job.pods:
            pod_lag = pod.end - end.at
            pod_served = pod_lag - unserved(end.at, pod.end, gaps)
            if pod_served > bound:
                check.violations.append(
                    f"{job.name}: a pod ran until {pod_lag:.1f}s after {end.phase}, "
                    f"{pod_served:.1f}s of it served"
                )
    check.figures = "worst lag: " + (
        ", ".join(
            f"{phase} {lag:.2f}s ({split.get(phase, 0.0):.1f}s unserved)"
            for phase, lag in sorted(worst.items())
        )
        + f"; worst served {worst_served:.2f}s"
        if worst
        else "none"
    )
    return check, worst


def check_takeovers(
    leaderless: Sequence[tuple[float, float]],
    bound: float,
    outages: Sequence[tuple[float, float]] = (),
) -> Check:
    """Every SIGKILL of the leader is followed by a standby's takeover within `bound` seconds
    (`leaderless`: each kill and the next replica's leading), not counting the seconds the API
    server was down (the `outages`), in which no replica can take the Lease. The seconds
    without a leader, which the lag's bound leaves out, are bounded here."""
    check = Check(f"a standby takes over within {bound:g} s of each leader's death")
    # Each takeover: how long it took, and how much of it the API server was down.
    took = [(led - killed, unserved(killed, led, outages)) for killed, led in leaderless]
    for number, (seconds, down) in enumerate(took, start=1):
        if seconds - down > bound:
            check.violations.append(
                f"takeover {number}: {seconds:.1f}s, {seconds - down:.1f}s served"
            )
    check.figures = (
        f"{len(took)} takeovers, mean {sum(t for t, _ in took) / len(took):.1f}s, "
        f"worst {max(t for t, _ in took):.1f}s"
        + "".join(
            f"; takeover {number} {seconds:.1f}s, {down:.1f}s of it with no API server"
            for number, (seconds, down) in enumerate(took, start=1)
            if down
        )
        if took
        else "no leader was killed"
    )
    return check


def check_owners(owned: Sequence[Owned], owners: set[tuple[str, str, str]]) -> Check:
    """Every batch Job, pod, Service and clean room has its owner object."""
    check = Check("no object without its owner")
    kinds: dict[str, int] = {}
    for item in owned:
        kinds[item.kind] = kinds.get(item.kind, 0) + 1
        if item.owner is None or item.owner not in owners:
            check.violations.append(
                f"{item.kind} {item.namespace}/{item.name}: owner {item.owner} is gone"
            )
    counts = ", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))
    check.figures = f"{len(owned)} objects ({counts or 'none'}), {len(check.violations)} orphans"
    return check


def check_clean_rooms_closed(contracts: Sequence[ContractFacts], jobs: Sequence[JobFacts]) -> Check:
    """No clean room is left for an ended contract once its jobs stopped."""
    check = Check("no clean room left for an ended contract")
    ended = [c for c in contracts if c.end is not None]
    for contract in ended:
        running = [j for j in jobs if j.contract == contract.name and _still_running(j)]
        if contract.clean_room and not running:
            check.violations.append(f"{contract.name} ({contract.phase}): clean room still there")
    check.figures = f"{len(ended)} ended contracts, {len(check.violations)} clean rooms left"
    return check


def _still_running(job: JobFacts) -> bool:
    return job.phase is not None and job.phase not in FINAL_PHASES


def check_ledgers(contracts: Sequence[ContractFacts], jobs: Sequence[JobFacts]) -> Check:
    """Every ledger verifies, numbers its entries 1..n without a gap, and admits each job once
    (a denied job never)."""
    check = Check("ledgers verified, one admission per job, no gap")
    index = contract_index(contracts)
    entries = 0
    for contract in contracts:
        entries += len(contract.sequences)
        if not contract.ledger_verified:
            check.violations.append(f"{contract.name}: {contract.ledger_message}")
        if list(contract.sequences) != list(range(1, len(contract.sequences) + 1)):
            check.violations.append(f"{contract.name}: sequences have a gap")
    for job in jobs:
        contract = index.get(job.contract)
        admitted = contract.admissions.get(job.uid, 0) if contract else 0
        wanted = 0 if job.phase == "Denied" else 1
        if admitted != wanted:
            check.violations.append(f"{job.name}: {admitted} admission entries, not {wanted}")
    check.figures = f"{len(contracts)} ledgers, {entries} entries, {len(jobs)} jobs admitted once"
    return check


def pods_seconds(job: JobFacts) -> float:
    return sum((pod.end - pod.start) * pod.gpus for pod in job.pods)


def check_metering(jobs: Sequence[JobFacts], contracts: Sequence[ContractFacts]) -> Check:
    """Each job's metered GPU-seconds are its pods' run times x GPUs (within a second per pod)
    and what the ledger recorded last; each contract's usage is the sum of its jobs'."""
    check = Check("usage = sum of jobs' GPU-seconds = pods' timestamps x GPUs")
    index = contract_index(contracts)
    worst = 0.0
    for job in jobs:
        contract = index.get(job.contract)
        recorded = contract.metered.get(job.uid) if contract else None
        metered = job.gpu_seconds if job.gpu_seconds is not None else recorded
        if job.gpu_seconds is not None and recorded is not None and recorded != job.gpu_seconds:
            check.violations.append(f"{job.name}: status {job.gpu_seconds}, ledger {recorded}")
        if not job.pods or metered is None:
            continue
        off = abs(metered - pods_seconds(job))
        allowed = sum(pod.gpus for pod in job.pods) * METERING_TOLERANCE_SECONDS
        worst = max(worst, off - allowed)
        if off > allowed:
            check.violations.append(
                f"{job.name}: metered {metered}, its pods ran {pods_seconds(job):.1f} GPU-s"
            )
    for contract in contracts:
        total = sum(contract.metered.values())
        if abs(contract.usage_gpu_seconds - total) > USAGE_TOLERANCE_SECONDS:
            check.violations.append(
                f"{contract.name}: usage {contract.usage_gpu_seconds:.2f} GPU-s, jobs {total}"
            )
    check.figures = (
        f"{len(contracts)} contracts, {sum(1 for j in jobs if j.pods)} jobs with pods; "
        f"worst excess over the per-pod tolerance {max(worst, 0.0):.2f} GPU-s"
    )
    return check


def budget_second(pods: Iterable[PodRun], budget: float) -> float | None:
    """When the pods' GPU-seconds, from their own timestamps, reached `budget` (None if never)."""
    runs = sorted(pods, key=lambda pod: pod.start)
    moments = sorted({moment for pod in runs for moment in (pod.start, pod.end)})
    used, previous = 0.0, None
    for moment in moments:
        if previous is not None:
            rate = sum(pod.gpus for pod in runs if pod.start <= previous and pod.end >= moment)
            if rate and used + rate * (moment - previous) >= budget:
                return previous + (budget - used) / rate
            used += rate * (moment - previous)
        previous = moment
    return None


def check_budgets(
    contracts: Sequence[ContractFacts],
    jobs: Sequence[JobFacts],
    outages: Sequence[tuple[float, float]] = (),
) -> Check:
    """No contract meters more than its budget plus one second of the GPUs its jobs held when
    it ran out, and those GPUs' seconds while the API server was down (the `outages`: nothing
    on the hub can stop a pod then) between the budget's second and their stop."""
    check = Check("no contract meters more than budget + 1 s of the GPUs it holds")
    figures = []
    for contract in contracts:
        holders = [
            j for j in jobs if j.contract == contract.name and j.reason == "GpuBudgetExhausted"
        ]
        held = sum(j.gpus for j in holders)
        over = contract.usage_gpu_seconds - contract.budget_gpu_seconds
        pods = [pod for j in jobs if j.contract == contract.name for pod in j.pods]
        ran_out = budget_second(pods, contract.budget_gpu_seconds)
        stopped = max((pod.end for j in holders for pod in j.pods), default=ran_out)
        down = unserved(ran_out, stopped, outages) if ran_out and stopped else 0.0
        if contract.end is not None and contract.end.phase == "Exhausted":
            figures.append(
                f"{contract.name}: {over:+.0f} GPU-s over, {held} GPUs held"
                + (f", {down:.1f}s of it with no API server" if down else "")
            )
        if over > held * (BUDGET_OVERRUN_SECONDS + down) + USAGE_TOLERANCE_SECONDS:
            check.violations.append(
                f"{contract.name}: metered {contract.usage_gpu_seconds:.0f} of a "
                f"{contract.budget_gpu_seconds:.0f} GPU-s budget holding {held} GPUs"
                + (f" ({down:.1f}s of it with no API server)" if down else "")
            )
    check.figures = "; ".join(figures) or "no contract ran out of budget"
    return check


def check_space_children(spaces: Sequence[SpaceChildren]) -> Check:
    """Every DataSpace has all its children."""
    check = Check("every DataSpace has all its children")
    for space in spaces:
        missing = sorted(space.expected - space.present)
        if missing:
            check.violations.append(f"{space.space}: missing {', '.join(missing)}")
    children = sum(len(space.expected) for space in spaces)
    check.figures = f"{len(spaces)} spaces, {children} children expected"
    return check


def check_contract_phases(planned: Mapping[str, str], contracts: Sequence[ContractFacts]) -> Check:
    """Every contract ends in the phase the campaign drove it to."""
    check = Check("contracts in their planned phases")
    index = contract_index(contracts)
    tally: dict[str, int] = {}
    for name, phase in sorted(planned.items()):
        actual = index[name].phase if name in index else None
        tally[str(actual)] = tally.get(str(actual), 0) + 1
        if actual != phase:
            check.violations.append(f"{name}: {actual}, planned {phase}")
    check.figures = f"{len(planned)} contracts: " + ", ".join(
        f"{v} {k}" for k, v in sorted(tally.items())
    )
    return check
