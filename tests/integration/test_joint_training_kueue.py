"""Joint training with Kueue (TDS_KUEUE=on): the operator running Kueue's contract check judges
a joint job by the same decision as its own queue, before any Workload exists."""

from __future__ import annotations

import pytest

from bench.hubkit.hub import owner_of, unique
from bench.hubkit.kueue import KUEUE
from bench.hubkit.kueue import VERSION as KUEUE_VERSION
from bench.hubkit.manifests import condition, training_job_body
from bench.hubkit.training import Story
from tests.integration.joint import ANY_PARTNER, joint_deal, joint_job, joint_refusal

pytestmark = [pytest.mark.integration, pytest.mark.kueue]


def test_a_joint_job_is_judged_by_every_contract_with_kueue(story: Story) -> None:
    joint = joint_deal(story, ANY_PARTNER, None)
    refused = joint_refusal(story, joint, list(joint.contracts))
    assert "JointTrainingNotAllowed" in refused
    assert f"DataContract {joint.contracts[1]}" in refused
    # Positive control: the first contract alone admits a job through Kueue's contract check.
    body = training_job_body(unique("j"), joint.namespace, joint.contracts[0], gpus_per_worker=4)
    name = story.submit(owner_of(joint.consumer), body)
    running = story.wait_job(joint.namespace, name, "Running", timeout=60)
    assert (condition(running, "Admitted") or {}).get("status") == "True"


def test_a_joint_job_admitted_through_kueue_runs_in_its_own_room(story: Story) -> None:
    joint = joint_deal(story, ANY_PARTNER, ANY_PARTNER)
    name = story.submit(owner_of(joint.consumer), joint_job(joint.namespace, list(joint.contracts)))
    running = story.wait_job(joint.namespace, name, "Running", timeout=90)
    assert (condition(running, "Admitted") or {}).get("status") == "True"
    uid = running["metadata"]["uid"]
    room = f"tds-jr-{uid}"
    assert running["status"]["cleanRoom"] == room
    # Kueue admitted its Workload in the job's own room, through the contract check.
    workloads = story.hub.custom.list_namespaced_custom_object(
        KUEUE, KUEUE_VERSION, room, "workloads"
    )["items"]
    assert len(workloads) == 1
    checks = workloads[0]["status"]["admissionChecks"]
    assert [(c["name"], c["state"]) for c in checks] == [("tds-contract", "Ready")]
    for contract in joint.contracts:
        admitted = [
            e
            for e in story.ledger(contract)
            if e["kind"] == "JobAdmitted" and e["details"]["uid"] == uid
        ]
        assert len(admitted) == 1
