"""The release of a joint job's output: every contract's clause and each review provider's sealed
approval of the same manifest. Pure."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from tds_operator.api.modelrelease import (
    REVIEW_NOT_SEALED,
    REVIEWER_NOT_PROVIDER,
    ContractReview,
    Identity,
)
from tds_operator.api.subject import Subject
from tds_operator.policy.identity import UserInfo
from tds_operator.policy.joint_releases import (
    NOT_A_CONTRACT_OF_THE_JOB,
    ContractPart,
    ReleaseKeys,
    admit_contract_review,
    decide_joint,
)
from tds_operator.policy.manifest import MANIFEST_MISMATCH
from tds_operator.policy.outputs import EXPORT_DENIED, NOT_PROVIDER_OWNER, REVIEW_NOT_OPEN
from tds_operator.policy.releases import ReleaseLedger, ReleaseSnapshot, decide_release
from tds_operator.policy.reviews import review_seal

pytestmark = pytest.mark.unit

KEY = b"k" * 32
DIGEST = "sha256:" + "a" * 64
OTHER_DIGEST = "sha256:" + "b" * 64
KEYS = ReleaseKeys(KEY, "release-uid", "job-uid", DIGEST)
OWNERS = {
    "grid": (Subject(kind="Group", name="grid-admins"),),
    "weather": (Subject(kind="Group", name="weather-admins"),),
    "bank": (Subject(kind="Group", name="bank-admins"),),
}
REVIEWERS = {space: Identity(user=f"{space}-owner", groups=[f"{space}-admins"]) for space in OWNERS}


def sealed(
    contract: str,
    decision: str = "Approved",
    reviewer: Identity | None = None,
    digest: str | None = DIGEST,
    sealed_for: str | None = None,
) -> ContractReview:
    """A review as the webhook writes it: sealed for this release, job and contract."""
    who = reviewer or REVIEWERS[contract]
    digest = digest if decision == "Approved" else None
    seal = review_seal(KEY, decision, digest, who, "release-uid", "job-uid", sealed_for or contract)
    return ContractReview.model_validate(
        {
            "contract": contract,
            "decision": decision,
            "manifestDigest": digest,
            "reviewer": who.model_dump(),
            "seal": seal,
        }
    )


def part(
    contract: str, clause: str = "review", review: ContractReview | None = None
) -> ContractPart:
    # Each contract here is named after its provider space.
    return ContractPart(contract, clause, OWNERS[contract], contract, review)  # type: ignore[arg-type]


def outcomes(parts: list[ContractPart]) -> dict[str, str]:
    return {entry.contract: entry.outcome for entry in decide_joint(parts, KEYS).contracts}


def test_two_review_providers_one_approval_releases_nothing() -> None:
    verdict = decide_joint([part("grid", review=sealed("grid")), part("weather")], KEYS)
    assert verdict.action == "wait"
    assert "weather" in verdict.decision.message
    assert outcomes([part("grid", review=sealed("grid")), part("weather")]) == {
        "grid": "Approved",
        "weather": "AwaitingReview",
    }
    # Positive control: both approve the same manifest, and it is released.
    both = [part("grid", review=sealed("grid")), part("weather", review=sealed("weather"))]
    assert decide_joint(both, KEYS).action == "release"


def test_approvals_of_different_digests_release_nothing() -> None:
    parts = [
        part("grid", review=sealed("grid")),
        part("weather", review=sealed("weather", digest=OTHER_DIGEST)),
    ]
    verdict = decide_joint(parts, KEYS)
    assert verdict.action == "refuse"
    assert verdict.decision.reason == MANIFEST_MISMATCH
    assert "weather" in verdict.decision.message
    assert outcomes(parts)["weather"] == "Refused"
    # Only the counted approval is recorded, never the mismatched one.
    assert [r.contract for r in verdict.record_reviews] == ["grid"]


def test_a_denied_contract_refuses_the_release_naming_it() -> None:
    parts = [part("grid", "allowed"), part("weather", "denied"), part("bank", "allowed")]
    verdict = decide_joint(parts, KEYS)
    assert verdict.action == "refuse"
    assert verdict.decision.reason == EXPORT_DENIED
    assert "weather" in verdict.decision.message
    assert "grid" not in verdict.decision.message
    # Even when the review providers approved.
    approved = [part("grid", review=sealed("grid")), part("weather", "denied")]
    assert decide_joint(approved, KEYS).action == "refuse"
    # Positive control: the same contracts, none denied.
    allowed = [part("grid", "allowed"), part("weather", "allowed"), part("bank", "allowed")]
    assert decide_joint(allowed, KEYS).action == "release"


def test_a_provider_approving_for_another_contract_counts_for_nothing() -> None:
    # grid's owner approves under weather's contract, sealed for it: not weather's provider.
    parts = [
        part("grid", review=sealed("grid")),
        part("weather", review=sealed("weather", reviewer=REVIEWERS["grid"])),
    ]
    verdict = decide_joint(parts, KEYS)
    assert verdict.action == "refuse"
    assert verdict.decision.reason == REVIEWER_NOT_PROVIDER
    assert "weather" in verdict.decision.message


def test_a_review_sealed_for_another_contract_does_not_count() -> None:
    # weather's own owner, but the review was sealed for the grid contract and moved.
    moved = sealed("weather", sealed_for="grid")
    verdict = decide_joint(
        [part("grid", review=sealed("grid")), part("weather", review=moved)], KEYS
    )
    assert verdict.action == "refuse"
    assert verdict.decision.reason == REVIEW_NOT_SEALED


def test_one_rejection_deletes_the_output() -> None:
    parts = [
        part("grid", review=sealed("grid")),
        part("weather", review=sealed("weather", "Rejected")),
    ]
    verdict = decide_joint(parts, KEYS)
    assert verdict.action == "delete"
    assert "weather" in verdict.decision.message


def test_an_approval_without_a_manifest_releases_nothing() -> None:
    keys = replace(KEYS, manifest_digest=None)
    parts = [part("grid", review=sealed("grid")), part("weather", "allowed")]
    assert decide_joint(parts, keys).action == "refuse"


def test_reviews_already_on_their_ledger_are_not_recorded_again() -> None:
    recorded = replace(part("grid", review=sealed("grid")), recorded=frozenset({"Approved"}))
    verdict = decide_joint([recorded, part("weather", review=sealed("weather"))], KEYS)
    assert [r.contract for r in verdict.record_reviews] == ["weather"]


STATES = ("allowed", "denied", "unreviewed", "approved", "other-digest", "rejected")


def state_part(contract: str, state: str) -> ContractPart:
    if state in ("allowed", "denied"):
        return part(contract, state)
    reviews = {
        "unreviewed": None,
        "approved": sealed(contract),
        "other-digest": sealed(contract, digest=OTHER_DIGEST),
        "rejected": sealed(contract, "Rejected"),
    }
    return part(contract, "review", reviews[state])


def expected(states: tuple[str, ...]) -> str:
    if "denied" in states or "other-digest" in states:
        return "refuse"
    if "rejected" in states:
        return "delete"
    if "unreviewed" in states:
        return "wait"
    return "release"


@pytest.mark.parametrize("count", [2, 3])
def test_every_combination_of_clauses_and_reviews(count: int) -> None:
    contracts = ("grid", "weather", "bank")[:count]
    for states in itertools.product(STATES, repeat=count):
        parts = [state_part(c, s) for c, s in zip(contracts, states, strict=True)]
        verdict = decide_joint(parts, KEYS)
        assert verdict.action == expected(states), states
        assert [e.contract for e in verdict.contracts] == list(contracts)
        if verdict.action == "release":
            assert all(e.outcome in ("Allowed", "Approved") for e in verdict.contracts)


def test_the_release_plan_of_a_joint_job_reports_every_contract() -> None:
    snapshot = ReleaseSnapshot(
        release_uid="release-uid",
        job="train",
        job_uid="job-uid",
        output_state="Quarantined",
        clause="review",
        contract="grid",
        review=None,
        provider_owners=OWNERS["grid"],
        provider_space="grid",
        ledger=ReleaseLedger(quarantined=True, manifest_digest=DIGEST, volume="pv-1"),
        parts=(part("grid", review=sealed("grid")), part("weather"), part("bank", "allowed")),
    )
    plan = decide_release(snapshot, KEY)
    assert (plan.phase, plan.act) == ("AwaitingReview", "open-review")
    assert plan.report.contracts is not None
    assert [e.outcome for e in plan.report.contracts] == ["Approved", "AwaitingReview", "Allowed"]
    assert [r.contract for r in plan.record_reviews] == ["grid"]
    done = replace(
        snapshot,
        parts=(part("grid", review=sealed("grid")), part("weather", review=sealed("weather"))),
    )
    assert (decide_release(done, KEY).phase, decide_release(done, KEY).act) == (
        "Releasing",
        "release",
    )
    denied = replace(snapshot, parts=(part("grid", "denied"), part("weather")))
    assert decide_release(denied, KEY).phase == "Refused"


def asking(space: str) -> UserInfo:
    return UserInfo(f"{space}-owner", (f"{space}-admins",))


def test_a_provider_adds_a_review_only_for_its_own_contract() -> None:
    parts = [part("grid"), part("weather"), part("bank", "allowed")]
    # grid's owner for weather's contract: refused, naming the contract.
    refused = admit_contract_review(asking("grid"), "weather", parts, release_ended=False)
    assert not refused.allowed
    assert refused.reason == NOT_PROVIDER_OWNER
    assert "weather" in refused.message
    # Positive control: grid's owner for grid's contract, weather's for weather's.
    assert admit_contract_review(asking("grid"), "grid", parts, release_ended=False).allowed
    assert admit_contract_review(asking("weather"), "weather", parts, release_ended=False).allowed


def test_a_review_names_a_contract_of_the_job_under_review_while_open() -> None:
    parts = [part("grid"), part("weather"), part("bank", "allowed")]
    unknown = admit_contract_review(asking("grid"), "someone-else", parts, release_ended=False)
    assert unknown.reason == NOT_A_CONTRACT_OF_THE_JOB
    allowed = admit_contract_review(asking("bank"), "bank", parts, release_ended=False)
    assert allowed.reason == REVIEW_NOT_OPEN
    ended = admit_contract_review(asking("grid"), "grid", parts, release_ended=True)
    assert ended.reason == REVIEW_NOT_OPEN
