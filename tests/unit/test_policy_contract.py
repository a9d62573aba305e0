"""A contract's phase at an instant, its terms against the hub, and the digest of its terms."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.hubkit.manifests import (
    BEFORE_WINDOW,
    IN_WINDOW,
    NOT_AFTER,
    NOT_BEFORE,
    cmcc,
    consented,
    contract_spec,
    revoked,
    sgcc,
    with_consent,
)
from tds_operator.api.datacontract import ContractPhase, ContractUsage, DataContractSpec, Signature
from tds_operator.policy.contract import (
    TERMINAL_PHASES,
    PhaseDecision,
    contract_phase,
    effective_phase,
    spec_digest,
)
from tds_operator.policy.decision import Decision
from tds_operator.policy.digest import canonical_json
from tds_operator.policy.rules import HubRules
from tds_operator.policy.terms import validate_contract_terms

pytestmark = pytest.mark.unit

RULES = HubRules()
US = timedelta(microseconds=1)


def phase_of(
    spec: DataContractSpec,
    now: datetime = IN_WINDOW,
    *,
    gpu_hours: float = 0.0,
    jobs: int = 0,
    jobs_running: int = 0,
    previous: ContractPhase | None = None,
    rules: HubRules = RULES,
) -> PhaseDecision:
    usage = ContractUsage(gpu_hours=gpu_hours, jobs=jobs)
    return contract_phase(
        spec, usage, now, rules, previous_phase=previous, jobs_running=jobs_running
    )


# --- Phase -------------------------------------------------------------------------------------


def test_a_contract_nobody_approved_is_proposed_until_it_would_expire() -> None:
    decision = phase_of(contract_spec())
    assert (decision.phase, decision.reason) == ("Proposed", "AwaitingConsent")
    assert "the provider (sgcc) and the consumer (cmcc)" in decision.message
    assert decision.next_transition == NOT_AFTER


def test_the_message_names_only_the_party_still_to_consent() -> None:
    decision = phase_of(with_consent(contract_spec(), provider=True))
    assert decision.reason == "AwaitingConsent"
    assert "the consumer (cmcc)" in decision.message
    assert "provider" not in decision.message


def test_consented_but_early_is_proposed_until_not_before() -> None:
    decision = phase_of(consented(), BEFORE_WINDOW)
    assert (decision.phase, decision.reason) == ("Proposed", "NotYetValid")
    assert decision.next_transition == NOT_BEFORE
    assert "2026-12-01T00:00:00Z" in decision.message


def test_consented_within_the_window_is_active_until_not_after() -> None:
    decision = phase_of(consented())
    assert (decision.phase, decision.reason) == ("Active", "TermsInForce")
    assert decision.is_active
    assert decision.phase not in TERMINAL_PHASES
    assert decision.next_transition == NOT_AFTER


def test_without_not_before_a_contract_is_active_as_soon_as_both_consent() -> None:
    spec = consented(contract_spec(validity={"notAfter": "2027-03-01T00:00:00Z"}))
    assert phase_of(spec, BEFORE_WINDOW).phase == "Active"


@pytest.mark.parametrize(
    ("now", "phase"),
    [
        (NOT_BEFORE - US, "Proposed"),
        (NOT_BEFORE, "Active"),
        (NOT_AFTER - US, "Active"),
        (NOT_AFTER, "Expired"),
    ],
)
def test_the_window_includes_not_before_and_excludes_not_after(
    now: datetime, phase: ContractPhase
) -> None:
    assert phase_of(consented(), now).phase == phase


def test_an_expired_contract_names_the_end_and_schedules_nothing() -> None:
    decision = phase_of(consented(), NOT_AFTER)
    assert (decision.phase, decision.reason) == ("Expired", "ValidityEnded")
    assert "2027-03-01T00:00:00Z" in decision.message
    assert decision.next_transition is None
    assert decision.phase in TERMINAL_PHASES


def test_a_proposal_nobody_approved_still_expires() -> None:
    assert phase_of(contract_spec(), NOT_AFTER).phase == "Expired"


def test_revocation_beats_everything() -> None:
    spec = revoked(consented())
    decision = phase_of(spec, NOT_AFTER + timedelta(days=1), gpu_hours=999, jobs=20)
    assert (decision.phase, decision.reason) == ("Revoked", "Revoked")
    assert decision.next_transition is None


def test_expiry_beats_exhaustion() -> None:
    assert phase_of(consented(), NOT_AFTER, gpu_hours=500).phase == "Expired"


@pytest.mark.parametrize(("gpu_hours", "phase"), [(499.99, "Active"), (500, "Exhausted")])
def test_the_gpu_budget_is_exhausted_when_fully_used(gpu_hours: float, phase: str) -> None:
    assert phase_of(consented(), gpu_hours=gpu_hours).phase == phase


def test_gpu_exhaustion_says_how_much_was_used() -> None:
    decision = phase_of(consented(), gpu_hours=512.5)
    assert decision.reason == "GpuBudgetExhausted"
    assert "512.5 of 500 GPU-hours" in decision.message


def test_the_job_limit_lets_the_last_admitted_job_finish() -> None:
    running = phase_of(consented(), jobs=20, jobs_running=1)
    assert running.phase == "Active"
    done = phase_of(consented(), jobs=20, jobs_running=0)
    assert (done.phase, done.reason) == ("Exhausted", "JobLimitReached")
    assert "20 of 20 jobs" in done.message


def test_without_a_job_limit_any_number_of_jobs_is_fine() -> None:
    spec = consented(contract_spec(maxJobs=None))
    assert phase_of(spec, jobs=10_000).phase == "Active"


def test_exhaustion_is_checked_before_consent() -> None:
    assert phase_of(with_consent(contract_spec(), provider=True), gpu_hours=500).phase == (
        "Exhausted"
    )


def test_missing_usage_counts_as_none_used() -> None:
    decision = contract_phase(
        consented(), None, IN_WINDOW, RULES, previous_phase=None, jobs_running=0
    )
    assert decision.phase == "Active"


@pytest.mark.parametrize("suspended", ["sgcc", "cmcc"])
def test_the_hub_suspends_contracts_of_a_suspended_space(suspended: str) -> None:
    rules = HubRules(suspended_spaces=frozenset({suspended, "cma"}))
    decision = phase_of(consented(), rules=rules)
    assert (decision.phase, decision.reason) == ("Suspended", "SuspendedByHub")
    assert f"DataSpace {suspended}" in decision.message
    assert "cma" not in decision.message
    assert decision.next_transition == NOT_AFTER


def test_suspension_of_another_space_does_not_matter() -> None:
    rules = HubRules(suspended_spaces=frozenset({"cma"}))
    assert phase_of(consented(), rules=rules).phase == "Active"


def test_a_suspended_space_cannot_make_an_unconsented_or_early_contract_suspended() -> None:
    rules = HubRules(suspended_spaces=frozenset({"sgcc"}))
    assert phase_of(contract_spec(), rules=rules).reason == "AwaitingConsent"
    assert phase_of(consented(), BEFORE_WINDOW, rules=rules).reason == "NotYetValid"


def test_lifting_a_suspension_makes_the_contract_active_again() -> None:
    decision = phase_of(consented(), previous="Suspended")
    assert decision.phase == "Active"


@pytest.mark.parametrize(
    ("previous", "reason"),
    [("Expired", "ValidityEnded"), ("Exhausted", "GpuBudgetExhausted")],
)
def test_a_terminal_phase_keeps_its_own_reason_after_a_later_revocation(
    previous: ContractPhase, reason: str
) -> None:
    decision = phase_of(revoked(consented()), NOT_AFTER, gpu_hours=500, previous=previous)
    assert (decision.phase, decision.reason) == (previous, reason)


@pytest.mark.parametrize("previous", sorted(TERMINAL_PHASES))
def test_a_terminal_phase_never_goes_back(previous: ContractPhase) -> None:
    # Nothing that made the phase terminal holds any more (clock stepped back, usage reset).
    decision = phase_of(consented(), previous=previous)
    assert (decision.phase, decision.reason) == (previous, "PhaseIsFinal")
    assert decision.next_transition is None


def test_a_non_terminal_previous_phase_is_no_obstacle() -> None:
    assert phase_of(consented(), NOT_AFTER, previous="Active").phase == "Expired"


@settings(max_examples=200)
@given(
    steps=st.lists(
        st.tuples(
            st.integers(min_value=-30, max_value=120),  # days after notBefore
            st.booleans(),  # provider approved
            st.booleans(),  # consumer approved
            st.booleans(),  # revoked
            st.floats(min_value=0, max_value=600),  # gpu hours
            st.integers(min_value=0, max_value=25),  # jobs
            st.integers(min_value=0, max_value=2),  # jobs running
        ),
        min_size=1,
        max_size=12,
    )
)
def test_once_terminal_always_terminal_whatever_comes_next(steps: list[Any]) -> None:
    previous: ContractPhase | None = None
    for days, provider, consumer, is_revoked, gpu_hours, jobs, running in steps:
        spec = with_consent(contract_spec(), provider=provider, consumer=consumer)
        spec = revoked(spec) if is_revoked else spec
        now = NOT_BEFORE + timedelta(days=days)
        decision = phase_of(
            spec, now, gpu_hours=gpu_hours, jobs=jobs, jobs_running=running, previous=previous
        )
        if previous in TERMINAL_PHASES:
            assert decision.phase == previous
        assert (decision.next_transition is None) == (decision.phase in TERMINAL_PHASES)
        if decision.next_transition is not None:
            assert decision.next_transition > now
        previous = decision.phase


# --- Terms -------------------------------------------------------------------------------------


def terms(
    spec: DataContractSpec | None = None,
    *,
    provider: Any = "sgcc",
    consumer: Any = "cmcc",
    rules: HubRules = RULES,
    now: datetime = BEFORE_WINDOW,
) -> Any:
    return validate_contract_terms(
        spec or contract_spec(),
        sgcc() if provider == "sgcc" else provider,
        cmcc() if consumer == "cmcc" else consumer,
        rules,
        now,
    )


def test_terms_that_fit_the_spaces_and_the_hub_are_valid() -> None:
    decision = terms()
    assert decision.allowed
    assert decision.reason == "TermsValid"


@pytest.mark.parametrize(
    ("provider", "consumer", "field", "name"),
    [(None, "cmcc", "spec.provider.space", "sgcc"), ("sgcc", None, "spec.consumer.space", "cmcc")],
)
def test_a_missing_space_is_unknown(provider: Any, consumer: Any, field: str, name: str) -> None:
    decision = terms(provider=provider, consumer=consumer)
    assert (decision.allowed, decision.reason) == (False, "UnknownSpace")
    assert decision.message.startswith(f"{field}: DataSpace {name} does not exist")


def test_a_dataset_the_provider_does_not_offer_is_unknown() -> None:
    spec = contract_spec(provider={"space": "sgcc", "datasets": ["grid-load-2025", "smart-meters"]})
    decision = terms(spec)
    assert (decision.allowed, decision.reason) == (False, "UnknownDataset")
    assert "no dataset named smart-meters" in decision.message
    assert "it offers: grid-load-2025, grid-topology, outage-reports" in decision.message


def test_core_data_is_never_shareable() -> None:
    spec = contract_spec(provider={"space": "sgcc", "datasets": ["grid-topology"]})
    decision = terms(spec)
    assert (decision.allowed, decision.reason) == (False, "CoreDataNotShareable")
    assert "grid-topology is classified core" in decision.message


def test_an_unknown_dataset_is_reported_before_core_data() -> None:
    spec = contract_spec(provider={"space": "sgcc", "datasets": ["grid-topology", "nope"]})
    assert terms(spec).reason == "UnknownDataset"


@pytest.mark.parametrize(("days", "allowed"), [(90, True), (91, False)])
def test_validity_may_not_exceed_the_hub_limit(days: int, allowed: bool) -> None:
    not_after = NOT_BEFORE + timedelta(days=days)
    spec = contract_spec(
        validity={"notBefore": NOT_BEFORE.isoformat(), "notAfter": not_after.isoformat()}
    )
    decision = terms(spec, rules=HubRules(max_contract_days=90))
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason == "ContractTooLong"
        assert "spans 91.0 days from notBefore" in decision.message
        assert "at most 90 days" in decision.message


def test_without_not_before_validity_is_measured_from_now() -> None:
    spec = contract_spec(validity={"notAfter": "2027-03-01T00:00:00Z"})
    rules = HubRules(max_contract_days=100)
    assert terms(spec, rules=rules, now=NOT_AFTER - timedelta(days=100)).allowed
    late = terms(spec, rules=rules, now=NOT_AFTER - timedelta(days=101))
    assert late.reason == "ContractTooLong"
    assert "from now" in late.message


@pytest.mark.parametrize(("limit", "allowed"), [(None, True), (500.0, True), (499.5, False)])
def test_the_gpu_budget_may_not_exceed_the_hub_limit(limit: float | None, allowed: bool) -> None:
    decision = terms(rules=HubRules(max_gpu_hours_per_contract=limit))
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason == "GpuBudgetTooLarge"
        assert "maxGpuHours is 500" in decision.message


@pytest.mark.parametrize(("limit", "allowed"), [(None, True), (16, True), (8, False)])
def test_gpu_concurrency_may_not_exceed_the_hub_limit(limit: int | None, allowed: bool) -> None:
    decision = terms(rules=HubRules(max_concurrent_gpus_per_contract=limit))
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason == "GpuConcurrencyTooLarge"


# --- Digest ------------------------------------------------------------------------------------

CANONICAL_TERMS = (
    '{"compute":{"maxConcurrentGpus":16,"maxGpuHours":500.0},"consumer":{"space":"cmcc"},'
    '"egress":[],"maxJobs":20,"outputs":{"modelExport":"review"},'
    '"provider":{"datasets":["grid-load-2025"],"space":"sgcc"},"purpose":"model-training",'
    '"validity":{"notAfter":"2027-03-01T00:00:00Z","notBefore":"2026-12-01T00:00:00Z"}}'
)


def test_the_digest_is_sha256_of_the_canonical_terms() -> None:
    # Pinned: changing the canonical form would orphan every signature already stamped.
    assert canonical_json(contract_spec().contract_terms()) == CANONICAL_TERMS
    expected = "sha256:" + hashlib.sha256(CANONICAL_TERMS.encode()).hexdigest()
    assert spec_digest(contract_spec()) == expected
    Signature(party="provider", user="alice", at=NOT_BEFORE, spec_digest=expected)


def test_consent_and_revocation_do_not_change_the_digest() -> None:
    digest = spec_digest(contract_spec())
    assert spec_digest(consented()) == digest
    assert spec_digest(revoked(consented())) == digest


@pytest.mark.parametrize(
    "change",
    [
        {"purpose": "analytics"},
        {"maxJobs": 21},
        {"compute": {"maxGpuHours": 501, "maxConcurrentGpus": 16}},
        {"validity": {"notAfter": "2027-03-01T00:00:01Z"}},
        {"egress": [{"cidr": "10.20.0.0/16", "ports": [443]}]},
        {"outputs": {"modelExport": "allowed"}},
        {"provider": {"space": "sgcc", "datasets": ["grid-load-2025", "outage-reports"]}},
    ],
)
def test_any_change_of_terms_changes_the_digest(change: dict[str, Any]) -> None:
    assert spec_digest(contract_spec(**change)) != spec_digest(contract_spec())


def test_the_digest_reads_the_meaning_not_the_spelling() -> None:
    # An explicit default, and the same instant written in another zone.
    spelled_out = contract_spec(
        outputs={"modelExport": "review"},
        egress=[],
        validity={"notBefore": "2026-12-01T08:00:00+08:00", "notAfter": "2027-03-01T00:00:00Z"},
    )
    assert spec_digest(spelled_out) == spec_digest(contract_spec())


TERMS_HOLD = Decision.allow("TermsValid", "ok")
NO_SPACE = Decision.deny("UnknownSpace", "spec.provider.space: DataSpace sgcc does not exist")


def test_consent_without_a_signature_keeps_a_proposed_contract_proposed() -> None:
    proposed = PhaseDecision("Proposed", "AwaitingConsent", "waiting", NOT_AFTER)
    phase = effective_phase(proposed, TERMS_HOLD, ["provider", "consumer"])
    assert (phase.phase, phase.reason) == ("Proposed", "ConsentUnsigned")
    assert "spec.consent.provider and spec.consent.consumer" in phase.message
    assert phase.next_transition == NOT_AFTER
    assert effective_phase(proposed, TERMS_HOLD, []) == proposed


@pytest.mark.parametrize("current", ["Active", "Suspended"])
def test_terms_that_no_longer_hold_suspend_a_running_contract(current: ContractPhase) -> None:
    phase = effective_phase(PhaseDecision(current, "TermsInForce", "ok", NOT_AFTER), NO_SPACE, [])
    assert (phase.phase, phase.reason, phase.message) == (
        "Suspended",
        NO_SPACE.reason,
        NO_SPACE.message,
    )


@pytest.mark.parametrize("final", ["Revoked", "Expired", "Exhausted"])
def test_a_final_phase_is_kept_whatever_the_terms(final: ContractPhase) -> None:
    ended = PhaseDecision(final, "Why", "because")
    assert effective_phase(ended, NO_SPACE, ["provider"]) == ended
