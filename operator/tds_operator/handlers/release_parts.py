"""Gather the contracts of a release of a joint job's output: each contract's clause, its provider,
the review spec.reviews holds for it and what its own ledger records of the output; and the
ledger entries of the reviews, each on its own contract's ledger. Read by the release reconciler
and its admission webhook alike, for the pure decision (policy/joint_releases.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from tds_operator import API_VERSION, FIELD_MANAGER
from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import DataSpace, space_namespace
from tds_operator.api.jobcontracts import contracts_of
from tds_operator.api.modelrelease import ContractReview, Review, ReviewDecision
from tds_operator.api.resources import DATA_CONTRACT, Manifest
from tds_operator.audit.chain import AuditEntry, AuditEvent
from tds_operator.audit.events import (
    MANIFEST_FIELD,
    OUTPUT_QUARANTINED,
    RELEASE_REQUESTED,
    REVIEW_APPROVED,
    REVIEW_REJECTED,
    output_event,
    output_steps,
)
from tds_operator.handlers.context import Operator, utcnow
from tds_operator.handlers.gather import data_space
from tds_operator.policy.joint_releases import ContractPart
from tds_operator.policy.outputs import effective_clause
from tds_operator.policy.releases import ReleaseLedger

REVIEW_KINDS: dict[ReviewDecision, str] = {"Approved": REVIEW_APPROVED, "Rejected": REVIEW_REJECTED}


def release_ledger(steps: Mapping[str, AuditEntry]) -> ReleaseLedger:
    """What the ledger's steps of a job's output say, as the pure decision reads it."""
    requested, quarantined = steps.get(RELEASE_REQUESTED), steps.get(OUTPUT_QUARANTINED)
    return ReleaseLedger(
        requested_by=str(requested.details.get("releaseUid") or "") if requested else None,
        requested_name=str(requested.details.get("release") or "") if requested else "",
        quarantined=quarantined is not None,
        manifest_digest=quarantined.details.get(MANIFEST_FIELD) if quarantined else None,
        volume=str(quarantined.details.get("volume") or "") if quarantined else "",
        reviews=frozenset(d for d, kind in REVIEW_KINDS.items() if kind in steps),
    )


@dataclass(frozen=True)
class JointContract:
    """One contract of a joint job, as the API server has it now."""

    name: str
    contract: DataContract | None
    """None if it is gone, does not parse or is not the job's space's contract."""
    active: bool
    provider: DataSpace | None

    def part(
        self, review: ContractReview | None, recorded: frozenset[ReviewDecision]
    ) -> ContractPart:
        """The contract as the pure decision reads it."""
        clause = self.contract.spec.outputs.model_export if self.contract else "review"
        owners = tuple(self.provider.spec.owners) if self.provider else ()
        space = (self.provider.metadata.name or "") if self.provider else "(none)"
        return ContractPart(
            self.name,
            effective_clause(clause, self.active),
            owners,
            space,
            review,
            recorded,
        )


async def joint_contracts(
    op: Operator, namespace: str, job: Manifest | None
) -> tuple[JointContract, ...]:
    """Every contract of a joint job in `namespace` (none for a job of one contract)."""
    names = contracts_of((job or {}).get("spec") or {})
    if len(names) < 2:
        return ()
    found = []
    for name in names:
        body = await op.kube.get(API_VERSION, DATA_CONTRACT, name)
        try:
            contract = DataContract.model_validate(body) if body else None
        except ValidationError:
            contract = None
        if contract is not None and space_namespace(contract.spec.consumer.space) != namespace:
            # Not the job's space's contract: the release is told nothing of it.
            body, contract = None, None
        active = ((body or {}).get("status") or {}).get("phase") == "Active"
        provider = await data_space(op, contract.spec.provider.space) if contract else None
        found.append(JointContract(name, contract, active, provider))
    return tuple(found)


async def joint_parts(
    op: Operator,
    contracts: Sequence[JointContract],
    reviews: Sequence[ContractReview],
    job_uid: str,
) -> tuple[ContractPart, ...]:
    """Each contract with its review from spec.reviews and the reviews its ledger records."""
    given = {review.contract: review for review in reviews}
    parts = []
    for joint in contracts:
        steps = output_steps((await op.ledger.load(joint.name)).entries, job_uid)
        recorded = release_ledger(steps).reviews
        parts.append(joint.part(given.get(joint.name), recorded))
    return tuple(parts)


def reviewing_providers(
    contracts: Sequence[JointContract], parts: Sequence[ContractPart]
) -> list[DataSpace]:
    """The providers whose review the release waits for: of the contracts under review."""
    return [
        joint.provider
        for joint, part in zip(contracts, parts, strict=False)
        if joint.provider is not None and part.clause == "review"
    ]


def review_event(
    contract: str, job_uid: str, review: Review, release: str, now: datetime
) -> AuditEvent | None:
    """The ledger entry of a review that counts, on the contract it was given under."""
    if review.reviewer is None:
        return None
    details: dict[str, Any] = {
        "release": release,
        "groups": review.reviewer.groups,
        **({MANIFEST_FIELD: review.manifest_digest} if review.decision == "Approved" else {}),
    }
    kind = REVIEW_KINDS[review.decision]
    return output_event(contract, job_uid, kind, details, now, actor=review.reviewer.user)


async def record_on(
    op: Operator,
    contracts: Sequence[str],
    uid: str,
    kind: str,
    details: Mapping[str, Any],
    actor: str = FIELD_MANAGER,
) -> None:
    """One step of a job's output on each of these contracts' ledgers, in their order, all at
    the same instant."""
    now = utcnow()
    for contract in contracts:
        event = output_event(contract, uid, kind, details, now, actor=actor)
        await op.ledger.record(contract, [event])
