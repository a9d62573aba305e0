"""ModelRelease: a consumer owner's request to take a finished TrainingJob's output home.

The contract's `outputs.modelExport` decides: `allowed` releases at once, `review` waits for a
provider owner's decision on the release itself, `denied` refuses it. Who asked and who decided
are set by the admission webhook from the request's authenticated identity, never by the caller.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import ConfigDict, Field, StrictStr

from tds_operator.api.common import (
    AGE_COLUMN,
    CustomResource,
    KubeModel,
    ObjectName,
    ObservedStatus,
    PrinterColumn,
    Timestamp,
)
from tds_operator.api.jobcontracts import MAX_JOINT_CONTRACTS
from tds_operator.api.validation import DNS_SUBDOMAIN, CelRule, cel_rules, object_name_rule

ReviewDecision = Literal["Approved", "Rejected"]
ContractOutcome = Literal["Allowed", "Denied", "AwaitingReview", "Approved", "Rejected", "Refused"]
"""What one contract of a joint job's release says of it."""
ModelReleasePhase = Literal["AwaitingReview", "Releasing", "Released", "Rejected", "Refused"]
"""One-word summary of the release's conditions."""
MAX_NAME_LENGTH = 63

GroupName = Annotated[StrictStr, Field(max_length=256)]

REQUEST_IS_FIXED = CelRule(
    rule=(
        "self.trainingJob == oldSelf.trainingJob && has(self.requestedBy) == "
        "has(oldSelf.requestedBy) && (!has(self.requestedBy) || "
        "self.requestedBy == oldSelf.requestedBy)"
    ),
    message="spec.trainingJob and spec.requestedBy cannot change: create another ModelRelease",
    reason="FieldValueForbidden",
)
REVIEW_IS_FINAL = CelRule(
    rule="!has(oldSelf.review) || (has(self.review) && self.review == oldSelf.review)",
    message="spec.review cannot change once given: a provider's decision is final",
    field_path=".review",
    reason="FieldValueForbidden",
)
CONTRACT_REVIEW_IS_FINAL = CelRule(
    rule="self == oldSelf",
    message="a review in spec.reviews cannot change once given: a provider's decision is final",
    reason="FieldValueForbidden",
)
REVIEWS_ARE_KEPT = CelRule(
    rule="oldSelf.all(r, self.exists(s, s.contract == r.contract))",
    message="a review in spec.reviews cannot be removed once given: a provider's decision is final",
    reason="FieldValueForbidden",
)
RELEASE_NAME = object_name_rule(
    "ModelRelease",
    MAX_NAME_LENGTH,
    "it names the claim the released output is bound to in the consumer's namespace",
)


class Identity(KubeModel):
    """A person as the API server authenticated them."""

    user: StrictStr = Field(max_length=512, description="User name.")
    groups: list[GroupName] = Field(
        default_factory=list, max_length=64, description="Groups the user belonged to."
    )


class Review(KubeModel):
    """A provider owner's decision on a release held for review."""

    decision: ReviewDecision = Field(
        description="Approved (the output is released) or Rejected (it is deleted). Only an "
        "owner of the contract's provider space may set it, once."
    )
    manifest_digest: StrictStr | None = Field(
        None,
        max_length=71,
        pattern=r"^sha256:[0-9a-f]{64}$",
        description="The output manifest's digest the reviewer approves (this release's "
        "status.manifestDigest). Set by the admission webhook on approval when left "
        "out; an approval naming another digest, or of an output without a manifest, is "
        "refused.",
    )
    reviewer: Identity | None = Field(
        None,
        description="Who decided. Set by the admission webhook from the request's identity; "
        "whatever the request says is replaced.",
    )
    seal: StrictStr | None = Field(
        None,
        max_length=80,
        description="Set by the admission webhook: the operator's keyed digest over the "
        "decision, the manifest digest, the reviewer and the uids of this release and its job. "
        "The operator acts only on a review whose seal verifies and whose reviewer still "
        "speaks for the provider; any other review counts for nothing and the release is "
        "Refused.",
    )


class ContractReview(Review):
    """The review of one contract's provider, for the output of a joint job."""

    model_config = ConfigDict(json_schema_extra=cel_rules(CONTRACT_REVIEW_IS_FINAL))

    contract: ObjectName = Field(
        description="The contract of the job this review is given under. Only an owner of "
        "that contract's provider space may add it, once, and only while the contract's "
        "outputs.modelExport is review (or the contract is no longer Active). The seal binds "
        "it to this contract."
    )


ContractReviews = Annotated[
    list[ContractReview],
    Field(
        max_length=MAX_JOINT_CONTRACTS,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["contract"],
            **cel_rules(REVIEWS_ARE_KEPT),
        },
    ),
]


class ModelReleaseSpec(KubeModel):
    """Which finished job's output to release, and the provider's review of it."""

    model_config = ConfigDict(json_schema_extra=cel_rules(REQUEST_IS_FIXED, REVIEW_IS_FINAL))

    training_job: ObjectName = Field(
        description="Name of the finished TrainingJob, in this namespace, whose output is "
        "released. One release per job."
    )
    requested_by: Identity | None = Field(
        None,
        description="Who asked for the release. Set by the admission webhook from the "
        "request's identity (an owner of the consumer space); whatever the request says is "
        "replaced.",
    )
    review: Review | None = Field(
        None,
        description="The provider's decision, when the contract's outputs.modelExport is "
        "review (or the contract is no longer Active): kubectl patch by a provider owner. "
        "For the output of a job of one contract; a joint job's providers use reviews.",
    )
    reviews: ContractReviews | None = Field(
        None,
        description="The output of a joint job (spec.contracts): one review per contract whose "
        "outputs.modelExport is review, each added by an owner of that contract's provider "
        "(kubectl patch --type=json, op add, path /spec/reviews/-). Set to an empty list by the "
        "admission webhook when a joint job's release is created. Nothing is released until "
        "every such provider approved the same manifest (the release's "
        "status.manifestDigest); one rejection deletes the output.",
    )


class ContractDecision(KubeModel):
    """What one contract of the job says of the release."""

    contract: ObjectName = Field(description="The contract.")
    clause: StrictStr = Field(
        description="Its outputs.modelExport as it applies now (review once it is no longer "
        "Active)."
    )
    outcome: ContractOutcome = Field(
        description="Allowed (the clause is allowed), Denied (denied: the release is refused), "
        "AwaitingReview (no review from its provider yet), Approved or Rejected (its "
        "provider's review), Refused (its review does not count: not sealed, from someone "
        "who no longer speaks for the provider, or approving another manifest)."
    )
    reviewer: StrictStr | None = Field(None, description="Who reviewed, when someone did.")
    manifest_digest: StrictStr | None = Field(
        None, description="The manifest digest the review approved, when it approved one."
    )


class ModelReleaseStatus(ObservedStatus):
    """Observed state of a release, written by the operator."""

    CONDITIONS_DESCRIPTION = (
        "Conditions such as Released; reasons name the contract clause or review that decided."
    )

    phase: ModelReleasePhase | None = Field(
        None,
        description="AwaitingReview, Releasing, Released, Rejected or Refused; a summary of "
        "the conditions.",
    )
    contract: StrictStr | None = Field(
        None, description="The contract the job ran under (a joint job's first contract)."
    )
    contracts: list[ContractDecision] | None = Field(
        None,
        max_length=MAX_JOINT_CONTRACTS,
        description="The output of a joint job: each contract's decision, in the order the "
        "job names them. The output is released only when every one is Allowed or Approved; "
        "one Denied or Refused refuses the release, one Rejected deletes the output.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["contract"],
        },
    )
    manifest_digest: StrictStr | None = Field(
        None,
        description="Digest of the output's manifest (every file's path, size and sha256), as "
        "the ledger recorded it before release: what a provider's approval binds to.",
    )
    clause: StrictStr | None = Field(
        None,
        description="The contract's outputs.modelExport when the release was decided (a "
        "joint job's first contract's; each contract's is in contracts).",
    )
    claim: StrictStr | None = Field(
        None,
        pattern=DNS_SUBDOMAIN,
        description="The PersistentVolumeClaim in this namespace the output is bound to, once "
        "released: mount it in a pod of this space.",
    )
    volume: StrictStr | None = Field(
        None, description="The PersistentVolume holding the output (the same one the job wrote)."
    )
    released_at: Timestamp | None = Field(None, description="When the claim was bound here.")


class ModelRelease(CustomResource):
    """A request to release a finished TrainingJob's output from the clean room to its consumer."""

    NAME_MAX_LENGTH = MAX_NAME_LENGTH
    NAME_RULE = RELEASE_NAME
    PRINTER_COLUMNS = (
        PrinterColumn("Job", ".spec.trainingJob", "string", "The TrainingJob whose output it is."),
        PrinterColumn("Clause", ".status.clause", "string", "The contract's outputs clause."),
        PrinterColumn("Review", ".spec.review.decision", "string", "The provider's decision."),
        PrinterColumn("Phase", ".status.phase", "string", "Summary of the release's conditions."),
        PrinterColumn("Claim", ".status.claim", "string", "The released claim, in this namespace."),
        AGE_COLUMN,
    )

    kind: Literal["ModelRelease"] = "ModelRelease"
    spec: ModelReleaseSpec = Field(description="Which output, and the provider's review.")
    status: ModelReleaseStatus | None = Field(None, description="Observed state.")


# Condition type of a ModelRelease, and the reasons the operator reports on it.
RELEASED: Final = "Released"
"""True once the output's volume is bound to the claim in the consumer's namespace."""
ENDED: Final = "Ended"
"""True once the release has ended, however (Released, Rejected, Refused): what `kubectl wait
--for=condition=Ended` waits for; its reason says why it ended."""
AWAITING_REVIEW: Final = "AwaitingReview"
RELEASE_ALLOWED: Final = "ReleaseAllowed"
REVIEW_APPROVED: Final = "ReviewApproved"
REVIEW_REJECTED: Final = "ReviewRejected"
BOUND: Final = "ClaimBound"
REVIEW_NOT_SEALED: Final = "ReviewNotSealed"
"""The review was not written through the admission webhook (or was altered since)."""
REVIEWER_NOT_PROVIDER: Final = "ReviewerNotProviderOwner"
"""The reviewer no longer speaks for the provider space."""
ENDED_PHASES: Final = frozenset({"Released", "Rejected", "Refused"})
