"""Consent signatures: what the admission webhook stamps, and which consents the reconciler counts.

The webhook alone writes the signatures annotation, one signature per consent an owner gives (who,
when, the digest of the terms). A consent in the spec counts only with a signature of these very
terms, so an approval slipped in past the webhook (or carried over from other terms) does not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from tds_operator.api.datacontract import DataContractSpec
from tds_operator.policy.conditions import timestamp
from tds_operator.policy.contract import PARTIES, approved_by, spec_digest
from tds_operator.policy.identity import UserInfo

SIGNATURES_ANNOTATION: Final = "tds.io/signatures"
"""The annotation holding the stamped signatures, a JSON list; written by the webhook only."""


def signatures_of(annotations: Mapping[str, str] | None) -> list[dict[str, Any]]:
    """The signatures stamped in a contract's annotations (none if absent or unreadable)."""
    raw = (annotations or {}).get(SIGNATURES_ANNOTATION)
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return []
    return [s for s in value if isinstance(s, dict)] if isinstance(value, list) else []


def signatures_annotation(signatures: Sequence[Mapping[str, Any]]) -> str | None:
    """The annotation value for these signatures (None removes it)."""
    return (
        json.dumps(list(signatures), sort_keys=True, separators=(",", ":")) if signatures else None
    )


def signed_spec(
    spec: DataContractSpec, signatures: Sequence[Mapping[str, Any]]
) -> DataContractSpec:
    """The spec with each consent counted only if an owner signed these very terms."""
    digest = spec_digest(spec)
    signed = {s.get("party") for s in signatures if s.get("specDigest") == digest}
    consent = spec.consent
    provider = consent.provider.approved and "provider" in signed
    consumer = consent.consumer.approved and "consumer" in signed
    return spec.model_copy(
        update={
            "consent": consent.model_copy(
                update={
                    "provider": consent.provider.model_copy(update={"approved": provider}),
                    "consumer": consent.consumer.model_copy(update={"approved": consumer}),
                }
            )
        }
    )


def unsigned_consents(spec: DataContractSpec, signatures: Sequence[Mapping[str, Any]]) -> list[str]:
    """Parties whose approval is set in the spec without a matching signature."""
    counted = signed_spec(spec, signatures)
    return [
        party for party in PARTIES if approved_by(spec, party) and not approved_by(counted, party)
    ]


def new_signatures(
    old_spec: DataContractSpec | None,
    new_spec: DataContractSpec,
    requester: UserInfo,
    now: datetime,
    existing_signatures: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """A signature for each party whose approval went from false to true in this change.

    A party that already signed these very terms is not signed again, so replaying a change
    stamps nothing twice.
    """
    digest = spec_digest(new_spec)
    signed = {
        (signature.get("party"), signature.get("specDigest")) for signature in existing_signatures
    }
    return [
        {
            "party": party,
            "user": requester.username,
            "groups": list(requester.groups),
            "at": timestamp(now),
            "specDigest": digest,
        }
        for party in PARTIES
        if not (old_spec is not None and approved_by(old_spec, party))
        and approved_by(new_spec, party)
        and (party, digest) not in signed
    ]
