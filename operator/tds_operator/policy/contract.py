"""Decisions about a DataContract: its phase at an instant, whether its terms fit the hub.

Each policy is `fn(input) -> Decision`; a chain returns the first that fails (cert-manager's
certificate controller reads the same way). The webhook and the reconciler call the same chains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from tds_operator.api.datacontract import (
    CONSENT_UNSIGNED,
    GPU_BUDGET_EXHAUSTED,
    ContractPhase,
    ContractUsage,
    DataContractSpec,
    Party,
)
from tds_operator.api.rfc3339 import parse
from tds_operator.policy.conditions import timestamp
from tds_operator.policy.decision import Decision
from tds_operator.policy.digest import sha256_digest
from tds_operator.policy.rules import HubRules

PARTIES: Final[tuple[Party, Party]] = ("provider", "consumer")

TERMINAL_PHASES: Final = frozenset({"Expired", "Revoked", "Exhausted"})
"""Phases a contract never leaves: the first one reached is kept."""


def spec_digest(spec: DataContractSpec) -> str:
    """`sha256:<hex>` of the terms (the spec without consent and revoked), as canonical JSON."""
    return sha256_digest(spec.contract_terms())


def approved_by(spec: DataContractSpec, party: Party) -> bool:
    """Whether that party's consent is set in the spec."""
    return (spec.consent.provider if party == "provider" else spec.consent.consumer).approved


def party_space(spec: DataContractSpec, party: Party) -> str:
    """The name of that party's DataSpace."""
    return spec.provider.space if party == "provider" else spec.consumer.space


# --- Phase -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhaseDecision:
    """The contract's phase now, why, and the instant it will next change by the clock alone."""

    phase: ContractPhase
    reason: str
    message: str
    next_transition: datetime | None = None

    @property
    def is_active(self) -> bool:
        """Whether jobs may run under the contract."""
        return self.phase == "Active"


def contract_phase(
    spec: DataContractSpec,
    usage: ContractUsage | None,
    now: datetime,
    hub_rules: HubRules,
    *,
    previous_phase: ContractPhase | None,
    jobs_running: int,
) -> PhaseDecision:
    """The phase at `now`: Revoked, Expired, Exhausted, Proposed, Suspended or Active, first wins.

    A terminal phase in `previous_phase` is kept whatever happens later. `jobs_running` counts the
    contract's admitted jobs that have not finished: reaching spec.maxJobs ends the contract only
    once the last of them is done, because the limit caps admissions, not running work.
    """
    used = usage or ContractUsage()
    if previous_phase in TERMINAL_PHASES:
        return _still_terminal(previous_phase, spec, used, now, jobs_running)
    ended = _revoked(spec) or _expired(spec, now) or _exhausted(spec, used, jobs_running)
    if ended is not None:
        return ended
    return _waiting(spec, now) or _suspended_by_hub(spec, hub_rules) or _in_force(spec)


def _waiting(spec: DataContractSpec, now: datetime) -> PhaseDecision | None:
    """Proposed: a party has not consented yet, or the window has not opened."""
    not_after = spec.validity.not_after
    missing = [party for party in PARTIES if not approved_by(spec, party)]
    if missing:
        return PhaseDecision(
            "Proposed",
            "AwaitingConsent",
            "waiting for the consent of "
            + " and ".join(f"the {party} ({party_space(spec, party)})" for party in missing)
            + f"; without it the contract expires unused at {timestamp(not_after)}",
            next_transition=not_after,
        )
    not_before = spec.validity.not_before
    if not_before is not None and now < not_before:
        return PhaseDecision(
            "Proposed",
            "NotYetValid",
            f"both parties consented; the contract becomes Active at {timestamp(not_before)}",
            next_transition=not_before,
        )
    return None


def _suspended_by_hub(spec: DataContractSpec, hub_rules: HubRules) -> PhaseDecision | None:
    suspended = sorted({spec.provider.space, spec.consumer.space} & hub_rules.suspended_spaces)
    if not suspended:
        return None
    return PhaseDecision(
        "Suspended",
        "SuspendedByHub",
        f"the hub has suspended DataSpace {', '.join(suspended)}: no job may run under the "
        "contract until the hub lifts the suspension",
        next_transition=spec.validity.not_after,
    )


def _in_force(spec: DataContractSpec) -> PhaseDecision:
    not_after = spec.validity.not_after
    return PhaseDecision(
        "Active",
        "TermsInForce",
        f"both parties consented; the contract is valid until {timestamp(not_after)}",
        next_transition=not_after,
    )


def _revoked(spec: DataContractSpec) -> PhaseDecision | None:
    if not spec.revoked:
        return None
    return PhaseDecision(
        "Revoked", "Revoked", "spec.revoked is true: a party has ended the contract for good"
    )


def _expired(spec: DataContractSpec, now: datetime) -> PhaseDecision | None:
    if now < spec.validity.not_after:
        return None
    return PhaseDecision(
        "Expired",
        "ValidityEnded",
        f"the validity window ended at {timestamp(spec.validity.not_after)} "
        "(spec.validity.notAfter)",
    )


def _exhausted(
    spec: DataContractSpec, usage: ContractUsage, jobs_running: int
) -> PhaseDecision | None:
    budget = spec.compute.max_gpu_hours
    if usage.gpu_hours >= budget:
        return PhaseDecision(
            "Exhausted",
            GPU_BUDGET_EXHAUSTED,
            f"{usage.gpu_hours:g} of {budget:g} GPU-hours used (spec.compute.maxGpuHours)",
        )
    if spec.max_jobs is not None and usage.jobs >= spec.max_jobs and jobs_running == 0:
        return PhaseDecision(
            "Exhausted",
            "JobLimitReached",
            f"{usage.jobs} of {spec.max_jobs} jobs used (spec.maxJobs) and none is running",
        )
    return None


def _still_terminal(
    previous: ContractPhase,
    spec: DataContractSpec,
    usage: ContractUsage,
    now: datetime,
    jobs_running: int,
) -> PhaseDecision:
    """The terminal phase already reached, with its own reason while that reason still holds."""
    again = {
        "Revoked": lambda: _revoked(spec),
        "Expired": lambda: _expired(spec, now),
        "Exhausted": lambda: _exhausted(spec, usage, jobs_running),
    }[previous]()
    if again is not None:
        return again
    return PhaseDecision(
        previous, "PhaseIsFinal", f"the contract reached {previous}, which is final"
    )


def effective_phase(
    phase: PhaseDecision, terms: Decision, unsigned: Sequence[str]
) -> PhaseDecision:
    """The phase with what the clock alone cannot see: a contract whose terms no longer hold is
    Suspended; consent set in the spec without a signature keeps it Proposed."""
    if phase.phase == "Proposed" and unsigned:
        return PhaseDecision(
            "Proposed",
            CONSENT_UNSIGNED,
            f"spec.consent.{' and spec.consent.'.join(unsigned)} is approved but was not "
            "signed by an owner through the admission webhook; set it again as an owner",
            phase.next_transition,
        )
    if phase.phase in ("Active", "Suspended") and not terms.allowed:
        return PhaseDecision("Suspended", terms.reason, terms.message, phase.next_transition)
    return phase


def ends_now(contract: Mapping[str, Any] | None, now: datetime) -> bool:
    """Whether the contract (as live) is to end at its next reconcile, and stop its jobs: it has
    not ended yet, but a party revoked it, its notAfter has passed, or its recorded usage reached
    its GPU budget. Its reconcile is then urgent (see handlers/queue.py)."""
    if contract is None:
        return False
    spec, status = contract.get("spec") or {}, contract.get("status") or {}
    if status.get("phase") in TERMINAL_PHASES:
        return False
    not_after = parse(str((spec.get("validity") or {}).get("notAfter") or ""))
    used = float((status.get("usage") or {}).get("gpuHours") or 0.0)
    budget = (spec.get("compute") or {}).get("maxGpuHours")
    return (
        bool(spec.get("revoked"))
        or (not_after is not None and not_after <= now)
        or (budget is not None and used >= float(budget))
    )


def validity_passed(contract: Mapping[str, Any] | None, now: datetime) -> Decision | None:
    """Why the contract's jobs stop at `now` if its notAfter has passed: they stop at once, as
    they do at the budget, without waiting for the contract's reconcile to turn it Expired."""
    spec = (contract or {}).get("spec") or {}
    not_after = parse(str((spec.get("validity") or {}).get("notAfter") or ""))
    if contract is None or not_after is None or now < not_after:
        return None
    name = contract["metadata"]["name"]
    return Decision.deny(
        "ValidityEnded",
        f"DataContract {name} expired: the validity window ended at {timestamp(not_after)} "
        "(spec.validity.notAfter)",
    )
