"""DataContract reconciler: phase at the exact instant, signatures, clean room, audit ledger
and its signed checkpoint in both parties' namespaces.

Each reconcile reads as gather (the contract, its parties, jobs and ledger) → decide (phase and
terms, pure) → act (open or close the clean room) → record (the ledger) → report (typed status,
an Event per condition that changed) → the next wake-up at the instant the phase changes by the
clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from tds_operator import API_VERSION
from tds_operator.api.common import INVALID_SPEC
from tds_operator.api.datacontract import (
    CLEAN_ROOM_CLOSING,
    LEDGER_VERIFIED,
    TERMS_VALID,
    AuditHead,
    DataContract,
    DataContractStatus,
)
from tds_operator.api.resources import DATA_CONTRACT, Manifest
from tds_operator.audit.chain import AuditEntry, AuditEvent, head_of
from tds_operator.audit.events import grant_event, phase_event, stamp_events
from tds_operator.audit.store import LedgerBroken
from tds_operator.audit.usage import contract_usage, job_load, jobs_in_flight
from tds_operator.desired.grants import grant_details, granted_datasets
from tds_operator.desired.mirror import contract_mirrors
from tds_operator.handlers.cleanroom import CleanRoom
from tds_operator.handlers.context import Operator, utcnow
from tds_operator.handlers.gather import ContractInputs, contract_inputs
from tds_operator.handlers.kueue import ensure_queues
from tds_operator.handlers.mirrors import ContractMirrors
from tds_operator.handlers.objects import (
    ensure_finalizer,
    post_events,
    remove_finalizer,
    validation_message,
    write_status,
)
from tds_operator.metrics import ContractFigures, forget_contract, report_contract
from tds_operator.policy.condition_events import condition_events
from tds_operator.policy.conditions import set_decision, timestamp
from tds_operator.policy.contract import (
    PhaseDecision,
    contract_phase,
    effective_phase,
)
from tds_operator.policy.datasets import datasets_reachable
from tds_operator.policy.decision import Decision
from tds_operator.policy.reports import contract_conditions, contract_events
from tds_operator.policy.rules import HubRules
from tds_operator.policy.signatures import consent_stamps, signed_spec, unsigned_consents
from tds_operator.policy.terms import validate_contract_terms

# status.signatures holds at most this many consents, the latest.
MAX_SIGNATURES_SHOWN = 16
# Wake a little after an instant so that `now >= instant` holds when the reconcile runs.
WAKE_MARGIN_SECONDS = 0.02
# How soon to look again while an earlier clean room is still being removed (nothing watches it).
CLEAN_ROOM_CLOSING_RETRY_SECONDS = 1.0
# How soon an Active contract whose datasets are not all there looks again (nothing watches them).
DATASETS_RECHECK_SECONDS = 5.0


@dataclass(frozen=True)
class ContractDecision:
    """What must be true of a contract now, and what the ledger must record about it."""

    phase: PhaseDecision
    terms: Decision
    events: list[AuditEvent]
    datasets: Decision | None = None  # while Active: is each dataset's Service or claim there


def decide(
    inputs: ContractInputs, previous_phase: str | None, rules: HubRules, now: datetime
) -> ContractDecision:
    """The contract's phase and terms at `now`, and the consents and phase change to record."""
    contract, name = inputs.contract, inputs.contract.metadata.name or ""
    spec = contract.spec
    phase = contract_phase(
        signed_spec(spec, inputs.signatures),
        contract_usage(inputs.recorded, inputs.jobs),
        now,
        rules,
        previous_phase=previous_phase,  # type: ignore[arg-type]
        jobs_running=jobs_in_flight(inputs.recorded, inputs.jobs),
    )
    terms = validate_contract_terms(
        spec,
        inputs.provider.spec if inputs.provider else None,
        inputs.consumer.spec if inputs.consumer else None,
        rules,
        now,
    )
    phase = effective_phase(phase, terms, unsigned_consents(spec, inputs.signatures))
    events = stamp_events(name, inputs.signatures)
    change = phase_event(name, inputs.recorded, phase.phase, phase.reason, now)
    datasets = (
        datasets_reachable(
            contract, inputs.provider, inputs.dataset_services, inputs.dataset_claims
        )
        if phase.is_active and inputs.provider
        else None
    )
    return ContractDecision(phase, terms, [*events, *([change] if change else [])], datasets)


def contract_figures(
    inputs: ContractInputs, decision: ContractDecision, ledger_intact: bool
) -> ContractFigures:
    """The contract's gauges, from what its reconcile gathered and decided."""
    spec = inputs.contract.spec
    load = job_load(inputs.jobs)
    return ContractFigures(
        provider=spec.provider.space,
        consumer=spec.consumer.space,
        phase=decision.phase.phase,
        gpu_hours_used=contract_usage(inputs.recorded, inputs.jobs).gpu_hours,
        gpu_hours_budget=spec.compute.max_gpu_hours,
        max_concurrent_gpus=spec.compute.max_concurrent_gpus,
        gpus_held=load.gpus_held,
        jobs_queued=load.queued,
        jobs_running=load.running,
        not_after=spec.validity.not_after,
        ledger_intact=ledger_intact,
    )


class ContractReconciler:
    """Makes the world match one DataContract."""

    def __init__(self, op: Operator) -> None:
        self.op = op
        self.kube = op.kube
        self.clean_room = CleanRoom(op.kube, op.rules)
        self.mirrors = ContractMirrors(op.kube)

    async def __call__(self, name: str) -> float | None:
        body = await self.kube.get(API_VERSION, DATA_CONTRACT, name)
        if body is None:
            forget_contract(name)
            return None
        if body["metadata"].get("deletionTimestamp"):
            await self._let_go(name, body)
            return None
        await self.clean_room.cut_off_if_revoked(body)  # access first, before the gather
        await ensure_finalizer(self.kube, body)
        try:
            contract = DataContract.model_validate(body)
        except ValidationError as error:
            await self._report_invalid(body, Decision.deny(INVALID_SPEC, validation_message(error)))
            return None
        inputs = await contract_inputs(self.op, body, contract)
        previous_phase = (body.get("status") or {}).get("phase")
        decision = decide(inputs, previous_phase, self.op.rules, utcnow())
        # Access first, the record of it second: a stop takes effect before any bookkeeping, and
        # an interrupted reconcile records the change on the next run (ids make that a no-op).
        clean_room, grant = await self._access(name, contract, inputs, decision.phase.is_active)
        chain, ledger = await self._record(name, [*decision.events, *([grant] if grant else [])])
        status = await self._report(body, inputs, decision, clean_room, chain, ledger)
        # Each party's copy, after the status it repeats.
        uid = body["metadata"]["uid"]
        mirrors = contract_mirrors(contract, uid, status, body.get("status") or {})
        await self.mirrors.converge(name, uid, mirrors)
        if chain:
            # Each party holds the operator's signature over the head it may check its copy of
            # the ledger against (only once the ledger verified: a broken one is not vouched for),
            # after the status, which it does not hold up.
            parties = [contract.spec.provider.space, contract.spec.consumer.space]
            await self.op.checkpoints.publish(name, uid, parties, chain, utcnow())
        report_contract(name, contract_figures(inputs, decision, ledger.allowed))
        if self.op.kueue and decision.phase.is_active and clean_room.allowed:
            # With Kueue the consumer organisation joins the GPU pool (its ClusterQueue, open to
            # this clean room) as soon as it may run jobs, not only once its first job starts
            # (after the status: a failure here is retried, and holds up no report).
            await ensure_queues(self.op, contract)
        return _next_wake(decision, clean_room.reason)

    async def _access(
        self, name: str, contract: DataContract, inputs: ContractInputs, active: bool
    ) -> tuple[Decision, AuditEvent | None]:
        """Open or close the clean room; the grant's ledger event, if the grant changed."""
        clean_room = await self.clean_room.converge(
            contract, inputs.provider, inputs.dataset_services, active, api_server=inputs.api_server
        )
        granted = granted_datasets(contract, inputs.provider) if inputs.provider else []
        grant = grant_event(
            name,
            inputs.recorded,
            granted if clean_room.allowed else [],
            grant_details(contract),
            utcnow(),
        )
        return clean_room, grant

    async def _let_go(self, name: str, body: Manifest) -> None:
        """A deleted contract: its clean room closed for good, then its finalizer removed."""
        forget_contract(name)
        self.op.checkpoints.forget(name)
        self.mirrors.forget(name)
        provider_space = ((body.get("spec") or {}).get("provider") or {}).get("space")
        uid = body["metadata"].get("uid", "")
        await self.clean_room.close(name, uid, provider_space, force_remove=True)
        await remove_finalizer(self.kube, body)

    async def _record(
        self, name: str, events: list[AuditEvent]
    ) -> tuple[list[AuditEntry] | None, Decision]:
        """Append to the ledger, unless it was tampered with: then say so and leave it as it is
        (status.audit keeps the head it recorded, so `audit verify` keeps finding the damage)."""
        try:
            chain = await self.op.ledger.record(name, events)
        except LedgerBroken as broken:
            result = broken.result
            return None, Decision.deny(
                result.reason,
                f"the audit ledger fails verification at entry {result.first_bad_sequence}: "
                f"{result.message}; nothing more is recorded until it is restored "
                f"(python -m tds_operator audit verify {name})",
            )
        return chain, Decision.allow(
            LEDGER_VERIFIED, f"all {len(chain)} entries of the audit ledger are intact"
        )

    async def _report(
        self,
        body: Manifest,
        inputs: ContractInputs,
        decision: ContractDecision,
        clean_room: Decision,
        chain: list[AuditEntry] | None,
        ledger: Decision,
    ) -> DataContractStatus:
        """Status from the decisions, written once, then an Event per condition that changed;
        the status. A clean room whose datasets are missing is not ready."""
        now = utcnow()
        status = body.get("status") or {}
        generation = body["metadata"].get("generation")
        phase = decision.phase
        old = status.get("conditions") or []
        room = (clean_room, decision.datasets)
        conditions = contract_conditions(old, phase, decision.terms, room, ledger, generation, now)
        new_status = DataContractStatus(
            observed_generation=generation,
            phase=phase.phase,
            conditions=conditions,
            expires_at=inputs.contract.spec.validity.not_after,
            signatures=consent_stamps(inputs.signatures)[-MAX_SIGNATURES_SHOWN:],
            usage=contract_usage(inputs.recorded, inputs.jobs),
            active_since=(
                timestamp(now) if phase.is_active and not status.get("activeSince") else None
            ),
            audit=AuditHead(head=head_of(chain), entries=len(chain)) if chain is not None else None,
        )
        self.op.contract_reports.wrote(await write_status(self.kube, body, new_status))
        was = status.get("phase")
        events = contract_events(old, conditions, previous_phase=was, phase=phase.phase)
        await post_events(self.kube, body, events)
        return new_status

    async def _report_invalid(self, body: Manifest, decision: Decision) -> None:
        """A contract that does not parse: TermsValid says why."""
        status = body.get("status") or {}
        generation = body["metadata"].get("generation")
        conditions = set_decision(
            status.get("conditions") or [],
            TERMS_VALID,
            decision,
            generation=generation,
            now=utcnow(),
        )
        await write_status(
            self.kube,
            body,
            DataContractStatus(observed_generation=generation, conditions=conditions),
        )
        await post_events(
            self.kube, body, condition_events(status.get("conditions") or [], conditions)
        )


def _next_wake(decision: ContractDecision, clean_room_reason: str | None) -> float | None:
    """Seconds until the contract's next transition (with a margin), or sooner while its clean
    room is still closing or a dataset is missing; None when nothing is due."""
    missing = decision.datasets is not None and not decision.datasets.allowed
    recheck = DATASETS_RECHECK_SECONDS if missing else None
    retry = CLEAN_ROOM_CLOSING_RETRY_SECONDS if clean_room_reason == CLEAN_ROOM_CLOSING else recheck
    next_transition = decision.phase.next_transition
    if next_transition is None:
        return retry
    wake = max(0.0, (next_transition - utcnow()).total_seconds()) + WAKE_MARGIN_SECONDS
    return wake if retry is None else min(wake, retry)
