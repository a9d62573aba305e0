"""Proposals (ContractProposal): the contract's name, the proposer's sealed stamp, and what the
relay does with a proposal. Pure: no I/O.

The proposer is bound to the request that wrote the proposal: the admission webhook stamps the
user and groups the API server authenticated for that very request (overwriting whatever the
writer put there) with the namespace, the proposal's name and a digest of its terms, sealed with
the operator's key. The relay creates the DataContract with that stamp; the DataContract's
webhook admits the relay's create only with a stamp whose seal, name, namespace and terms match,
and then judges the create as the stamped proposer's own.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from tds_operator.policy.digest import keyed_digest, keyed_digest_matches, sha256_digest
from tds_operator.policy.identity import UserInfo

PROPOSER_ANNOTATION: Final = "tds.io/proposer"
"""The sealed stamp of who proposed, on the proposal and on the DataContract made from it."""
PROPOSAL_ANNOTATION: Final = "tds.io/proposal"
"""On a DataContract made from a proposal: `<namespace>/<name>` of that proposal."""
NAME_DIGEST_HEX: Final = 16
"""Hex digits of the digest that ends a proposed contract's name: 64 bits."""
NAME_MARK: Final = "-p"
"""What precedes the digest: a shortened clean-room name ends in `-<16 hex>`, never in this."""
RESERVED_NAME: Final = re.compile(rf"^.*{NAME_MARK}[0-9a-f]{{{NAME_DIGEST_HEX}}}$")
"""Contract names ending in the mark and a digest are kept for contracts made from proposals."""
CONTRACT_NAME_MAX: Final = 63
SEAL: Final = "mac"

# Refusal reasons a proposal's status may carry.
NOT_A_SPACE_NAMESPACE: Final = "NotASpaceNamespace"
NOT_AN_OWNER: Final = "NotAnOwner"
NOT_A_PARTY: Final = "NotAParty"
UNSTAMPED: Final = "ProposerUnstamped"
NAME_TAKEN: Final = "NameTaken"
NAME_RESERVED: Final = "NameReserved"
EDITED_AFTER_CREATION: Final = "EditedAfterCreation"


def contract_name(space: str, proposal: str) -> str:
    """`<space>-<proposal>-p<16 hex>`: the digest is of the space and the proposal's name apart,
    so no other space's proposal gives this name, and the text before it is cut to fit 63."""
    digest = hashlib.sha256(f"{space}/{proposal}".encode()).hexdigest()[:NAME_DIGEST_HEX]
    cut = CONTRACT_NAME_MAX - NAME_DIGEST_HEX - len(NAME_MARK)
    readable = f"{space}-{proposal}"[:cut].rstrip("-")
    return f"{readable}{NAME_MARK}{digest}"


def name_is_reserved(name: str) -> bool:
    """Whether a DataContract of this name may be made only from a proposal."""
    return RESERVED_NAME.fullmatch(name) is not None


def terms_digest(spec: Mapping[str, Any]) -> str:
    """sha256 of the proposed spec, as the stamp binds it."""
    return sha256_digest(dict(spec))


def _content(stamp: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in stamp.items() if key != SEAL}


def proposer_stamp(
    key: bytes,
    requester: UserInfo,
    namespace: str,
    proposal: str,
    spec: Mapping[str, Any],
    now: datetime,
) -> str:
    """The annotation's value: who wrote these terms into this proposal, sealed."""
    stamp: dict[str, Any] = {
        "user": requester.username,
        "groups": list(requester.groups),
        "namespace": namespace,
        "proposal": proposal,
        "terms": terms_digest(spec),
        "at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    stamp[SEAL] = keyed_digest(key, stamp)
    return json.dumps(stamp, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Proposer:
    """A stamp whose seal verified."""

    user: UserInfo
    namespace: str
    proposal: str
    terms: str


def verified_proposer(key: bytes, value: str | None) -> Proposer | None:
    """The stamp in an annotation's value, if the operator sealed it; None otherwise."""
    try:
        stamp = json.loads(value or "")
    except ValueError:
        return None
    if not isinstance(stamp, dict) or not keyed_digest_matches(
        key, _content(stamp), stamp.get(SEAL)
    ):
        return None
    groups = stamp.get("groups")
    return Proposer(
        user=UserInfo(str(stamp.get("user") or ""), tuple(str(g) for g in groups or ())),
        namespace=str(stamp.get("namespace") or ""),
        proposal=str(stamp.get("proposal") or ""),
        terms=str(stamp.get("terms") or ""),
    )


def stamp_fits(
    proposer: Proposer | None, namespace: str, proposal: str, spec: Mapping[str, Any]
) -> bool:
    """Whether a verified stamp is for this proposal and these very terms."""
    return (
        proposer is not None
        and proposer.namespace == namespace
        and proposer.proposal == proposal
        and proposer.terms == terms_digest(spec)
    )


@dataclass(frozen=True)
class ProposalOutcome:
    """What the relay does: create the contract, or only report."""

    create: bool
    phase: str
    reason: str
    message: str
    retry: bool = False
    """Refused by the DataContract's webhook: tried again when a party's space changes."""


def decide_proposal(
    contract: str,
    stamped: bool,
    live: Mapping[str, Any] | None,
    proposal_key: str,
    spec: Mapping[str, Any],
) -> ProposalOutcome:
    """What becomes of a proposal whose contract would be `contract` (live: that DataContract as
    it is, if it exists). Only a proposal of this space can make this name, so whatever is found
    under it is this space's own."""
    if live is not None:
        annotations = (live.get("metadata") or {}).get("annotations") or {}
        if annotations.get(PROPOSAL_ANNOTATION) != proposal_key:
            return ProposalOutcome(
                False, "Refused", NAME_TAKEN,
                f"DataContract {contract} exists and was not made from this proposal; "
                "propose under another name",
            )  # fmt: skip
        if _stamped_terms(annotations.get(PROPOSER_ANNOTATION)) != terms_digest(spec):
            return ProposalOutcome(
                False, "Created", EDITED_AFTER_CREATION,
                f"DataContract {contract} exists as first proposed; edits to a proposal after "
                "its contract exists are ignored (consent, withdraw or revoke on the "
                "DataContract; propose new terms with a new ContractProposal)",
            )  # fmt: skip
        return ProposalOutcome(False, "Created", "Created", made_from_this(contract))
    if not stamped:
        return ProposalOutcome(
            False, "Refused", UNSTAMPED,
            "these terms carry no stamp of an owner of this space made by the admission "
            "webhook: an owner writes them again (kubectl apply)",
        )  # fmt: skip
    return ProposalOutcome(True, "Created", "Created", made_from_this(contract))


def made_from_this(contract: str) -> str:
    """What a proposal's status says once its contract is made: the same before and after the
    create, so that a converged proposal's reconcile writes nothing."""
    return f"DataContract {contract} was made from this proposal"


def _stamped_terms(value: str | None) -> str | None:
    """The digest of the terms a contract was made from, as its copy of the stamp says."""
    try:
        stamp = json.loads(value or "")
    except ValueError:
        return None
    return str(stamp.get("terms")) if isinstance(stamp, dict) else None
