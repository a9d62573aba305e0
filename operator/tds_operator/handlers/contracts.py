"""DataContract reconciler: phase at the exact instant, signatures, clean room, audit ledger."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import kopf
from pydantic import ValidationError

from tds_operator import API_VERSION
from tds_operator.api.datacontract import ContractUsage, DataContract, DataContractSpec
from tds_operator.api.dataspace import DataSpace, space_namespace
from tds_operator.api.resources import DATA_CONTRACT
from tds_operator.audit.chain import AuditEntry, AuditEvent, consent_entry_id
from tds_operator.audit.store import AuditLedger, LedgerBroken
from tds_operator.audit.usage import contract_usage, jobs_in_flight
from tds_operator.desired.cleanroom import (
    DATASETS_POLICY,
    EGRESS_POLICY,
    DatasetEndpoint,
    clean_room_children,
    clean_room_namespace,
    provider_policy_name,
)
from tds_operator.handlers.common import (
    OperatorContext,
    ensure_finalizer,
    record_event,
    remove_finalizer,
    utcnow,
    write_status,
)
from tds_operator.handlers.spaces import REJECTED_STATUSES, validation_message
from tds_operator.kube import Kube, KubeError, Manifest
from tds_operator.policy.conditions import (
    Decision,
    find_condition,
    set_condition,
    set_decision,
    timestamp,
)
from tds_operator.policy.contract import (
    PhaseDecision,
    contract_phase,
    spec_digest,
    validate_contract_terms,
)
from tds_operator.policy.rules import HubRules

logger = logging.getLogger(__name__)

SIGNATURES_ANNOTATION = "tds.io/signatures"
ACTIVE = "Active"
TERMS_VALID = "TermsValid"
CLEAN_ROOM_READY = "CleanRoomReady"
AUDIT_LEDGER_INTACT = "AuditLedgerIntact"
# Wake a little after an instant so that `now >= instant` holds when the reconcile runs.
WAKE_MARGIN_SECONDS = 0.02


def signatures_of(body: Manifest) -> list[dict[str, Any]]:
    """The consents the admission webhook stamped on the contract (annotation, JSON list)."""
    raw = (body["metadata"].get("annotations") or {}).get(SIGNATURES_ANNOTATION)
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return []
    return [s for s in value if isinstance(s, dict)] if isinstance(value, list) else []


def signed_spec(spec: DataContractSpec, signatures: list[dict[str, Any]]) -> DataContractSpec:
    """The spec with each consent counted only if an owner signed these very terms."""
    digest = spec_digest(spec)
    signed = {s.get("party") for s in signatures if s.get("specDigest") == digest}
    consent = spec.consent
    return spec.model_copy(
        update={
            "consent": consent.model_copy(
                update={
                    "provider": consent.provider.model_copy(
                        update={"approved": consent.provider.approved and "provider" in signed}
                    ),
                    "consumer": consent.consumer.model_copy(
                        update={"approved": consent.consumer.approved and "consumer" in signed}
                    ),
                }
            )
        }
    )


def unsigned_consents(spec: DataContractSpec, signatures: list[dict[str, Any]]) -> list[str]:
    """Parties whose approval is set in the spec without a matching signature."""
    effective = signed_spec(spec, signatures).consent
    return [
        party
        for party, given, counted in (
            ("provider", spec.consent.provider.approved, effective.provider.approved),
            ("consumer", spec.consent.consumer.approved, effective.consumer.approved),
        )
        if given and not counted
    ]


def phase_entries(chain: list[AuditEntry]) -> list[AuditEntry]:
    """The ledger's record of phase changes."""
    return [entry for entry in chain if entry.kind == "PhaseChanged"]


class ContractReconciler:
    """Makes the world match one DataContract."""

    def __init__(self, ctx: OperatorContext, ledger: AuditLedger, rules: HubRules) -> None:
        self.ctx = ctx
        self.kube: Kube = ctx.kube
        self.ledger = ledger
        self.rules = rules

    async def __call__(self, name: str) -> float | None:
        body = await self.kube.get(API_VERSION, DATA_CONTRACT, name)
        if body is None:
            return None
        if body["metadata"].get("deletionTimestamp"):
            provider_space = ((body.get("spec") or {}).get("provider") or {}).get("space")
            await self._close_clean_room(name, provider_space, force_remove=True)
            await remove_finalizer(self.kube, body)
            return None
        await ensure_finalizer(self.kube, body)
        now = utcnow()
        try:
            contract = DataContract.model_validate(body)
        except ValidationError as error:
            await self._write(
                body,
                phase=None,
                decision=Decision.deny("InvalidSpec", validation_message(error)),
                chain=None,
                now=now,
            )
            return None
        spec = contract.spec
        provider = await self._space(spec.provider.space)
        consumer = await self._space(spec.consumer.space)
        signatures = signatures_of(body)
        status = body.get("status") or {}
        previous_phase = status.get("phase")
        jobs = [
            job
            for job in await self.kube.list(API_VERSION, "TrainingJob")
            if (job.get("spec") or {}).get("contract") == name
        ]
        recorded = (await self.ledger.load(name)).entries
        usage = contract_usage(recorded, jobs)
        phase = contract_phase(
            signed_spec(spec, signatures),
            ContractUsage.model_validate(usage),
            now,
            self.rules,
            previous_phase=previous_phase,
            jobs_running=jobs_in_flight(recorded, jobs),
        )
        terms = self._terms(contract, provider, consumer, now)
        phase = _with_terms_and_signatures(phase, terms, unsigned_consents(spec, signatures))
        events = self._consent_events(name, signatures)
        phase_change = self._phase_event(name, recorded, phase, now)
        if phase_change is not None:
            events.append(phase_change)
        # Access first, the record of it second: a stop takes effect before any bookkeeping, and
        # an interrupted reconcile records the change on the next run (ids make that a no-op).
        clean_room = await self._converge_clean_room(contract, provider, phase)
        chain, ledger = await self._record(name, events)
        await self._write(
            body,
            phase=phase,
            decision=terms,
            chain=chain,
            now=now,
            signatures=signatures,
            clean_room=clean_room,
            usage=usage,
            ledger=ledger,
        )
        reported = find_condition(status.get("conditions") or [], AUDIT_LEDGER_INTACT) or {}
        if not ledger.allowed and reported.get("reason") != ledger.reason:
            await record_event(
                self.kube, body, reason=ledger.reason, message=ledger.message, warning=True
            )
        if phase.phase != previous_phase:
            await record_event(
                self.kube,
                body,
                reason=phase.reason,
                message=f"{previous_phase or 'new'} -> {phase.phase}: {phase.message}",
                warning=phase.phase in ("Revoked", "Expired", "Exhausted", "Suspended"),
            )
        if phase.next_transition is None:
            return None
        return max(0.0, (phase.next_transition - utcnow()).total_seconds()) + WAKE_MARGIN_SECONDS

    async def _record(
        self, name: str, events: list[AuditEvent]
    ) -> tuple[list[AuditEntry] | None, Decision]:
        """Append to the ledger, unless it was tampered with: then say so and leave it as it is
        (status.audit keeps the head it recorded, so `audit verify` keeps finding the damage)."""
        try:
            chain = await self.ledger.record(name, events)
        except LedgerBroken as broken:
            result = broken.result
            return None, Decision.deny(
                result.reason,
                f"the audit ledger fails verification at entry {result.first_bad_sequence}: "
                f"{result.message}; nothing more is recorded until it is restored "
                f"(python -m tds_operator audit verify {name})",
            )
        return chain, Decision.allow(
            "Verified", f"all {len(chain)} entries of the audit ledger are intact"
        )

    async def _space(self, name: str) -> DataSpace | None:
        body = await self.kube.get(API_VERSION, "DataSpace", name)
        if body is None:
            return None
        try:
            return DataSpace.model_validate(body)
        except ValidationError:
            return None

    def _terms(
        self,
        contract: DataContract,
        provider: DataSpace | None,
        consumer: DataSpace | None,
        now: datetime,
    ) -> Decision:
        return validate_contract_terms(
            contract.spec,
            provider.spec if provider else None,
            consumer.spec if consumer else None,
            self.rules,
            now,
        )

    def _consent_events(self, contract: str, signatures: list[dict[str, Any]]) -> list[AuditEvent]:
        return [
            AuditEvent(
                id=consent_entry_id(str(s.get("party")), str(s.get("specDigest"))),
                kind="Consent",
                contract=contract,
                actor=str(s.get("user")),
                at=datetime.fromisoformat(str(s.get("at")).replace("Z", "+00:00")),
                details={
                    "party": s.get("party"),
                    "groups": s.get("groups") or [],
                    "specDigest": s.get("specDigest"),
                },
            )
            for s in signatures
            if s.get("party") and s.get("specDigest") and s.get("at")
        ]

    def _phase_event(
        self, contract: str, recorded: list[AuditEntry], phase: PhaseDecision, now: datetime
    ) -> AuditEvent | None:
        """The ledger entry of a phase change, or None if the ledger already shows this phase.

        The id is the change's position among phase changes: re-appending it after a restart is
        a no-op, while a later return to an earlier phase is still recorded.
        """
        changes = phase_entries(recorded)
        if changes and changes[-1].details.get("phase") == phase.phase:
            return None
        return AuditEvent(
            id=f"phase/{len(changes) + 1}/{phase.phase}",
            kind="PhaseChanged",
            contract=contract,
            actor="tds-operator",
            at=now,
            details={"phase": phase.phase, "reason": phase.reason},
        )

    async def _converge_clean_room(
        self, contract: DataContract, provider: DataSpace | None, phase: PhaseDecision
    ) -> Decision:
        name = contract.metadata.name or ""
        if not phase.is_active or provider is None:
            await self._close_clean_room(name, contract.spec.provider.space, force_remove=False)
            return Decision.deny(
                "ContractNotActive", "no clean room while the contract is not Active"
            )
        endpoints = await self._dataset_endpoints(contract, provider)
        for child in clean_room_children(contract, endpoints):
            try:
                await self.kube.ensure(child)
            except KubeError as error:
                if error.status not in REJECTED_STATUSES:
                    raise
                return Decision.deny(
                    "CleanRoomRejected",
                    f"the API server rejected {child['kind']} {child['metadata']['name']}: "
                    f"{error.message}",
                )
        await self._remove_stale_policies(contract, endpoints)
        return Decision.allow(
            "CleanRoomOpen",
            f"clean room {clean_room_namespace(name)} may reach "
            + (", ".join(sorted(endpoints)) or "no network dataset")
            + (
                f" and {len(contract.spec.egress)} egress destination(s)"
                if contract.spec.egress
                else ""
            ),
        )

    async def _dataset_endpoints(
        self, contract: DataContract, provider: DataSpace
    ) -> dict[str, DatasetEndpoint]:
        endpoints: dict[str, DatasetEndpoint] = {}
        namespace = space_namespace(provider.metadata.name or "")
        for dataset_name in contract.spec.provider.datasets:
            dataset = provider.spec.dataset(dataset_name)
            if dataset is None or dataset.source.service is None:
                continue
            source = dataset.source.service
            service = await self.kube.get("v1", "Service", source.name, namespace)
            endpoints[dataset_name] = _endpoint(service, source.port)
        return endpoints

    async def _remove_stale_policies(
        self, contract: DataContract, endpoints: dict[str, DatasetEndpoint]
    ) -> None:
        namespace = clean_room_namespace(contract.metadata.name or "")
        if not endpoints:
            await self.kube.delete(
                "networking.k8s.io/v1", "NetworkPolicy", DATASETS_POLICY, namespace
            )
        if not contract.spec.egress:
            await self.kube.delete(
                "networking.k8s.io/v1", "NetworkPolicy", EGRESS_POLICY, namespace
            )

    async def _close_clean_room(
        self, contract: str, provider: str | None, *, force_remove: bool
    ) -> None:
        """Cut the clean room's access at once; remove the clean room once no job runs in it
        (at once when `force_remove`)."""
        namespace = clean_room_namespace(contract)
        live = await self.kube.get("v1", "Namespace", namespace)
        if provider:
            await self.kube.delete(
                "networking.k8s.io/v1",
                "NetworkPolicy",
                provider_policy_name(contract),
                space_namespace(provider),
            )
        if live is None:
            return
        for policy in (DATASETS_POLICY, EGRESS_POLICY):
            await self.kube.delete("networking.k8s.io/v1", "NetworkPolicy", policy, namespace)
        active_jobs = [
            job
            for job in await self.kube.list("batch/v1", "Job", namespace)
            if (job.get("status") or {}).get("active")
        ]
        if (force_remove or not active_jobs) and not live["metadata"].get("deletionTimestamp"):
            await self.kube.delete("v1", "Namespace", namespace)

    async def _write(
        self,
        body: Manifest,
        *,
        phase: PhaseDecision | None,
        decision: Decision,
        chain: list[AuditEntry] | None,
        now: datetime,
        signatures: list[dict[str, Any]] | None = None,
        clean_room: Decision | None = None,
        usage: dict[str, float | int] | None = None,
        ledger: Decision | None = None,
    ) -> None:
        status = body.get("status") or {}
        generation = body["metadata"].get("generation")
        conditions = set_decision(
            status.get("conditions") or [], TERMS_VALID, decision, generation=generation, now=now
        )
        new_status: dict[str, Any] = {"observedGeneration": generation}
        if phase is not None:
            conditions = set_condition(
                conditions,
                type=ACTIVE,
                status=phase.is_active,
                reason=phase.reason,
                message=phase.message,
                generation=generation,
                now=now,
            )
            new_status["phase"] = phase.phase
            if phase.is_active and not status.get("activeSince"):
                new_status["activeSince"] = timestamp(now)
        for kind, outcome in ((CLEAN_ROOM_READY, clean_room), (AUDIT_LEDGER_INTACT, ledger)):
            if outcome is not None:
                conditions = set_decision(conditions, kind, outcome, generation=generation, now=now)
        new_status["conditions"] = conditions
        spec = body.get("spec") or {}
        not_after = (spec.get("validity") or {}).get("notAfter")
        if not_after:
            new_status["expiresAt"] = not_after
        if signatures is not None:
            new_status["signatures"] = signatures
        if chain is not None:
            new_status["audit"] = {"head": chain[-1].hash if chain else None, "entries": len(chain)}
        if usage is not None:
            new_status["usage"] = usage
        await write_status(self.kube, body, new_status)


def _endpoint(service: Manifest | None, port: int) -> DatasetEndpoint:
    """The pods' port and labels behind a dataset's Service port (the port itself if unknown)."""
    if service is None:
        return DatasetEndpoint(port)
    spec = service.get("spec") or {}
    target = port
    for entry in spec.get("ports") or []:
        if entry.get("port") == port and isinstance(entry.get("targetPort"), int):
            target = entry["targetPort"]
    return DatasetEndpoint(target, dict(spec.get("selector") or {}))


def _with_terms_and_signatures(
    phase: PhaseDecision, terms: Decision, unsigned: list[str]
) -> PhaseDecision:
    """A contract whose terms no longer hold is Suspended; unsigned consent keeps it Proposed."""
    if phase.phase == "Proposed" and unsigned:
        return PhaseDecision(
            "Proposed",
            "ConsentUnsigned",
            f"spec.consent.{' and spec.consent.'.join(unsigned)} is approved but was not "
            "signed by an owner through the admission webhook; set it again as an owner",
            phase.next_transition,
        )
    if phase.phase in ("Active", "Suspended") and not terms.allowed:
        return PhaseDecision("Suspended", terms.reason, terms.message, phase.next_transition)
    return phase


@kopf.on.event("tds.io", "v1alpha1", "datacontracts")
async def contract_changed(name: str, memo: kopf.Memo, **_: Any) -> None:
    """Any change to a DataContract: reconcile it."""
    memo.ctx.enqueue(DATA_CONTRACT, name)


@kopf.on.event("tds.io", "v1alpha1", "dataspaces", id="contracts-of-space")
async def space_changed_for_contracts(name: str, memo: kopf.Memo, **_: Any) -> None:
    """A space changed (datasets, existence): reconcile the contracts that name it."""
    ctx: OperatorContext = memo.ctx
    for contract in await ctx.kube.list(API_VERSION, DATA_CONTRACT):
        spec = contract.get("spec") or {}
        if name in (
            (spec.get("provider") or {}).get("space"),
            (spec.get("consumer") or {}).get("space"),
        ):
            ctx.enqueue(DATA_CONTRACT, contract["metadata"]["name"])
