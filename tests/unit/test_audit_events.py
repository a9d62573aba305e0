"""The ledger's events and their ids: recording one twice is a no-op, a new one never is."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tds_operator.audit.chain import extend
from tds_operator.audit.events import (
    admission_event,
    grant_event,
    job_end_event,
    phase_entries,
    phase_event,
    stamp_events,
    usage_event,
)

pytestmark = pytest.mark.unit

NOW = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
DIGEST = "sha256:" + "c" * 64


def test_each_complete_signature_is_one_consent_entry() -> None:
    signatures = [
        {
            "party": "provider",
            "user": "alice",
            "groups": ["sgcc-admins"],
            "at": "2026-11-20T00:00:00Z",
            "specDigest": DIGEST,
        },
        {
            "party": "consumer",
            "user": "bob",
            "at": "2026-11-21T00:00:00Z",
        },  # no digest: no evidence
    ]
    [event] = stamp_events("c", signatures)
    assert (event.id, event.kind, event.actor) == (f"consent/provider/{DIGEST}", "Consent", "alice")
    assert event.at == datetime(2026, 11, 20, tzinfo=UTC)
    assert event.details == {"party": "provider", "groups": ["sgcc-admins"], "specDigest": DIGEST}


def test_withdrawals_reconsents_and_the_revocation_are_entries_naming_who() -> None:
    def stamp(action: str, user: str, at: str) -> dict[str, object]:
        return {
            "action": action,
            "party": "consumer",
            "user": user,
            "groups": ["cmcc-admins"],
            "at": at,
            "specDigest": DIGEST,
        }

    stamps = [
        stamp("consent", "bob", "2026-11-20T00:00:00Z"),
        stamp("withdraw", "carol", "2026-11-21T00:00:00Z"),
        stamp("consent", "bob", "2026-11-22T00:00:00Z"),
        stamp("withdraw", "bob", "2026-11-23T00:00:00Z"),
        stamp("revoke", "dave", "2026-11-24T00:00:00Z"),
    ]
    events = stamp_events("c", stamps)
    assert [(e.id, e.kind, e.actor) for e in events] == [
        (f"consent/consumer/{DIGEST}", "Consent", "bob"),
        (f"withdrawal/consumer/{DIGEST}/1", "ConsentWithdrawn", "carol"),
        (f"consent/consumer/{DIGEST}/2", "Consent", "bob"),
        (f"withdrawal/consumer/{DIGEST}/2", "ConsentWithdrawn", "bob"),
        ("revocation", "Revoked", "dave"),
    ]
    assert events[-1].at == datetime(2026, 11, 24, tzinfo=UTC)
    # Recording them again adds nothing.
    chain = extend([], events)
    assert extend(chain, stamp_events("c", stamps)) == []


def test_a_phase_change_is_recorded_once_and_a_return_to_a_phase_again() -> None:
    first = phase_event("c", [], "Proposed", "AwaitingConsent", NOW)
    assert first is not None
    assert first.id == "phase/1/Proposed"
    chain = extend([], [first])
    assert phase_event("c", chain, "Proposed", "AwaitingConsent", NOW) is None
    active = phase_event("c", chain, "Active", "TermsInForce", NOW)
    assert active is not None
    assert active.id == "phase/2/Active"
    chain += extend(chain, [active])
    suspended = phase_event("c", chain, "Suspended", "SuspendedByHub", NOW)
    assert suspended is not None
    chain += extend(chain, [suspended])
    again = phase_event("c", chain, "Active", "TermsInForce", NOW)
    assert again is not None
    assert again.id == "phase/4/Active"
    assert [e.details["phase"] for e in phase_entries(chain)] == ["Proposed", "Active", "Suspended"]


def test_admission_and_denial_of_one_job_have_their_own_ids() -> None:
    admitted = admission_event("c", "uid-1", "tds-cmcc/train", 16, True, "Admitted", NOW)
    denied = admission_event("c", "uid-1", "tds-cmcc/train", 16, False, "BudgetExhausted", NOW)
    assert (admitted.id, admitted.kind) == ("job/uid-1/admitted", "JobAdmitted")
    assert (denied.id, denied.kind) == ("job/uid-1/denied", "JobDenied")
    assert admitted.actor == "tds-operator"
    assert denied.details == {
        "uid": "uid-1",
        "job": "tds-cmcc/train",
        "reason": "BudgetExhausted",
        "gpus": 16,
    }


def test_usage_entries_are_keyed_by_the_figure_reached() -> None:
    event = usage_event("c", "uid-1", "tds-cmcc/train", 7200, 3600, NOW)
    assert (event.id, event.kind) == ("usage/uid-1/7200", "UsageMetered")
    assert event.details["increment"] == 3600
    # The same figure recorded again (after a restart) is the same entry: a no-op.
    chain = extend([], [event])
    assert extend(chain, [usage_event("c", "uid-1", "tds-cmcc/train", 7200, 3600, NOW)]) == []


def test_a_jobs_end_names_its_phase() -> None:
    event = job_end_event("c", "uid-1", "Stopped", "Revoked", 120, NOW)
    assert (event.id, event.kind) == ("job/uid-1/stopped", "JobStopped")
    assert event.details == {"uid": "uid-1", "reason": "Revoked", "gpuSeconds": 120}


def test_output_steps_tell_where_the_output_is() -> None:
    from tds_operator.audit.events import (
        OUTPUT_CREATED,
        OUTPUT_DELETED,
        OUTPUT_QUARANTINED,
        OUTPUT_RELEASED,
        REVIEW_REJECTED,
        output_event,
        output_steps,
        recorded_output_state,
    )

    now = datetime(2027, 1, 1, tzinfo=UTC)

    def state(*kinds: str) -> str | None:
        events = [output_event("deal", "uid-1", kind, {}, now) for kind in kinds]
        chain = extend([], events)
        return recorded_output_state(output_steps(chain, "uid-1"))

    assert state() is None
    assert state(OUTPUT_CREATED) == "Writable"
    assert state(OUTPUT_CREATED, OUTPUT_QUARANTINED) == "Quarantined"
    assert state(OUTPUT_CREATED, OUTPUT_QUARANTINED, OUTPUT_RELEASED) == "Released"
    assert state(OUTPUT_QUARANTINED, REVIEW_REJECTED, OUTPUT_DELETED) == "Rejected"
    assert state(OUTPUT_QUARANTINED, OUTPUT_DELETED) == "Discarded"


GRANT = {"subject": "system:serviceaccount:tds-cr-c:tds-worker", "namespace": "tds-p", "role": "r"}


def test_a_grant_given_and_taken_back_is_recorded_once_each_with_what_it_covered() -> None:
    assert grant_event("c", [], [], GRANT, NOW) is None  # nothing granted, nothing to take back
    given = grant_event("c", [], ["a", "b"], GRANT, NOW)
    assert given is not None
    assert (given.id, given.kind) == ("grant/1/granted", "DatasetAccessGranted")
    assert given.details == {**GRANT, "datasets": ["a", "b"]}
    chain = extend([], [given])
    assert grant_event("c", chain, ["a", "b"], GRANT, NOW) is None
    taken = grant_event("c", chain, [], GRANT, NOW)
    assert taken is not None
    assert (taken.id, taken.kind) == ("grant/2/revoked", "DatasetAccessRevoked")
    assert taken.details["datasets"] == ["a", "b"]
    chain += extend(chain, [taken])
    assert grant_event("c", chain, [], GRANT, NOW) is None
    again = grant_event("c", chain, ["a"], GRANT, NOW)
    assert again is not None
    assert again.id == "grant/3/granted"
