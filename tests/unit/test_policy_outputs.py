"""Outputs: size limits, who may ask for a release and who may review it, what each clause does."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bench.hubkit.manifests import ALICE, ANONYMOUS, BOB, DAVE, LI, cmcc, sgcc
from tds_operator.policy.outputs import (
    ReleaseRequest,
    admit_release_request,
    admit_review,
    byte_size,
    clean_room_may_be_removed,
    effective_clause,
    output_size_allowed,
    quarantine_ends,
    release_action,
)
from tds_operator.policy.rules import HubRules

pytestmark = pytest.mark.unit

REQUEST = ReleaseRequest(
    requester=BOB,
    consumer_owners=tuple(cmcc().owners),
    consumer_space="cmcc",
    job="load-forecast-v1",
    job_exists=True,
    output_state="Quarantined",
    clause="allowed",
    other_releases=(),
)


@pytest.mark.parametrize(
    ("quantity", "size"),
    [("1Gi", 2**30), ("500M", 500 * 10**6), ("1073741824", 2**30), ("0", None), ("1.5Gi", None)],
)
def test_byte_size_reads_whole_byte_quantities(quantity: str, size: int | None) -> None:
    assert byte_size(quantity) == size


def test_output_size_is_capped_by_the_hub_rule() -> None:
    rules = HubRules(output_max_size="10Gi")
    assert output_size_allowed("10Gi", rules).allowed
    refused = output_size_allowed("11Gi", rules)
    assert refused.reason == "OutputTooLarge"
    assert "outputMaxSize" in refused.message


def test_a_contract_no_longer_active_needs_the_providers_review() -> None:
    assert effective_clause("allowed", contract_active=True) == "allowed"
    assert effective_clause("allowed", contract_active=False) == "review"
    assert effective_clause("denied", contract_active=False) == "denied"


def test_quarantine_ends_after_the_retention() -> None:
    now = datetime(2027, 1, 1, tzinfo=UTC)
    rules = HubRules(output_retention=timedelta(days=2))
    assert quarantine_ends(now, rules) == now + timedelta(days=2)


def test_a_consumer_owner_may_ask_for_a_quarantined_output() -> None:
    assert admit_release_request(REQUEST).allowed


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"requester": ALICE}, "NotConsumerOwner"),
        ({"requester": LI}, "NotConsumerOwner"),
        ({"requester": ANONYMOUS}, "NotConsumerOwner"),
        ({"job_exists": False, "requester": ALICE}, "TrainingJobNotFound"),
        ({"output_state": None}, "NoOutput"),
        ({"output_state": "Writable"}, "OutputNotQuarantined"),
        ({"output_state": "Released"}, "OutputNotQuarantined"),
        ({"clause": "denied"}, "ExportDenied"),
        ({"other_releases": ("first",)}, "ReleaseAlreadyRequested"),
    ],
)
def test_bad_release_requests_are_refused_naming_the_rule(
    change: dict[str, object], reason: str
) -> None:
    decision = admit_release_request(replace(REQUEST, **change))  # type: ignore[arg-type]
    assert (decision.allowed, decision.reason) == (False, reason)


def test_the_denied_clause_is_named() -> None:
    message = admit_release_request(replace(REQUEST, clause="denied")).message
    assert "outputs.modelExport: denied" in message


@pytest.mark.parametrize(
    ("requester", "allowed"), [(ALICE, True), (BOB, False), (LI, False), (DAVE, False)]
)
def test_only_a_provider_owner_reviews(requester: object, allowed: bool) -> None:
    decision = admit_review(requester, sgcc().owners, "sgcc", "review", release_ended=False)  # type: ignore[arg-type]
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason == "NotProviderOwner"
        assert "sgcc" in decision.message


def test_a_decided_release_takes_no_review() -> None:
    decision = admit_review(ALICE, sgcc().owners, "sgcc", "review", release_ended=True)
    assert decision.reason == "ReviewNotOpen"


@pytest.mark.parametrize(
    ("clause", "review", "action"),
    [
        ("allowed", None, "release"),
        ("review", None, "wait"),
        ("review", "Approved", "release"),
        ("review", "Rejected", "delete"),
        ("denied", "Approved", "refuse"),
    ],
)
def test_the_clause_and_the_review_decide(clause: str, review: str | None, action: str) -> None:
    assert release_action(clause, review, "alice")[0] == action  # type: ignore[arg-type]


def test_approval_names_the_reviewer() -> None:
    assert "alice" in release_action("review", "Approved", "alice")[1].message


def test_a_clean_room_stays_while_it_holds_outputs() -> None:
    assert not clean_room_may_be_removed(active_jobs=0, held_outputs=1, force=False)
    assert not clean_room_may_be_removed(active_jobs=1, held_outputs=0, force=False)
    assert clean_room_may_be_removed(active_jobs=0, held_outputs=0, force=False)
    assert clean_room_may_be_removed(active_jobs=1, held_outputs=1, force=True)
