"""Whether a clean room is sealed, so that a job may start in it. Pure.

A job starts only once its clean room fails closed: the contract's reconcile opened it for the
contract's current terms, every NetworkPolicy that seals it (the provider's ingress policy among
them) reads back from the API server as it was built, no policy lets its pods ask the cluster
DNS, and each dataset the job reads has an IP address to be reached at. Anything else keeps the
job waiting, Admitted, with a condition that says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tds_operator.api.datacontract import CLEAN_ROOM_READY, DataContract
from tds_operator.api.trainingjob import CLEAN_ROOM_NOT_READY, CLEAN_ROOM_SEALED
from tds_operator.policy.conditions import find_condition
from tds_operator.policy.datasets import DATASET_REASONS
from tds_operator.policy.decision import Decision


@dataclass(frozen=True)
class CleanRoomObservation:
    """What the API server shows of a contract's clean room as a job is about to start."""

    namespace: str
    namespace_exists: bool
    policies_missing: Sequence[str] = ()
    """`namespace/name` of each sealing NetworkPolicy that is not there."""
    policies_altered: Sequence[str] = ()
    """`namespace/name` of each sealing NetworkPolicy that differs from what was built."""
    dns_policy: str | None = None
    """`namespace/name` of a policy that lets the clean room ask the cluster DNS, if any."""
    datasets_without_address: Sequence[str] = field(default_factory=tuple)
    """Datasets the job reads whose Service has no cluster IP (missing, or headless)."""


def contract_opened_clean_room(contract: DataContract) -> Decision:
    """Whether the contract's own reconcile reports its clean room open for its current terms."""
    status = contract.status.model_dump(mode="json", by_alias=True) if contract.status else {}
    generation = contract.metadata.generation
    ready = find_condition(status.get("conditions") or [], CLEAN_ROOM_READY) or {}
    # Open, with a dataset missing: not ready for the contract as a whole, but a job that does
    # not read that dataset may start (its own datasets are checked in clean_room_sealed).
    opened = ready.get("status") == "True" or ready.get("reason") in DATASET_REASONS
    if not opened:
        why = ready.get("message") or "its reconcile has not opened it yet"
        return Decision.deny(CLEAN_ROOM_NOT_READY, f"the contract's clean room is not ready: {why}")
    if ready.get("observedGeneration") != generation:
        return Decision.deny(
            CLEAN_ROOM_NOT_READY,
            f"the contract's clean room is not yet open for its generation {generation}",
        )
    return Decision.allow(CLEAN_ROOM_SEALED, "the contract reports its clean room open")


def clean_room_sealed(opened: Decision, observed: CleanRoomObservation) -> Decision:
    """Whether a job may start in the clean room; if not, every reason why."""
    if not opened.allowed:
        return opened
    if not observed.namespace_exists:
        return Decision.deny(
            CLEAN_ROOM_NOT_READY, f"clean room namespace {observed.namespace} does not exist yet"
        )
    problems = [
        *(f"NetworkPolicy {name} is missing" for name in observed.policies_missing),
        *(f"NetworkPolicy {name} differs from its terms" for name in observed.policies_altered),
        *(
            [f"NetworkPolicy {observed.dns_policy} lets clean-room pods ask the cluster DNS"]
            if observed.dns_policy
            else []
        ),
        *(
            f"dataset {name} has no Service with a cluster IP to reach it at (clean rooms "
            "have no resolver)"
            for name in observed.datasets_without_address
        ),
    ]
    if problems:
        return Decision.deny(
            CLEAN_ROOM_NOT_READY,
            f"the job waits until clean room {observed.namespace} is sealed: "
            + "; ".join(problems),
        )
    return Decision.allow(
        CLEAN_ROOM_SEALED,
        f"every NetworkPolicy of clean room {observed.namespace} is in place, and it has no "
        "resolver",
    )
