"""The ModelRelease decision and the provider's sealed review: pure, from one snapshot."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tds_operator.api.modelrelease import (
    REVIEW_NOT_SEALED,
    REVIEWER_NOT_PROVIDER,
    Identity,
    Review,
)
from tds_operator.api.subject import Subject
from tds_operator.policy.outputs import ALREADY_REQUESTED, OUTPUT_NOT_QUARANTINED
from tds_operator.policy.releases import ReleaseLedger, ReleaseSnapshot, decide_release
from tds_operator.policy.reviews import review_seal

pytestmark = pytest.mark.unit

KEY = b"k" * 32
DIGEST = "sha256:" + "a" * 64
PROVIDER_OWNERS = (Subject(kind="Group", name="sgcc-admins"),)
ALICE = Identity(user="alice", groups=["sgcc-admins"])
MALLORY = Identity(user="mallory", groups=["cmcc-admins"])


def snapshot(**changes: object) -> ReleaseSnapshot:
    base = ReleaseSnapshot(
        release_uid="release-uid",
        job="train",
        job_uid="job-uid",
        output_state="Quarantined",
        clause="review",
        contract="sgcc-to-cmcc",
        review=None,
        provider_owners=PROVIDER_OWNERS,
        provider_space="sgcc",
        ledger=ReleaseLedger(quarantined=True, manifest_digest=DIGEST, volume="pv-1"),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def sealed(
    decision: str = "Approved",
    reviewer: Identity = ALICE,
    release_uid: str = "release-uid",
    job_uid: str = "job-uid",
    digest: str | None = DIGEST,
) -> Review:
    seal = review_seal(KEY, decision, digest, reviewer, release_uid, job_uid)
    return Review.model_validate(
        {
            "decision": decision,
            "manifestDigest": digest,
            "reviewer": reviewer.model_dump(),
            "seal": seal,
        }
    )


def test_allowed_clause_releases_and_records_the_request() -> None:
    plan = decide_release(snapshot(clause="allowed"), KEY)
    assert (plan.phase, plan.act, plan.record_request) == ("Releasing", "release", True)
    assert plan.report.manifest_digest == DIGEST
    assert plan.report.contract == "sgcc-to-cmcc"


def test_review_clause_waits_and_opens_the_review() -> None:
    plan = decide_release(snapshot(), KEY)
    assert (plan.phase, plan.act) == ("AwaitingReview", "open-review")
    assert plan.record_review is None


def test_a_sealed_approval_by_a_provider_owner_releases_and_is_recorded_once() -> None:
    plan = decide_release(snapshot(review=sealed()), KEY)
    assert (plan.phase, plan.act, plan.record_review) == ("Releasing", "release", "Approved")
    recorded = replace(snapshot(review=sealed()).ledger, reviews=frozenset({"Approved"}))
    again = decide_release(snapshot(review=sealed(), ledger=recorded), KEY)
    assert again.record_review is None
    assert again.act == "release"


def test_a_sealed_rejection_deletes_the_output() -> None:
    plan = decide_release(snapshot(review=sealed("Rejected", digest=None)), KEY)
    assert (plan.phase, plan.act, plan.record_review) == ("Rejected", "delete", "Rejected")


def test_a_review_without_the_webhooks_seal_counts_for_nothing() -> None:
    forged = Review.model_validate(
        {"decision": "Approved", "manifestDigest": DIGEST, "reviewer": ALICE.model_dump()}
    )
    plan = decide_release(snapshot(review=forged), KEY)
    assert (plan.phase, plan.act, plan.decision.reason) == ("Refused", "none", REVIEW_NOT_SEALED)
    assert plan.record_review is None


@pytest.mark.parametrize(
    "review",
    [
        sealed(release_uid="another-release"),
        sealed(job_uid="another-job"),
        sealed().model_copy(update={"decision": "Rejected"}),
        sealed().model_copy(update={"reviewer": MALLORY}),
        sealed().model_copy(update={"manifest_digest": "sha256:" + "b" * 64}),
    ],
    ids=["other-release", "other-job", "decision-changed", "reviewer-changed", "digest-changed"],
)
def test_a_seal_made_for_other_content_does_not_verify(review: Review) -> None:
    plan = decide_release(snapshot(review=review), KEY)
    assert plan.decision.reason == REVIEW_NOT_SEALED
    assert plan.act == "none"


def test_a_seal_made_with_another_key_does_not_verify() -> None:
    plan = decide_release(snapshot(review=sealed()), b"x" * 32)
    assert plan.decision.reason == REVIEW_NOT_SEALED


def test_a_reviewer_who_no_longer_speaks_for_the_provider_counts_for_nothing() -> None:
    plan = decide_release(snapshot(review=sealed(reviewer=MALLORY)), KEY)
    assert (plan.phase, plan.decision.reason) == ("Refused", REVIEWER_NOT_PROVIDER)
    assert plan.record_review is None


def test_an_approval_of_another_manifest_is_refused() -> None:
    review = sealed(digest="sha256:" + "b" * 64)
    plan = decide_release(snapshot(review=review), KEY)
    assert (plan.phase, plan.act, plan.decision.reason) == ("Refused", "none", "ManifestMismatch")


def test_another_release_first_on_the_ledger_refuses_this_one() -> None:
    ledger = replace(snapshot().ledger, requested_by="other-uid", requested_name="cmcc/first")
    plan = decide_release(snapshot(clause="allowed", ledger=ledger), KEY)
    assert (plan.phase, plan.decision.reason) == ("Refused", ALREADY_REQUESTED)
    assert not plan.record_request


def test_this_release_on_the_ledger_goes_on_while_the_output_moves() -> None:
    ledger = replace(snapshot().ledger, requested_by="release-uid")
    plan = decide_release(snapshot(clause="allowed", output_state="Released", ledger=ledger), KEY)
    assert (plan.act, plan.record_request) == ("release", False)


def test_an_output_the_ledger_does_not_show_quarantined_is_refused() -> None:
    plan = decide_release(snapshot(ledger=ReleaseLedger()), KEY)
    assert (plan.phase, plan.decision.reason) == ("Refused", OUTPUT_NOT_QUARANTINED)


def test_a_missing_job_is_refused_and_nothing_recorded() -> None:
    plan = decide_release(snapshot(job_uid=None, output_state=None), KEY)
    assert (plan.phase, plan.decision.reason) == ("Refused", "TrainingJobNotFound")
    assert not plan.record_request


def test_a_denied_clause_refuses() -> None:
    plan = decide_release(snapshot(clause="denied"), KEY)
    assert (plan.phase, plan.decision.reason) == ("Refused", "ExportDenied")


def test_under_an_allowed_clause_a_review_is_not_needed() -> None:
    forged = Review.model_validate({"decision": "Rejected"})
    plan = decide_release(snapshot(clause="allowed", review=forged), KEY)
    assert plan.act == "release"
