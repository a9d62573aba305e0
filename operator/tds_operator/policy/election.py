"""Which replica reconciles: the decisions of leader election over a Lease. Pure.

Exactly one replica, the holder of a coordination.k8s.io Lease, reconciles (the admission
webhooks are served apart, by every replica: TDS_ROLE). The holder renews the Lease every
RENEW_INTERVAL_SECONDS. Another replica takes it once it has seen the same record unchanged for
the lease's whole duration by its own clock (replicas never compare clocks, only what they saw
and when). The holder stops reconciling once it has not renewed for LEASE_DURATION_SECONDS -
STEP_DOWN_MARGIN_SECONDS since it sent its last successful renewal: before any other replica may
take over, since the others count from a later instant (when they saw that renewal).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

LEASE_DURATION_SECONDS: Final = 4
"""How long a Lease holds without renewal, as others count it."""
RENEW_INTERVAL_SECONDS: Final = 1.0
"""How often the holder renews, and how often a standby looks at the Lease."""
STEP_DOWN_MARGIN_SECONDS: Final = 1.0
"""The holder stops reconciling this long before others may take over."""
ROUND_TIMEOUT_SECONDS: Final = 2.0
"""An election round (read, then write) that takes longer is abandoned."""


@dataclass(frozen=True)
class LeaseRecord:
    """What a Lease says: who holds it, for how long, since when; its resourceVersion guards
    every write (two replicas racing for it cannot both succeed)."""

    holder: str
    duration_seconds: int
    acquire_time: str
    renew_time: str
    transitions: int
    resource_version: str


def lease_record(lease: Mapping[str, Any] | None) -> LeaseRecord | None:
    """The record of a live Lease, None if there is none."""
    if lease is None:
        return None
    spec = lease.get("spec") or {}
    return LeaseRecord(
        holder=str(spec.get("holderIdentity") or ""),
        duration_seconds=int(spec.get("leaseDurationSeconds") or LEASE_DURATION_SECONDS),
        acquire_time=str(spec.get("acquireTime") or ""),
        renew_time=str(spec.get("renewTime") or ""),
        transitions=int(spec.get("leaseTransitions") or 0),
        resource_version=str(lease["metadata"].get("resourceVersion", "")),
    )


@dataclass(frozen=True)
class Observation:
    """A record as one replica saw it, and when (its monotonic clock) it first saw it so."""

    record: LeaseRecord
    seen_at: float


def observe(previous: Observation | None, record: LeaseRecord, now: float) -> Observation:
    """The observation after reading `record` at `now`: unchanged records keep their first
    sighting; any change (a renewal, a new holder) starts the count again."""
    if previous is not None and _same_term(previous.record, record):
        return previous
    return Observation(record, now)


def _same_term(seen: LeaseRecord, now: LeaseRecord) -> bool:
    return (seen.holder, seen.renew_time, seen.transitions) == (
        now.holder,
        now.renew_time,
        now.transitions,
    )


def expired(observation: Observation, now: float) -> bool:
    """Whether the holder has not renewed for the lease's whole duration, as this replica saw."""
    return now >= observation.seen_at + observation.record.duration_seconds


def held_by(record: LeaseRecord | None, identity: str) -> bool:
    """Whether `identity` holds the Lease."""
    return record is not None and record.holder == identity


def may_take(observation: Observation | None, identity: str, now: float) -> bool:
    """Whether this replica may write the Lease as its holder now: there is none yet, nobody
    holds it (released), it holds it already (a renewal), or the holder let it expire."""
    if observation is None:
        return True
    record = observation.record
    return not record.holder or held_by(record, identity) or expired(observation, now)


def still_leading(last_renewal_sent: float | None, now: float) -> bool:
    """Whether the holder may go on reconciling: its last successful renewal, counted from when
    it was sent, is younger than the lease's duration less the margin."""
    if last_renewal_sent is None:
        return False
    return now < last_renewal_sent + LEASE_DURATION_SECONDS - STEP_DOWN_MARGIN_SECONDS


def lease_spec(identity: str, previous: LeaseRecord | None, now: datetime) -> dict[str, Any]:
    """The Lease's spec as `identity` takes or renews it at `now` (wall clock, for people)."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    renewal = previous is not None and previous.holder == identity
    taken_over = previous is not None and not renewal
    return {
        "holderIdentity": identity,
        "leaseDurationSeconds": LEASE_DURATION_SECONDS,
        "acquireTime": previous.acquire_time if renewal and previous else stamp,
        "renewTime": stamp,
        "leaseTransitions": (previous.transitions if previous else 0) + int(taken_over),
    }


def released_spec() -> dict[str, Any]:
    """The Lease's spec as its holder gives it up on a clean shutdown: nobody holds it, so a
    standby takes it at its next look instead of waiting for it to expire."""
    return {"holderIdentity": None, "leaseDurationSeconds": 1}
