"""What one reconcile of a DataSpace, DataContract or ModelRelease reports as Events: one per
condition whose status or reason changed (policy/condition_events.py), the condition a phase
summarises saying the phase, and, for a space, what its reconcile repaired or applied. Pure."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from tds_operator.api.datacontract import (
    ACTIVE,
    AUDIT_LEDGER_INTACT,
    CLEAN_ROOM_READY,
    DATASETS_REACHABLE,
    ENDED_PHASES,
    TERMS_VALID,
)
from tds_operator.policy.condition_events import ConditionEvent, condition_events
from tds_operator.policy.conditions import ConditionDict, is_true, set_decision
from tds_operator.policy.contract import PhaseDecision
from tds_operator.policy.decision import Decision


def _summarised(
    events: list[ConditionEvent], type: str, message: str, warning: bool
) -> list[ConditionEvent]:
    """The events with the one of condition `type` carrying `message` (with the condition's
    own after a colon) and a Warning exactly if `warning`."""
    return [
        ConditionEvent(e.type, e.reason, f"{message}: {e.message}", warning)
        if e.type == type
        else e
        for e in events
    ]


def space_events(
    old: Sequence[ConditionDict],
    new: Sequence[ConditionDict],
    *,
    ready: str,
    repaired: Sequence[str],
    spec_changed: bool,
    reasons: tuple[str, str],
) -> list[ConditionEvent]:
    """A space's Events: its conditions' changes; else, while it stays Ready, what this reconcile
    wrote (`repaired`): the new spec applied (`reasons[0]`) or drift restored (`reasons[1]`),
    which no condition reports."""
    events = condition_events(old, new)
    if events or not repaired or not (is_true(list(old), ready) and is_true(list(new), ready)):
        return events
    updated, drift = reasons
    message = ("applied the new spec: " if spec_changed else "restored ") + ", ".join(repaired)
    return [ConditionEvent(ready, updated if spec_changed else drift, message, False)]


def contract_conditions(
    old: Sequence[ConditionDict],
    phase: PhaseDecision,
    terms: Decision,
    room: tuple[Decision, Decision | None],
    ledger: Decision,
    generation: int | None,
    now: datetime,
) -> list[ConditionDict]:
    """A contract's conditions after this reconcile, from its `old` ones. `room`: the clean room
    as converged, and, only while the contract is Active, whether its datasets are there (else
    DatasetsReachable goes): a clean room whose datasets are missing is not ready."""
    clean_room, datasets = room
    if datasets is not None and clean_room.allowed and not datasets.allowed:
        clean_room = Decision.deny(datasets.reason, f"not ready: {datasets.message}")
    decided = [
        (ACTIVE, Decision(phase.is_active, phase.reason, phase.message)),
        (TERMS_VALID, terms),
        (CLEAN_ROOM_READY, clean_room),
        *([(DATASETS_REACHABLE, datasets)] if datasets is not None else []),
        (AUDIT_LEDGER_INTACT, ledger),
    ]
    conditions = [c for c in old if datasets is not None or c.get("type") != DATASETS_REACHABLE]
    for type, decision in decided:
        conditions = set_decision(conditions, type, decision, generation=generation, now=now)
    return conditions


def contract_events(
    old: Sequence[ConditionDict],
    new: Sequence[ConditionDict],
    *,
    previous_phase: str | None,
    phase: str,
) -> list[ConditionEvent]:
    """A contract's Events: its conditions' changes, the Active condition's saying the phase
    ("Proposed -> Active: ...") and a Warning exactly when the contract ended; the clean room's
    condition turning False warns only while the contract is Active (else a closed clean room is
    what the contract's end means)."""
    normal = () if is_true(list(new), ACTIVE) else (CLEAN_ROOM_READY,)
    events = condition_events(old, new, normal=normal)
    said = f"{previous_phase or 'new'} -> {phase}" if phase != previous_phase else phase
    return _summarised(events, ACTIVE, said, phase in ENDED_PHASES)


def release_events(
    old: Sequence[ConditionDict],
    new: Sequence[ConditionDict],
    *,
    phase: str,
    failed: Collection[str],
    normal: Collection[str] = (),
) -> list[ConditionEvent]:
    """A release's Events: its conditions' changes, each saying the phase it is in, a Warning
    exactly when the release ended refused or rejected (`failed`)."""
    events = condition_events(old, new, normal=normal)
    return [
        ConditionEvent(e.type, e.reason, f"{phase}: {e.message}", phase in failed) for e in events
    ]
