"""Stamps: what the admission webhook records of each consent, withdrawal and revocation, and
which of them the reconciler believes.

The webhook alone writes the signatures annotation, one stamp per step an owner takes (who, when,
what, the digest of the terms), each sealed with a keyed digest that only the operator can make
(its key lives in a Secret in the operator's namespace). A stamp whose seal does not verify was
not written by the webhook, so it counts for nothing, even if the webhook was bypassed. A consent
in the spec counts only while the party's latest stamp for these very terms is a consent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Literal

from tds_operator.api.datacontract import DataContractSpec, Party
from tds_operator.policy.conditions import timestamp
from tds_operator.policy.contract import PARTIES, approved_by, spec_digest
from tds_operator.policy.digest import keyed_digest, keyed_digest_matches
from tds_operator.policy.identity import UserInfo

SIGNATURES_ANNOTATION: Final = "tds.io/signatures"
"""The annotation holding the stamps, a JSON list; written by the webhook only."""

Action = Literal["consent", "withdraw", "revoke"]
CONSENT: Final = "consent"
WITHDRAW: Final = "withdraw"
REVOKE: Final = "revoke"
SEAL: Final = "mac"
"""The stamp's field holding its keyed digest."""

Stamp = dict[str, Any]


def signatures_of(annotations: Mapping[str, str] | None) -> list[Stamp]:
    """The stamps in a contract's annotations, sealed or not (none if absent or unreadable)."""
    raw = (annotations or {}).get(SIGNATURES_ANNOTATION)
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return []
    return [s for s in value if isinstance(s, dict)] if isinstance(value, list) else []


def signatures_annotation(stamps: Sequence[Mapping[str, Any]]) -> str | None:
    """The annotation value for these stamps (None removes it)."""
    return json.dumps(list(stamps), sort_keys=True, separators=(",", ":")) if stamps else None


def action_of(stamp: Mapping[str, Any]) -> str:
    """What a stamp records: consent (also when unsaid), withdraw or revoke."""
    return str(stamp.get("action", CONSENT))


def _sealed_content(contract: str, stamp: Mapping[str, Any]) -> dict[str, Any]:
    # The contract's name is sealed too, so a stamp cannot be carried over to another contract.
    return {"contract": contract, **{k: v for k, v in stamp.items() if k != SEAL}}


def seal(key: bytes, contract: str, stamp: Mapping[str, Any]) -> Stamp:
    """The stamp with its seal: a keyed digest of its content and the contract's name."""
    return {**stamp, SEAL: keyed_digest(key, _sealed_content(contract, stamp))}


def verified_stamps(stamps: Sequence[Mapping[str, Any]], key: bytes, contract: str) -> list[Stamp]:
    """The stamps the operator sealed for this contract; all others are forged or foreign."""
    return [
        dict(s)
        for s in stamps
        if keyed_digest_matches(key, _sealed_content(contract, s), s.get(SEAL))
    ]


def consent_stamps(stamps: Sequence[Mapping[str, Any]]) -> list[Stamp]:
    """The consents among the stamps (what status.signatures shows)."""
    return [dict(s) for s in stamps if action_of(s) == CONSENT]


def _latest_consent_or_withdrawal(
    stamps: Sequence[Mapping[str, Any]], party: str, digest: str
) -> Mapping[str, Any] | None:
    relevant = [
        s
        for s in stamps
        if s.get("party") == party
        and s.get("specDigest") == digest
        and action_of(s) in (CONSENT, WITHDRAW)
    ]
    return relevant[-1] if relevant else None


def _signed(stamps: Sequence[Mapping[str, Any]], party: str, digest: str) -> bool:
    latest = _latest_consent_or_withdrawal(stamps, party, digest)
    return latest is not None and action_of(latest) == CONSENT


def signed_spec(spec: DataContractSpec, stamps: Sequence[Mapping[str, Any]]) -> DataContractSpec:
    """The spec with each consent counted only if the party's latest stamp for these very terms
    is a consent (pass verified stamps only)."""
    digest = spec_digest(spec)
    consent = spec.consent
    provider = consent.provider.approved and _signed(stamps, "provider", digest)
    consumer = consent.consumer.approved and _signed(stamps, "consumer", digest)
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


def unsigned_consents(spec: DataContractSpec, stamps: Sequence[Mapping[str, Any]]) -> list[str]:
    """Parties whose approval is set in the spec without a matching signature."""
    counted = signed_spec(spec, stamps)
    return [
        party for party in PARTIES if approved_by(spec, party) and not approved_by(counted, party)
    ]


def _stamp(action: Action, party: Party, requester: UserInfo, now: datetime, digest: str) -> Stamp:
    return {
        "action": action,
        "party": party,
        "user": requester.username,
        "groups": list(requester.groups),
        "at": timestamp(now),
        "specDigest": digest,
    }


def new_signatures(
    old_spec: DataContractSpec | None,
    new_spec: DataContractSpec,
    requester: UserInfo,
    now: datetime,
    existing_signatures: Sequence[Mapping[str, Any]],
    speaks_for: Sequence[Party] = (),
) -> list[Stamp]:
    """The stamps this change earns (unsealed): a consent for each party whose approval went
    from false to true, a withdrawal for each that went back, and the revocation, naming the
    party the requester (one of `speaks_for`) revoked as.

    A party whose latest stamp for these very terms is already a consent is not stamped again,
    so replaying a change stamps nothing twice; `existing_signatures` must be verified ones.
    """
    digest = spec_digest(new_spec)
    stamps: list[Stamp] = []
    for party in PARTIES:
        before = old_spec is not None and approved_by(old_spec, party)
        after = approved_by(new_spec, party)
        if after and not before and not _signed(existing_signatures, party, digest):
            stamps.append(_stamp("consent", party, requester, now, digest))
        elif before and not after:
            stamps.append(_stamp("withdraw", party, requester, now, digest))
    newly_revoked = new_spec.revoked and not (old_spec is not None and old_spec.revoked)
    if newly_revoked and speaks_for:
        stamps.append(_stamp("revoke", speaks_for[0], requester, now, digest))
    return stamps
