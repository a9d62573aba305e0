"""A provider's review of a release, sealed as consents are sealed. Pure.

The admission webhook alone writes `spec.review.reviewer` and `spec.review.seal`: the seal is the
operator's keyed digest over the decision, the approved manifest digest, the reviewer and the
uids of the release and its job (and, for a joint job's review, the contract it is given under).
A review written while the webhook was absent, copied from
another release or job, or altered since, has no seal that verifies, so the reconciler does not
act on it. A sealed review still counts only while its reviewer speaks for the provider.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tds_operator.api.modelrelease import (
    REVIEW_NOT_SEALED,
    REVIEWER_NOT_PROVIDER,
    Identity,
    Review,
)
from tds_operator.api.subject import Subject
from tds_operator.policy.decision import Decision
from tds_operator.policy.digest import keyed_digest, keyed_digest_matches
from tds_operator.policy.identity import UserInfo, speaks_for


def _sealed_content(
    decision: str,
    manifest_digest: str | None,
    reviewer: Identity,
    release_uid: str,
    job_uid: str,
    contract: str | None,
) -> dict[str, Any]:
    content = {
        "decision": decision,
        "manifestDigest": manifest_digest,
        "reviewer": {"user": reviewer.user, "groups": list(reviewer.groups)},
        "release": release_uid,
        "job": job_uid,
    }
    # A joint job's review is sealed for its contract too: it cannot be moved to another one.
    return content if contract is None else {**content, "contract": contract}


def review_seal(
    key: bytes,
    decision: str,
    manifest_digest: str | None,
    reviewer: Identity,
    release_uid: str,
    job_uid: str,
    contract: str | None = None,
) -> str:
    """The seal the webhook writes into a review it admits (of a joint job's `contract`)."""
    content = _sealed_content(decision, manifest_digest, reviewer, release_uid, job_uid, contract)
    return keyed_digest(key, content)


def reviewer_of(review: Review) -> UserInfo | None:
    """Who the review says decided, as a requester; None if it names nobody."""
    if review.reviewer is None:
        return None
    return UserInfo(review.reviewer.user, tuple(review.reviewer.groups))


def review_counts(
    key: bytes,
    review: Review,
    release_uid: str,
    job_uid: str,
    provider_owners: Iterable[Subject],
    provider_space: str,
    contract: str | None = None,
) -> Decision:
    """Whether the operator may act on this review: sealed by its webhook for this very release
    and job (and contract, of a joint job), by a reviewer who still speaks for the provider."""
    reviewer = review.reviewer
    content = (
        _sealed_content(
            review.decision, review.manifest_digest, reviewer, release_uid, job_uid, contract
        )
        if reviewer is not None
        else None
    )
    sealed = content is not None and keyed_digest_matches(key, content, review.seal)
    if not sealed:
        return Decision.deny(
            REVIEW_NOT_SEALED,
            "spec.review was not written through the operator's admission webhook (its seal "
            "does not verify for this release): it counts for nothing, and the output stays in "
            "the clean room until its retention ends",
        )
    who = reviewer_of(review)
    if who is None or not speaks_for(provider_owners, who):
        return Decision.deny(
            REVIEWER_NOT_PROVIDER,
            f"the reviewer {who.describe() if who else '<none>'} no longer speaks for DataSpace "
            f"{provider_space}, the provider: the review counts for nothing",
        )
    return Decision.allow("ReviewSealed", f"reviewed by {who.describe()}")
