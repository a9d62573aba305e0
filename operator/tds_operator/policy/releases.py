"""The ModelRelease decision: from one snapshot of a release, its job, the contract's clause, the
ledger's record of the output and the provider's review, what to record on the ledger, what to
do with the output and what to report; a joint job's output by every contract
(policy/joint_releases.py). Pure; the reconciler (handlers/releases.py) gathers the
snapshot, records, acts and reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from tds_operator.api.modelrelease import (
    ContractDecision,
    ContractReview,
    ModelReleasePhase,
    Review,
    ReviewDecision,
)
from tds_operator.api.subject import Subject
from tds_operator.api.terms import ModelExport
from tds_operator.policy.decision import Decision
from tds_operator.policy.identity import UserInfo
from tds_operator.policy.joint_releases import ContractPart, ReleaseKeys, decide_joint
from tds_operator.policy.manifest import approval_binds_manifest
from tds_operator.policy.outputs import (
    ALREADY_REQUESTED,
    OUTPUT_NOT_QUARANTINED,
    ReleaseAction,
    ReleaseRequest,
    job_has_quarantined_output,
    release_action,
)
from tds_operator.policy.reviews import review_counts

Act = Literal["none", "open-review", "release", "delete"]


@dataclass(frozen=True)
class ReleaseLedger:
    """What the contract's ledger records of the job's output."""

    requested_by: str | None = None
    """The uid of the ModelRelease the ledger shows asking for the output, if any."""
    requested_name: str = ""
    quarantined: bool = False
    manifest_digest: str | None = None
    volume: str = ""
    reviews: frozenset[ReviewDecision] = frozenset()
    """The review decisions already on the ledger."""


@dataclass(frozen=True)
class ReleaseSnapshot:
    """Everything one ModelRelease is decided from, gathered once."""

    release_uid: str
    job: str
    job_uid: str | None
    """None when the job does not exist."""
    output_state: str | None
    clause: ModelExport
    contract: str
    review: Review | None
    provider_owners: tuple[Subject, ...]
    provider_space: str
    ledger: ReleaseLedger = field(default_factory=ReleaseLedger)
    """The ledger of the job's (first) contract, which records its output."""
    parts: tuple[ContractPart, ...] = ()
    """Every contract of a joint job, in the job's order; empty for a job of one contract."""


@dataclass(frozen=True)
class ReleaseReport:
    """The status fields a release reports besides its phase and condition."""

    contract: str | None = None
    clause: ModelExport | None = None
    manifest_digest: str | None = None
    claim: str | None = None
    volume: str | None = None
    released_at: str | None = None
    contracts: tuple[ContractDecision, ...] | None = None


@dataclass(frozen=True)
class ReleasePlan:
    """What to record, do and report."""

    phase: ModelReleasePhase
    decision: Decision
    act: Act = "none"
    record_request: bool = False
    record_review: ReviewDecision | None = None
    record_reviews: tuple[ContractReview, ...] = ()
    """A joint job's reviews to record, each on its own contract's ledger."""
    report: ReleaseReport = field(default_factory=ReleaseReport)


def _refusal(snapshot: ReleaseSnapshot) -> Decision | None:
    """Why the release cannot proceed (the webhook's checks, enforced again), or None."""
    ledger = snapshot.ledger
    if ledger.requested_by is not None:
        if ledger.requested_by != snapshot.release_uid:
            return Decision.deny(
                ALREADY_REQUESTED,
                f"ModelRelease {ledger.requested_name} already asked for the output",
            )
        return None
    request = ReleaseRequest(
        requester=UserInfo(""),
        consumer_owners=(),
        consumer_space="",
        job=snapshot.job,
        job_exists=snapshot.job_uid is not None,
        output_state=snapshot.output_state,
        clause=snapshot.clause,
        other_releases=(),
    )
    decision = job_has_quarantined_output(request)
    if decision.allowed and not ledger.quarantined:
        return Decision.deny(
            OUTPUT_NOT_QUARANTINED, "the ledger does not show this output Quarantined"
        )
    return None if decision.allowed else decision


def decide_release(snapshot: ReleaseSnapshot, key: bytes) -> ReleasePlan:
    """The plan for one release: refused, waiting for review, or release or delete the output.

    A review counts only if it verifies (policy/reviews.py); the ledger records the request once
    and a review only once it counts.
    """
    refused = _refusal(snapshot)
    if refused is not None or snapshot.job_uid is None:
        return ReleasePlan("Refused", refused or Decision.deny("TrainingJobNotFound", "no job"))
    ledger = snapshot.ledger
    report = ReleaseReport(snapshot.contract, snapshot.clause, ledger.manifest_digest)
    record_request = ledger.requested_by is None
    if snapshot.parts:
        return _decide_joint(snapshot, key, report, record_request)
    review = snapshot.review
    counted: Review | None = None
    if review is not None and snapshot.clause == "review":
        counts = review_counts(
            key,
            review,
            snapshot.release_uid,
            snapshot.job_uid,
            snapshot.provider_owners,
            snapshot.provider_space,
        )
        if not counts.allowed:
            return ReleasePlan("Refused", counts, record_request=record_request, report=report)
        counted = review
    reviewer = counted.reviewer.user if counted and counted.reviewer else None
    action, decision = release_action(
        snapshot.clause, counted.decision if counted else None, reviewer
    )
    record_review = counted.decision if counted and counted.decision not in ledger.reviews else None
    plan = ReleasePlan(
        "Refused",
        decision,
        record_request=record_request,
        record_review=record_review,
        report=report,
    )
    return _planned(plan, action, decision, counted, ledger.manifest_digest)


JOINT_PLANS: dict[ReleaseAction, tuple[ModelReleasePhase, Act]] = {
    "wait": ("AwaitingReview", "open-review"),
    "release": ("Releasing", "release"),
    "delete": ("Rejected", "delete"),
    "refuse": ("Refused", "none"),
}


def _decide_joint(
    snapshot: ReleaseSnapshot, key: bytes, report: ReleaseReport, record_request: bool
) -> ReleasePlan:
    """A joint job's output: every contract's clause, and each review contract's approval of
    the manifest the ledger recorded."""
    keys = ReleaseKeys(
        key, snapshot.release_uid, snapshot.job_uid or "", snapshot.ledger.manifest_digest
    )
    verdict = decide_joint(snapshot.parts, keys)
    phase, act = JOINT_PLANS[verdict.action]
    return ReleasePlan(
        phase,
        verdict.decision,
        act=act,
        record_request=record_request,
        record_reviews=verdict.record_reviews,
        report=replace(report, contracts=verdict.contracts),
    )


def _planned(
    plan: ReleasePlan,
    action: ReleaseAction,
    decision: Decision,
    counted: Review | None,
    manifest_digest: str | None,
) -> ReleasePlan:
    """The plan for the action the clause and the counted review lead to; an approval releases
    only the manifest it names."""
    if action == "wait":
        return _with(plan, "AwaitingReview", decision, "open-review")
    if action == "release" and counted is not None:
        bound = approval_binds_manifest(counted.decision, counted.manifest_digest, manifest_digest)
        if not bound.allowed:
            return _with(plan, "Refused", bound, "none")
    if action == "release":
        return _with(plan, "Releasing", decision, "release")
    if action == "delete":
        return _with(plan, "Rejected", decision, "delete")
    return plan


def _with(plan: ReleasePlan, phase: ModelReleasePhase, decision: Decision, act: Act) -> ReleasePlan:
    return replace(plan, phase=phase, decision=decision, act=act)
