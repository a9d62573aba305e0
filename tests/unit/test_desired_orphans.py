"""What a gone TrainingJob left, by the uid its objects carry (never by its name alone)."""

from __future__ import annotations

from typing import Any

import pytest

from tds_operator.audit.chain import AuditEntry
from tds_operator.desired.orphans import Orphan, gpus_per_worker, orphans_of
from tds_operator.handlers.batch_run import made_for
from tds_operator.handlers.trainingjob.orphans import orphan_events

pytestmark = pytest.mark.unit

CONTRACT = "a-to-b"
ROOM = "tds-cr-a-to-b"


def labelled(kind: str, uid: str | None, namespace: str = ROOM, **extra: Any) -> dict[str, Any]:
    labels = {
        "tds.io/contract": CONTRACT,
        "tds.io/training-job-namespace": "tds-b",
        "tds.io/training-job": "train",
    }
    if uid is not None:
        labels["tds.io/training-job-uid"] = uid
    return {
        "kind": kind,
        "metadata": {"name": "train", "namespace": namespace, "labels": labels, **extra},
    }


def job(uid: str, created: str = "2026-12-06T10:00:00Z") -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "tds-b",
            "name": "train",
            "uid": uid,
            "creationTimestamp": created,
        },
        "spec": {"contract": CONTRACT},
    }


def test_an_object_is_a_jobs_own_by_its_uid_not_its_name() -> None:
    old = labelled("Job", "uid-old")
    assert made_for(old, job("uid-old"))
    assert not made_for(old, job("uid-new")), "a new job of the same name adopted the old Job"
    assert not made_for(None, job("uid-old"))
    assert not made_for(labelled("Job", ""), job(""))


def test_an_object_made_before_uids_counts_by_name_only_if_no_older_than_the_job() -> None:
    legacy = labelled("Job", None, creationTimestamp="2026-12-06T10:00:05Z")
    assert made_for(legacy, job("uid-1", created="2026-12-06T10:00:00Z"))
    assert not made_for(legacy, job("uid-2", created="2026-12-06T10:01:00Z"))


def test_objects_of_a_gone_uid_are_orphans_and_those_of_a_live_one_are_not() -> None:
    objects = [labelled("Job", "gone"), labelled("Pod", "gone"), labelled("Pod", "live")]
    found = orphans_of(objects, [job("live")])
    assert found == [Orphan(CONTRACT, "tds-b", "train", "gone")]
    # The same name held by a live job does not shield the gone one's objects.
    assert orphans_of([labelled("PersistentVolumeClaim", "gone")], [job("live")]) == found


def test_objects_outside_their_contracts_clean_room_are_never_taken() -> None:
    # Labels are anybody's to set outside the clean room, where the operator alone writes.
    assert orphans_of([labelled("Pod", "gone", namespace="tds-b")], []) == []
    assert orphans_of([{"metadata": {"namespace": ROOM, "labels": {}}}], []) == []


def test_objects_made_before_uids_are_orphans_when_no_job_has_their_name() -> None:
    legacy = labelled("Job", None)
    assert orphans_of([legacy], [job("any")]) == []
    assert orphans_of([legacy], []) == [Orphan(CONTRACT, "tds-b", "train", "")]


def test_a_workers_gpus_are_read_from_its_limits() -> None:
    pod = {"spec": {"containers": [{"resources": {"limits": {"nvidia.com/gpu": "4"}}}]}}
    assert gpus_per_worker([pod]) == 4
    assert gpus_per_worker([]) == 0


def entry(kind: str, uid: str, id: str, **details: Any) -> AuditEntry:
    return AuditEntry(
        sequence=1,
        id=id,
        at="2026-12-06T00:00:00Z",
        kind=kind,
        contract=CONTRACT,
        actor="tds-operator",
        details={"uid": uid, **details},
        previous="",
        hash="",
    )


def test_a_gone_running_job_is_metered_stopped_and_its_output_discarded() -> None:
    orphan = Orphan(CONTRACT, "tds-b", "train", "u1")
    recorded = [
        entry("JobAdmitted", "u1", "job/u1/admitted", job="tds-b/train"),
        entry("UsageMetered", "u1", "usage/u1/3600", gpuSeconds=3600),
        entry("OutputCreated", "u1", "output/u1/outputCreated"),
    ]
    claim = {"spec": {"volumeName": "pv-1"}}
    kinds = {e.kind: e for e in orphan_events(orphan, recorded, 4000, True, claim)}
    assert kinds["UsageMetered"].details["gpuSeconds"] == 4000
    assert kinds["UsageMetered"].details["increment"] == 400
    assert kinds["JobStopped"].details["reason"] == "TrainingJobGone"
    assert kinds["OutputDeleted"].details == {
        "uid": "u1",
        "reason": "TrainingJobGone",
        "volume": "pv-1",
    }


def test_what_is_on_the_record_already_is_not_recorded_again() -> None:
    orphan = Orphan(CONTRACT, "tds-b", "train", "u1")
    recorded = [
        entry("UsageMetered", "u1", "usage/u1/60", gpuSeconds=60),
        entry("JobSucceeded", "u1", "job/u1/Succeeded", gpuSeconds=60),
        entry("OutputCreated", "u1", "output/u1/outputCreated"),
        entry("OutputReleased", "u1", "output/u1/outputReleased"),
    ]
    assert orphan_events(orphan, recorded, 60, True, None) == []


def test_a_job_made_before_uids_is_found_on_the_ledger_by_its_name() -> None:
    orphan = Orphan(CONTRACT, "tds-b", "train", "")
    recorded = [entry("JobAdmitted", "u9", "job/u9/admitted", job="tds-b/train")]
    events = orphan_events(orphan, recorded, 10, True, None)
    assert {e.details["uid"] for e in events} == {"u9"}
    assert orphan_events(orphan, [], 10, True, None) == []


def test_pods_still_terminating_after_a_recorded_end_add_no_usage() -> None:
    orphan = Orphan(CONTRACT, "tds-b", "train", "u1")
    recorded = [
        entry("UsageMetered", "u1", "usage/u1/60", gpuSeconds=60),
        entry("JobStopped", "u1", "job/u1/Stopped", gpuSeconds=60),
    ]
    assert orphan_events(orphan, recorded, 61, True, None) == []
