"""Joint training with Kueue (TDS_KUEUE=on): the operator running Kueue's contract check judges
a joint job by the same decision as its own queue, before any Workload exists."""

from __future__ import annotations

import pytest

from bench.hubkit.hub import owner_of, unique
from bench.hubkit.manifests import condition, training_job_body
from bench.hubkit.training import Story
from tests.integration.joint import ANY_PARTNER, joint_deal, joint_refusal

pytestmark = [pytest.mark.integration, pytest.mark.kueue]


def test_a_joint_job_is_judged_by_every_contract_with_kueue(story: Story) -> None:
    joint = joint_deal(story, ANY_PARTNER, None)
    refused = joint_refusal(story, joint, list(joint.contracts))
    assert "JointTrainingNotAllowed" in refused
    assert f"DataContract {joint.contracts[1]}" in refused
    allowed = joint_deal(story, ANY_PARTNER, ANY_PARTNER)
    unavailable = joint_refusal(story, allowed, list(allowed.contracts))
    assert "JointRunUnavailable" in unavailable
    # Positive control: the first contract alone admits a job through Kueue's contract check.
    body = training_job_body(
        unique("j"), allowed.namespace, allowed.contracts[0], gpus_per_worker=4
    )
    name = story.submit(owner_of(allowed.consumer), body)
    running = story.wait_job(allowed.namespace, name, "Running", timeout=60)
    assert (condition(running, "Admitted") or {}).get("status") == "True"
