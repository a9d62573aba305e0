"""Outputs: how large a job's output may be, who may ask for its release and who may review it,
and what the contract's `outputs.modelExport` makes of a release. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from tds_operator.api.subject import Subject
from tds_operator.api.terms import ModelExport
from tds_operator.policy.decision import Decision, first_failing
from tds_operator.policy.identity import UserInfo, speaks_for
from tds_operator.policy.rules import HubRules

_UNITS: Final = {
    "": 1,
    **{suffix: 1000**power for power, suffix in enumerate("kMGTPE", start=1)},
    **{f"{suffix}i": 1024**power for power, suffix in enumerate("KMGTPE", start=1)},
}
_SIZE = re.compile(r"([1-9][0-9]*)([KMGTPE]i|[kMGTPE])?")

ReleaseAction = Literal["wait", "release", "delete", "refuse"]
EXPORT_DENIED: Final = "ExportDenied"
NOT_CONSUMER_OWNER: Final = "NotConsumerOwner"
NOT_PROVIDER_OWNER: Final = "NotProviderOwner"
JOB_NOT_FOUND: Final = "TrainingJobNotFound"
NO_OUTPUT: Final = "NoOutput"
OUTPUT_NOT_QUARANTINED: Final = "OutputNotQuarantined"
ALREADY_REQUESTED: Final = "ReleaseAlreadyRequested"
REVIEW_NOT_OPEN: Final = "ReviewNotOpen"
OUTPUT_TOO_LARGE: Final = "OutputTooLarge"


def byte_size(quantity: str) -> int | None:
    """Bytes of a whole byte quantity such as 10Gi or 500M; None if it is not one."""
    match = _SIZE.fullmatch(quantity)
    return int(match.group(1)) * _UNITS[match.group(2) or ""] if match else None


def output_size_allowed(size: str, rules: HubRules) -> Decision:
    """A job's output may be at most the hub's outputMaxSize."""
    asked, limit = byte_size(size), byte_size(rules.output_max_size)
    if asked is None or (limit is not None and asked > limit):
        return Decision.deny(
            OUTPUT_TOO_LARGE,
            f"spec.output.size {size} is more than the hub allows ({rules.output_max_size}, "
            "hub rule outputMaxSize): ask for less",
        )
    return Decision.allow("OutputSizeAllowed", f"an output volume of {size}")


def effective_clause(clause: ModelExport, contract_active: bool) -> ModelExport:
    """A contract that is no longer Active releases nothing without the provider's review."""
    return "review" if clause == "allowed" and not contract_active else clause


UNLISTED_UNDER_DENIED: Final = (
    "not listed: the contract's outputs.modelExport is denied, so the output never leaves the "
    "clean room, and no figure the workload chose (file count, byte count, manifest digest) "
    "reaches the consumer"
)


def lists_output(clause: ModelExport | None) -> bool:
    """Whether a finished job's output is listed into a manifest. Under `denied` (terms are
    frozen from consent on, so it never changes for a job that ran) nothing can be released:
    a manifest would only carry figures chosen by code that saw the raw data to the consumer,
    who reads the job's status and the ledger. A contract gone (None) is listed as before."""
    return clause != "denied"


def quarantine_ends(finished: datetime, rules: HubRules) -> datetime:
    """When a Quarantined output is discarded unless released."""
    return finished + rules.output_retention


@dataclass(frozen=True)
class ReleaseRequest:
    """A consumer owner asking for a job's output, as the webhook and the reconciler see it."""

    requester: UserInfo
    consumer_owners: tuple[Subject, ...]
    consumer_space: str
    job: str
    job_exists: bool
    output_state: str | None
    """The job's status.output.state; None if the job has no output."""
    clause: ModelExport
    other_releases: tuple[str, ...]
    """Other ModelReleases that already name the job."""


def requested_by_consumer_owner(request: ReleaseRequest) -> Decision:
    if not speaks_for(request.consumer_owners, request.requester):
        return Decision.deny(
            NOT_CONSUMER_OWNER,
            f"only an owner of DataSpace {request.consumer_space} may ask for a release; "
            f"{request.requester.describe()} is not",
        )
    return Decision.allow("ConsumerOwner", "requested by an owner of the consumer space")


def job_has_quarantined_output(request: ReleaseRequest) -> Decision:
    if not request.job_exists:
        return Decision.deny(
            JOB_NOT_FOUND, f"spec.trainingJob: no TrainingJob {request.job} in this namespace"
        )
    if request.output_state is None:
        return Decision.deny(
            NO_OUTPUT, f"TrainingJob {request.job} has no output (its spec.output is not set)"
        )
    if request.output_state != "Quarantined":
        return Decision.deny(
            OUTPUT_NOT_QUARANTINED,
            f"the output of TrainingJob {request.job} is {request.output_state}, not Quarantined: "
            "a release takes a finished job's output that was not released or deleted yet",
        )
    return Decision.allow("OutputQuarantined", f"the output of {request.job} is Quarantined")


def clause_not_denied(request: ReleaseRequest) -> Decision:
    if request.clause == "denied":
        return Decision.deny(
            EXPORT_DENIED,
            "the contract's outputs.modelExport: denied: no output of its jobs leaves the clean "
            "room",
        )
    return Decision.allow("ExportPossible", f"outputs.modelExport: {request.clause}")


def first_release_of_job(request: ReleaseRequest) -> Decision:
    if request.other_releases:
        return Decision.deny(
            ALREADY_REQUESTED,
            f"ModelRelease {request.other_releases[0]} already asks for the output of "
            f"TrainingJob {request.job}: one release per job",
        )
    return Decision.allow("FirstRelease", "no other release names the job")


RELEASE_REQUEST_POLICIES: Final = (
    job_has_quarantined_output,
    requested_by_consumer_owner,
    clause_not_denied,
    first_release_of_job,
)


def admit_release_request(request: ReleaseRequest) -> Decision:
    """The webhook's answer to a new ModelRelease: the first rule it breaks, else allowed."""
    return first_failing(
        RELEASE_REQUEST_POLICIES,
        request,
        Decision.allow("ReleaseRequested", f"release of {request.job}'s output requested"),
    )


def admit_review(
    requester: UserInfo,
    provider_owners: Iterable[Subject],
    provider_space: str,
    clause: ModelExport,
    release_ended: bool,
) -> Decision:
    """Only an owner of the provider space reviews, and only a release still open to review."""
    if not speaks_for(provider_owners, requester):
        return Decision.deny(
            NOT_PROVIDER_OWNER,
            f"only an owner of DataSpace {provider_space}, the provider, may set spec.review; "
            f"{requester.describe()} is not",
        )
    if release_ended or clause == "denied":
        return Decision.deny(
            REVIEW_NOT_OPEN, "the release is decided already: spec.review can no longer be set"
        )
    return Decision.allow("ReviewByProvider", f"reviewed by {requester.describe()}")


def release_action(
    clause: ModelExport, review: str | None, reviewer: str | None
) -> tuple[ReleaseAction, Decision]:
    """What to do with a quarantined output under the (effective) clause and the review."""
    if clause == "denied":
        return "refuse", Decision.deny(
            EXPORT_DENIED, "the contract's outputs.modelExport: denied: the output stays"
        )
    if clause == "allowed":
        return "release", Decision.allow(
            "ReleaseAllowed", "the contract's outputs.modelExport: allowed"
        )
    if review == "Approved":
        return "release", Decision.allow("ReviewApproved", f"approved by {reviewer}")
    if review == "Rejected":
        return "delete", Decision.deny("ReviewRejected", f"rejected by {reviewer}")
    return "wait", Decision.deny(
        "AwaitingReview",
        "outputs.modelExport: review (or the contract is no longer Active): waiting for an "
        "owner of the provider space to set spec.review.decision",
    )


def clean_room_may_be_removed(active_jobs: int, held_outputs: int, force: bool) -> bool:
    """A clean room stays while a job runs or an output waits in it, unless forced."""
    return force or (active_jobs == 0 and held_outputs == 0)
