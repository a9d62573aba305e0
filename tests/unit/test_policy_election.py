"""Leader election's decisions: whose Lease, expired or not, who may take it. Pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tds_operator.policy.election import (
    LEASE_DURATION_SECONDS,
    STEP_DOWN_MARGIN_SECONDS,
    LeaseRecord,
    expired,
    held_by,
    lease_record,
    lease_spec,
    may_take,
    observe,
    released_spec,
    still_leading,
)

pytestmark = pytest.mark.unit

NOW = datetime(2027, 1, 15, 12, 0, 0, 250000, tzinfo=UTC)


def record(holder: str = "replica-a", renewed: str = "2027-01-15T12:00:00.000000Z") -> LeaseRecord:
    return LeaseRecord(
        holder, LEASE_DURATION_SECONDS, "2027-01-15T11:00:00.000000Z", renewed, 2, "41"
    )


def test_a_lease_reads_back_as_its_record() -> None:
    lease = {
        "metadata": {"name": "tds-operator-leader", "resourceVersion": "41"},
        "spec": {
            "holderIdentity": "replica-a",
            "leaseDurationSeconds": 4,
            "acquireTime": "2027-01-15T11:00:00.000000Z",
            "renewTime": "2027-01-15T12:00:00.000000Z",
            "leaseTransitions": 2,
        },
    }
    assert lease_record(lease) == record()
    assert lease_record(None) is None
    released = lease_record({"metadata": {"resourceVersion": "42"}, "spec": {}})
    assert released is not None
    assert released.holder == ""


def test_a_lease_held_by_another_is_not_taken_before_it_expires() -> None:
    seen = observe(None, record(), now=100.0)
    assert not may_take(seen, "replica-b", now=100.0 + LEASE_DURATION_SECONDS - 0.1)
    assert not expired(seen, now=100.0 + LEASE_DURATION_SECONDS - 0.1)


def test_an_unrenewed_lease_expires_by_the_observers_own_clock() -> None:
    seen = observe(None, record(), now=100.0)
    # The same record seen again later does not restart the count...
    again = observe(seen, record(), now=102.0)
    assert again.seen_at == 100.0
    assert expired(again, now=100.0 + LEASE_DURATION_SECONDS)
    assert may_take(again, "replica-b", now=100.0 + LEASE_DURATION_SECONDS)


def test_a_renewal_restarts_the_count() -> None:
    seen = observe(None, record(), now=100.0)
    renewed = observe(seen, record(renewed="2027-01-15T12:00:01.000000Z"), now=101.0)
    assert renewed.seen_at == 101.0
    assert not may_take(renewed, "replica-b", now=104.5)
    # A new holder restarts it too.
    taken = observe(
        renewed, record(holder="replica-c", renewed="2027-01-15T12:00:01.000000Z"), 102.0
    )
    assert taken.seen_at == 102.0


def test_the_holder_renews_and_anyone_takes_a_missing_or_released_lease() -> None:
    assert may_take(observe(None, record(), now=100.0), "replica-a", now=100.0)
    assert held_by(record(), "replica-a")
    assert not held_by(record(), "replica-b")
    assert not held_by(None, "replica-a")
    assert may_take(None, "replica-b", now=0.0)
    assert may_take(observe(None, record(holder=""), now=100.0), "replica-b", now=100.0)


def test_the_holder_steps_down_before_anyone_may_take_over() -> None:
    sent = 100.0
    assert still_leading(sent, sent + 1.0)
    last_moment = sent + LEASE_DURATION_SECONDS - STEP_DOWN_MARGIN_SECONDS
    assert not still_leading(sent, last_moment)
    # Others count from when they saw the renewal, which is after it was sent.
    assert not expired(observe(None, record(), now=sent), last_moment)
    assert not still_leading(None, sent)


def test_taking_over_counts_a_transition_and_a_renewal_keeps_the_acquire_time() -> None:
    renewal = lease_spec("replica-a", record(), NOW)
    assert renewal["holderIdentity"] == "replica-a"
    assert renewal["acquireTime"] == "2027-01-15T11:00:00.000000Z"
    assert renewal["renewTime"] == "2027-01-15T12:00:00.250000Z"
    assert renewal["leaseTransitions"] == 2
    takeover = lease_spec("replica-b", record(), NOW)
    assert takeover["acquireTime"] == takeover["renewTime"] == "2027-01-15T12:00:00.250000Z"
    assert takeover["leaseTransitions"] == 3
    first = lease_spec("replica-a", None, NOW)
    assert first["leaseTransitions"] == 0
    assert first["leaseDurationSeconds"] == LEASE_DURATION_SECONDS


def test_a_released_lease_names_no_holder() -> None:
    assert released_spec()["holderIdentity"] is None
