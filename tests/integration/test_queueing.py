"""Queue, don't deny: a TrainingJob that does not fit its contract's maxConcurrentGpus *yet* waits
Queued, holding and metering nothing, and is admitted in creation order as soon as it fits; the
contract's permanent refusals still deny it, and revocation ends the queue with the contract's
reason. The hub has 16 GPUs (two nodes of 8): a 2 x 8 job takes them all."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from bench.hubkit.hub import KubectlError, owner_of, unique
from bench.hubkit.manifests import Body, condition, parse_time, training_job_body
from bench.hubkit.training import Deal, Story, seconds
from bench.hubkit.waiting import wait_until

pytestmark = pytest.mark.integration

JOBS = "trainingjobs"
WORKERS, GPUS_PER_WORKER = 2, 8
ENDED = ("Succeeded", "Failed", "Stopped", "Denied")


def submit_in_order(story: Story, deal: Deal, count: int, **job: Any) -> list[str]:
    """`count` 2 x 8 GPU jobs created one after another by the consumer's owner; their names sort
    in creation order, so the order is theirs even within one second of creation time."""
    base = unique("q")
    names = [f"{base}-{index}" for index in range(count)]
    for name in names:
        body = training_job_body(
            name,
            deal.namespace,
            deal.contract,
            workers=WORKERS,
            gpus_per_worker=GPUS_PER_WORKER,
            **job,
        )
        story.submit(owner_of(deal.consumer), body)
    return names


def queued(story: Story, deal: Deal, name: str, position: int) -> Body:
    """The job once Queued at `position`, with the condition that says why."""

    def at_position() -> Body | None:
        body = story.job(deal.namespace, name) or {}
        status = body.get("status") or {}
        if status.get("phase") == "Queued" and status.get("queuePosition") == position:
            return body
        return None

    return wait_until(at_position, timeout=30, what=f"TrainingJob {name} Queued at {position}")


def ledger_kinds(story: Story, contract: str, uid: str) -> list[str]:
    return [e["kind"] for e in story.ledger(contract) if e["details"].get("uid") == uid]


def test_jobs_that_do_not_fit_yet_run_one_after_another_none_denied(story: Story) -> None:
    deal = story.deal(compute={"maxGpuHours": 10, "maxConcurrentGpus": 16})
    run_for = "4s"
    first, second, third = submit_in_order(story, deal, 3, run_for=run_for)
    story.wait_job(deal.namespace, first, "Running", timeout=30)
    waiting = queued(story, deal, second, 1)
    last = queued(story, deal, third, 2)
    why = condition(last, "Queued")
    assert why is not None
    assert (why["status"], why["reason"]) == ("True", "ContractConcurrency")
    assert "position 2" in why["message"]
    assert "maxConcurrentGpus 16" in why["message"]
    # Waiting holds nothing: no batch Job, no GPU-seconds, no admission on the record.
    for body in (waiting, last):
        name = body["metadata"]["name"]
        assert story.batch_job(deal.contract, name) is None
        assert not body["status"].get("gpuSeconds"), body["status"]
        assert ledger_kinds(story, deal.contract, body["metadata"]["uid"]) == []
    story.wait_event(
        deal.namespace, third, lambda e: e.reason == "ContractConcurrency" and e.type == "Normal"
    )

    ended = [story.wait_job(deal.namespace, n, *ENDED, timeout=90) for n in (first, second, third)]
    assert [body["status"]["phase"] for body in ended] == ["Succeeded"] * 3
    # In creation order, one at a time: each starts once the one before it has ended.
    for before, after in itertools.pairwise(ended):
        assert parse_time(after["status"]["startTime"]) >= parse_time(
            before["status"]["completionTime"]
        ), (before["status"], after["status"])
    # Each is metered for its own run only, not for its wait (1 s of timestamp resolution per
    # worker and GPU either way).
    own_run = WORKERS * GPUS_PER_WORKER * seconds(run_for)
    for body in ended:
        assert abs(body["status"]["gpuSeconds"] - own_run) <= WORKERS * GPUS_PER_WORKER, body
        assert "queuePosition" not in body["status"]
        left = condition(body, "Queued")
        if body["metadata"]["name"] != first:
            assert left is not None
            assert (left["status"], left["reason"]) == ("False", "Admitted")
        kinds = ledger_kinds(story, deal.contract, body["metadata"]["uid"])
        assert "JobDenied" not in kinds
        assert kinds.count("JobAdmitted") == 1, kinds


def test_two_jobs_created_together_share_by_queueing(story: Story) -> None:
    # Each fits alone, so the webhook lets both through; admission is serialised per contract:
    # one takes the 8 GPUs, the other waits for them instead of being denied.
    deal = story.deal(compute={"maxGpuHours": 10, "maxConcurrentGpus": 8})
    names = [unique("j"), unique("j")]
    bodies = [
        training_job_body(n, deal.namespace, deal.contract, gpus_per_worker=8, run_for="3s")
        for n in names
    ]
    assert story.submit_together(owner_of(deal.consumer), bodies) == [None, None]
    for name in names:
        ended = story.wait_job(deal.namespace, name, *ENDED, timeout=60)
        assert ended["status"]["phase"] == "Succeeded", ended["status"]


def test_revocation_ends_the_queue_with_the_contracts_reason(story: Story) -> None:
    deal = story.deal(compute={"maxGpuHours": 10, "maxConcurrentGpus": 16})
    running, *waiting = submit_in_order(story, deal, 3, run_for="60s")
    story.wait_job(deal.namespace, running, "Running", timeout=30)
    for position, name in enumerate(waiting, start=1):
        queued(story, deal, name, position)

    owner_of(deal.provider).kubectl(
        "patch", "datacontract", deal.contract, "--type=merge", "-p", '{"spec":{"revoked":true}}'
    )
    stopped = story.wait_job(deal.namespace, running, *ENDED, timeout=10)
    assert stopped["status"]["phase"] == "Stopped"
    assert (condition(stopped, "Finished") or {}).get("reason") == "Revoked"
    for name in waiting:
        denied = story.wait_job(deal.namespace, name, *ENDED, timeout=10)
        assert denied["status"]["phase"] == "Denied", denied["status"]
        admitted = condition(denied, "Admitted")
        assert admitted is not None
        assert (admitted["status"], admitted["reason"]) == ("False", "Revoked")
        assert (condition(denied, "Queued") or {}).get("status") == "False"
        assert not denied["status"].get("gpuSeconds")
        assert "queuePosition" not in denied["status"]
        assert story.batch_job(deal.contract, name) is None
        kinds = ledger_kinds(story, deal.contract, denied["metadata"]["uid"])
        assert kinds == ["JobDenied"], kinds
    # No workload of the contract is left.
    assert all(story.batch_job(deal.contract, n) is None for n in [running, *waiting])


def test_a_consumer_cannot_promote_its_queued_job(story: Story) -> None:
    # The attacker owns the consumer space and wants its waiting job to run now.
    deal = story.deal(compute={"maxGpuHours": 10, "maxConcurrentGpus": 16})
    running, waiting = submit_in_order(story, deal, 2, run_for="30s")
    story.wait_job(deal.namespace, running, "Running", timeout=30)
    queued(story, deal, waiting, 1)
    attacker = owner_of(deal.consumer)
    promote = '{"status":{"phase":"Admitted","queuePosition":null}}'
    with pytest.raises(KubectlError) as refused:
        attacker.kubectl(
            "patch", JOBS, waiting, "-n", deal.namespace, "--subresource=status",
            "--type=merge", "-p", promote,
        )  # fmt: skip
    assert "forbidden" in str(refused.value).lower()
    assert queued(story, deal, waiting, 1)
    assert story.batch_job(deal.contract, waiting) is None
