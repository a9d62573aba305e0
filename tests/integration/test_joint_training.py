"""Joint training on the real hub: one TrainingJob naming several providers' contracts, each of
which must admit it and allow its data to be trained together with the others'."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench.hubkit.hub import owner_of, space_namespace, unique
from bench.hubkit.manifests import training_job_body
from bench.hubkit.training import Story
from bench.hubkit.waiting import wait_until
from tests.integration.joint import ANY_PARTNER, joint_deal, joint_job, joint_refusal

pytestmark = pytest.mark.integration


def test_a_joint_job_needs_every_provider_to_allow_joint_training(story: Story) -> None:
    joint = joint_deal(story, ANY_PARTNER, None)
    message = joint_refusal(story, joint, list(joint.contracts))
    assert "JointTrainingNotAllowed" in message
    assert f"DataContract {joint.contracts[1]}" in message
    # Positive control: the contract that allows it, alone, is a job like any other.
    body = training_job_body(unique("j"), joint.namespace, joint.contracts[0], gpus_per_worker=4)
    name = story.submit(owner_of(joint.consumer), body)
    story.wait_job(joint.namespace, name, "Running", timeout=30)


def test_a_provider_allowing_joint_training_only_with_another_is_respected(story: Story) -> None:
    only_bank = {"allowed": True, "with": ["bank"]}
    joint = joint_deal(story, only_bank, ANY_PARTNER)
    message = joint_refusal(story, joint, list(joint.contracts))
    assert "JointPartnerNotAllowed" in message
    assert f"DataContract {joint.contracts[0]}" in message
    assert joint.providers[1] in message


def test_a_joint_job_every_contract_admits_runs_and_each_ledger_records_it(
    story: Story,
) -> None:
    # Positive control of the refusals above: the first contract names the other provider, and
    # both contracts admit the job, which runs.
    joint = joint_deal(story, None, ANY_PARTNER, naming=True)
    body = joint_job(joint.namespace, list(joint.contracts))
    name = story.submit(owner_of(joint.consumer), body)
    running = story.wait_job(joint.namespace, name, "Running", timeout=60)
    for index, contract in enumerate(joint.contracts):
        admitted = [
            e
            for e in story.ledger(contract)
            if e["kind"] == "JobAdmitted" and e["details"]["uid"] == running["metadata"]["uid"]
        ]
        assert len(admitted) == 1
        other = 1 - index
        assert admitted[0]["details"]["combinedWith"] == [
            {"contract": joint.contracts[other], "provider": joint.providers[other]}
        ]


def test_another_consumers_contract_is_answered_as_a_missing_one(story: Story) -> None:
    joint = joint_deal(story, ANY_PARTNER, ANY_PARTNER)
    other = joint_deal(story, ANY_PARTNER, ANY_PARTNER)
    foreign = joint_refusal(story, joint, [joint.contracts[0], other.contracts[0]])
    missing_name = unique("c")
    missing = joint_refusal(story, joint, [joint.contracts[0], missing_name])
    assert "UnknownContract" in foreign
    assert foreign.replace(other.contracts[0], "X") == missing.replace(missing_name, "X")
    # Positive control: the other consumer's own contracts admit its joint job.
    body = joint_job(other.namespace, list(other.contracts))
    name = story.submit(owner_of(other.consumer), body)
    story.wait_job(other.namespace, name, "Running", timeout=60)


def test_each_party_sees_the_joint_training_term_in_its_copy(story: Story) -> None:
    joint = joint_deal(story, None, ANY_PARTNER, naming=True)
    term = {"allowed": True, "with": [joint.providers[1]]}

    def copy_in(space: str) -> dict[str, Any] | None:
        shown = json.loads(
            owner_of(space).kubectl("get", "contracts", "-n", space_namespace(space), "-o", "json")
        )["items"]
        return next((c for c in shown if c["metadata"]["name"] == joint.contracts[0]), None)

    for space in (joint.consumer, joint.providers[0]):
        copy = wait_until(lambda s=space: copy_in(s), timeout=20, what=f"the copy in {space}")
        assert copy["spec"]["jointTraining"] == term
