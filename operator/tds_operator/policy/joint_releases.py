"""The release of a joint job's output: every contract's `outputs.modelExport` decides. Pure.

One `denied` contract refuses the release, naming it. Each `review` contract's provider must
approve, in a review sealed for that contract, the very manifest the ledger recorded: one
approval alone releases nothing, and an approval of another manifest counts for nothing. One
rejection deletes the output. `allowed` contracts need nothing. The release's status lists each
contract's decision (api/modelrelease.py, ContractDecision).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from tds_operator.api.modelrelease import ContractDecision, ContractReview, ReviewDecision
from tds_operator.api.subject import Subject
from tds_operator.api.terms import ModelExport
from tds_operator.policy.decision import Decision
from tds_operator.policy.identity import UserInfo
from tds_operator.policy.manifest import MANIFEST_MISMATCH
from tds_operator.policy.outputs import (
    EXPORT_DENIED,
    REVIEW_NOT_OPEN,
    ReleaseAction,
    admit_review,
)
from tds_operator.policy.reviews import review_counts

JOINT_RELEASE_ALLOWED: Final = "JointReleaseAllowed"
AWAITING_REVIEWS: Final = "AwaitingReview"
REVIEW_REJECTED: Final = "ReviewRejected"
NOT_A_CONTRACT_OF_THE_JOB: Final = "NotAContractOfTheJob"


@dataclass(frozen=True)
class ContractPart:
    """One contract of a joint job, as its release is decided from."""

    contract: str
    clause: ModelExport
    """Its outputs.modelExport as it applies now (review once the contract is not Active)."""
    provider_owners: tuple[Subject, ...]
    provider_space: str
    review: ContractReview | None = None
    """The review spec.reviews holds for this contract, if any."""
    recorded: frozenset[ReviewDecision] = frozenset()
    """The review decisions this contract's ledger already records of the job's output."""


@dataclass(frozen=True)
class ReleaseKeys:
    """What a review is sealed for, and the manifest an approval must name."""

    key: bytes
    release_uid: str
    job_uid: str
    manifest_digest: str | None


@dataclass(frozen=True)
class JointVerdict:
    """What every contract together makes of the release."""

    action: ReleaseAction
    decision: Decision
    contracts: tuple[ContractDecision, ...]
    record_reviews: tuple[ContractReview, ...] = ()
    """Reviews that count and that their contract's ledger does not record yet."""


def _entry(part: ContractPart, outcome: str, review: ContractReview | None) -> ContractDecision:
    reviewer = review.reviewer.user if review is not None and review.reviewer else None
    approved = review.manifest_digest if review and review.decision == "Approved" else None
    return ContractDecision.model_validate(
        {
            "contract": part.contract,
            "clause": part.clause,
            "outcome": outcome,
            "reviewer": reviewer,
            "manifestDigest": approved,
        }
    )


def judge_contract(
    part: ContractPart, keys: ReleaseKeys
) -> tuple[ContractDecision, Decision, ContractReview | None]:
    """One contract's decision, why, and its review if that review counts."""
    name = part.contract
    if part.clause == "denied":
        why = f"contract {name}'s outputs.modelExport is denied: the output stays in the clean room"
        return _entry(part, "Denied", None), Decision.deny(EXPORT_DENIED, why), None
    if part.clause == "allowed":
        why = f"contract {name}'s outputs.modelExport is allowed"
        return _entry(part, "Allowed", None), Decision.allow("ReleaseAllowed", why), None
    review = part.review
    if review is None:
        why = (
            f"contract {name} waits for an owner of DataSpace {part.provider_space}, its "
            "provider, to add its review to spec.reviews"
        )
        return _entry(part, "AwaitingReview", None), Decision.deny(AWAITING_REVIEWS, why), None
    counts = review_counts(
        keys.key,
        review,
        keys.release_uid,
        keys.job_uid,
        part.provider_owners,
        part.provider_space,
        contract=name,
    )
    if not counts.allowed:
        refused = Decision.deny(counts.reason, f"contract {name}: {counts.message}")
        return _entry(part, "Refused", review), refused, None
    who = review.reviewer.user if review.reviewer else ""
    if review.decision == "Rejected":
        why = f"rejected by {who} for contract {name}"
        return _entry(part, "Rejected", review), Decision.deny(REVIEW_REJECTED, why), review
    if keys.manifest_digest is None or review.manifest_digest != keys.manifest_digest:
        why = (
            f"contract {name}: the approval names manifest {review.manifest_digest}, not the "
            f"output's {keys.manifest_digest}: it releases nothing"
        )
        return _entry(part, "Refused", review), Decision.deny(MANIFEST_MISMATCH, why), None
    why = f"approved by {who} for contract {name}"
    return _entry(part, "Approved", review), Decision.allow("ReviewApproved", why), review


_ENDS: Final[tuple[tuple[str, ReleaseAction], ...]] = (
    ("Denied", "refuse"),
    ("Refused", "refuse"),
    ("Rejected", "delete"),
)
"""The outcomes that end the release, first first: any one contract's is enough."""


def _named(outcome: str, judged: Sequence[tuple[ContractDecision, Decision]]) -> list[str]:
    return [entry.contract for entry, _ in judged if entry.outcome == outcome]


def decide_joint(parts: Sequence[ContractPart], keys: ReleaseKeys) -> JointVerdict:
    """Refuse if any contract denies it or a review does not count; delete if a provider
    rejects it; wait while a review is missing; release only when every contract allows it."""
    results = [judge_contract(part, keys) for part in parts]
    judged = [(entry, decision) for entry, decision, _ in results]
    entries = tuple(entry for entry, _ in judged)
    to_record = tuple(
        review
        for part, (_, _, review) in zip(parts, results, strict=True)
        if review is not None and review.decision not in part.recorded
    )
    for outcome, action in _ENDS:
        first = next((d for e, d in judged if e.outcome == outcome), None)
        if first is not None:
            names = ", ".join(_named(outcome, judged))
            decision = Decision.deny(first.reason, f"{first.message} ({outcome}: {names})")
            return JointVerdict(action, decision, entries, to_record)
    waiting = _named("AwaitingReview", judged)
    if waiting:
        why = (
            f"waiting for the review of every contract whose outputs.modelExport is review: "
            f"{', '.join(waiting)} not reviewed yet; nothing is released before all approve the "
            "same manifest"
        )
        return JointVerdict("wait", Decision.deny(AWAITING_REVIEWS, why), entries, to_record)
    why = "every contract of the joint job allows the release: " + "; ".join(
        d.message for _, d in judged
    )
    return JointVerdict("release", Decision.allow(JOINT_RELEASE_ALLOWED, why), entries, to_record)


def admit_contract_review(
    requester: UserInfo, contract: str, parts: Sequence[ContractPart], release_ended: bool
) -> Decision:
    """A review added to spec.reviews: only for a contract of the job under review, only by an
    owner of that contract's provider, only while the release is open."""
    part = next((p for p in parts if p.contract == contract), None)
    if part is None:
        return Decision.deny(
            NOT_A_CONTRACT_OF_THE_JOB,
            f"spec.reviews: {contract or '<none>'} is not a contract of the release's job",
        )
    decision = admit_review(
        requester, part.provider_owners, part.provider_space, part.clause, release_ended
    )
    if not decision.allowed:
        return Decision.deny(decision.reason, f"contract {contract}: {decision.message}")
    if part.clause != "review":
        return Decision.deny(
            REVIEW_NOT_OPEN,
            f"contract {contract}'s outputs.modelExport is {part.clause}: it takes no review",
        )
    return decision
