"""ModelRelease admission: a release is asked for by a consumer owner and reviewed by a provider
owner, each bound to who the API server says asks (spec.requestedBy, spec.review.reviewer); an
approval binds the output's manifest and is sealed for this release and job. A joint job's output
is reviewed in spec.reviews, each review by an owner of its own contract's provider, sealed for
that contract too."""

from __future__ import annotations

from typing import Any

import kopf

from tds_operator.api.modelrelease import ENDED_PHASES, Identity
from tds_operator.handlers.context import Operator
from tds_operator.handlers.gather import ReleaseInputs, release_inputs
from tds_operator.handlers.release_parts import JointContract, joint_contracts
from tds_operator.policy.identity import UserInfo
from tds_operator.policy.joint_releases import admit_contract_review
from tds_operator.policy.manifest import approval_binds_manifest
from tds_operator.policy.outputs import (
    EXPORT_DENIED,
    NOT_PROVIDER_OWNER,
    ReleaseRequest,
    admit_release_request,
    admit_review,
)
from tds_operator.policy.reviews import review_seal
from tds_operator.webhooks.common import deny

JOINT_REVIEWS = "JointReviews"
"""A review given in the field the job's contracts do not use."""


def _identity(requester: UserInfo) -> dict[str, Any]:
    return {"user": requester.username, "groups": list(requester.groups)}


async def admit_release(
    body: kopf.Body,
    userinfo: kopf.UserInfo,
    patch: kopf.Patch,
    memo: Operator,
    old: kopf.Body | None = None,
    **_: Any,
) -> None:
    """A ModelRelease: asked for by a consumer owner, reviewed by a provider owner; each bound
    to who the API server says asks (spec.requestedBy, spec.review.reviewer)."""
    requester = UserInfo.from_admission(dict(userinfo))
    spec = dict(body.get("spec") or {})
    job = str(spec.get("trainingJob") or "")
    namespace = str(body.metadata.namespace or "")
    inputs = await release_inputs(memo, namespace, job, body.metadata.name or "")
    joint = await joint_contracts(memo, namespace, inputs.job_body)
    old_spec = dict((old.get("spec") if old is not None else None) or {})
    if joint and spec.get("review") and not old_spec.get("review"):
        raise deny(JOINT_REVIEWS, "a joint job's output is reviewed in spec.reviews, per contract")
    if not joint and spec.get("reviews"):
        raise deny(JOINT_REVIEWS, "spec.reviews is for the output of a joint job: use spec.review")
    if old is None:
        _admit_request(requester, spec, job, inputs, patch)
        _admit_joint_request(joint, patch)
    elif spec.get("review") and not old_spec.get("review"):
        _admit_review(requester, spec, old, inputs, patch, memo)
    elif joint:
        _admit_joint_reviews(requester, spec, old, inputs, joint, patch, memo)
    # Otherwise no new review: the CRD's rules keep the request and a given review fixed.


def _admit_request(
    requester: UserInfo,
    spec: dict[str, Any],
    job: str,
    inputs: ReleaseInputs,
    patch: kopf.Patch,
) -> None:
    """A new release: only its consumer's owners ask, for an output that may be released."""
    if spec.get("review"):
        raise deny(NOT_PROVIDER_OWNER, "spec.review is the provider's to set, after the request")
    consumer = inputs.consumer
    decision = admit_release_request(
        ReleaseRequest(
            requester=requester,
            consumer_owners=tuple(consumer.spec.owners) if consumer else (),
            consumer_space=consumer.metadata.name or "" if consumer else "(none)",
            job=job,
            job_exists=inputs.job_body is not None,
            output_state=inputs.output_state,
            clause=inputs.clause,
            other_releases=inputs.other_releases,
        )
    )
    if not decision.allowed:
        raise deny(decision.reason, decision.message)
    patch.setdefault("spec", {})["requestedBy"] = _identity(requester)


def _admit_joint_request(joint: tuple[JointContract, ...], patch: kopf.Patch) -> None:
    """A joint job's output: no contract of the job may deny its export; the providers' reviews
    start as an empty list, for each to add its own."""
    for contract in joint:
        if contract.part(None, frozenset()).clause == "denied":
            raise deny(
                EXPORT_DENIED,
                f"contract {contract.name}'s outputs.modelExport is denied: no output of a job "
                "that trains on its data leaves the clean room",
            )
    if joint:
        patch.setdefault("spec", {})["reviews"] = []


def _admit_review(
    requester: UserInfo,
    spec: dict[str, Any],
    old: kopf.Body,
    inputs: ReleaseInputs,
    patch: kopf.Patch,
    memo: Operator,
) -> None:
    """A first review: only the provider's owners give it; an approval binds the recorded
    manifest; the review is sealed for this release and job."""
    provider = inputs.provider
    ended = ((old.get("status") or {}).get("phase") or "") in ENDED_PHASES
    decision = admit_review(
        requester,
        provider.spec.owners if provider else (),
        provider.metadata.name or "" if provider else "(none)",
        inputs.clause,
        ended,
    )
    if not decision.allowed:
        raise deny(decision.reason, decision.message)
    review = dict(spec["review"])
    output = ((inputs.job_body or {}).get("status") or {}).get("output") or {}
    recorded = output.get("manifestDigest")
    bound = approval_binds_manifest(
        str(review.get("decision")), review.get("manifestDigest"), recorded
    )
    if not bound.allowed:
        raise deny(bound.reason, bound.message)
    if review.get("decision") == "Approved":
        review["manifestDigest"] = recorded
    reviewer = _identity(requester)
    # Sealed for this release and job: the reconciler acts on no review the webhook did not see.
    review["seal"] = review_seal(
        memo.signing_key,
        str(review.get("decision")),
        review.get("manifestDigest"),
        Identity.model_validate(reviewer),
        str((old.get("metadata") or {}).get("uid") or ""),
        str(((inputs.job_body or {}).get("metadata") or {}).get("uid") or ""),
    )
    patch.setdefault("spec", {})["review"] = {**review, "reviewer": reviewer}


def _admit_joint_reviews(
    requester: UserInfo,
    spec: dict[str, Any],
    old: kopf.Body,
    inputs: ReleaseInputs,
    joint: tuple[JointContract, ...],
    patch: kopf.Patch,
    memo: Operator,
) -> None:
    """Reviews added to spec.reviews: each by an owner of its own contract's provider; an
    approval binds the recorded manifest; each sealed for this release, job and contract."""
    before = {r.get("contract") for r in (old.get("spec") or {}).get("reviews") or []}
    given = list(spec.get("reviews") or [])
    if all(review.get("contract") in before for review in given):
        return
    ended = ((old.get("status") or {}).get("phase") or "") in ENDED_PHASES
    parts = [contract.part(None, frozenset()) for contract in joint]
    output = ((inputs.job_body or {}).get("status") or {}).get("output") or {}
    recorded = output.get("manifestDigest")
    release_uid = str((old.get("metadata") or {}).get("uid") or "")
    job_uid = str(((inputs.job_body or {}).get("metadata") or {}).get("uid") or "")
    sealed = []
    for review in given:
        name = str(review.get("contract") or "")
        if name in before:
            sealed.append(review)
            continue
        for decision in (
            admit_contract_review(requester, name, parts, ended),
            approval_binds_manifest(
                str(review.get("decision")), review.get("manifestDigest"), recorded
            ),
        ):
            if not decision.allowed:
                raise deny(decision.reason, decision.message)
        digest = recorded if review.get("decision") == "Approved" else None
        reviewer = _identity(requester)
        seal = review_seal(
            memo.signing_key,
            str(review.get("decision")),
            digest,
            Identity.model_validate(reviewer),
            release_uid,
            job_uid,
            name,
        )
        review = {k: v for k, v in review.items() if k != "manifestDigest"}
        approved = {"manifestDigest": digest} if digest else {}
        sealed.append({**review, **approved, "reviewer": reviewer, "seal": seal})
    patch.setdefault("spec", {})["reviews"] = sealed
