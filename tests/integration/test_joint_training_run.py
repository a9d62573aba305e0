"""Joint jobs running on the real hub: in a sealed room of their own, reaching each provider's
datasets through that provider's own grant, metered against and stopped by every contract."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from kubernetes import client

from bench.hubkit.hub import CLUSTER_ADMIN, OPERATOR_NAMESPACE, owner_of, refusal, space_namespace
from bench.hubkit.manifests import GROUP, VERSION, Body, condition
from bench.hubkit.training import REVOCATION_WATCH, STOP_LATENCY_TARGET, Story
from bench.hubkit.waiting import wait_until
from tests.integration.joint import (
    ANY_PARTNER,
    WORKER,
    Joint,
    identity,
    joint_deal,
    joint_job,
    may_read,
    room,
    room_gone,
    strip_and_delete,
)

pytestmark = pytest.mark.integration

CONTRACTS = "datacontracts"


def start(story: Story, joint: Joint, **spec: Any) -> Body:
    """A joint job of both contracts, once Running."""
    body = joint_job(joint.namespace, list(joint.contracts), **spec)
    name = story.submit(owner_of(joint.consumer), body)
    return story.wait_job(joint.namespace, name, "Running", timeout=60)


def batch_job(story: Story, uid: str, name: str) -> client.V1Job | None:
    jobs = story.hub.batch.list_namespaced_job(room(uid)).items
    return next((job for job in jobs if job.metadata.name == name), None)


def entries_of(story: Story, contract: str, uid: str) -> list[Body]:
    return [e for e in story.ledger(contract) if (e.get("details") or {}).get("uid") == uid]


def test_a_joint_job_runs_sealed_in_its_own_room_reading_each_contracts_datasets_alone(
    story: Story,
) -> None:
    joint = joint_deal(story, ANY_PARTNER, ANY_PARTNER)
    running = start(story, joint, run_for="60s")
    uid, name = running["metadata"]["uid"], running["metadata"]["name"]
    assert running["status"]["cleanRoom"] == room(uid)
    assert running["status"]["contracts"] == [
        {"name": contract, "phase": "Active"} for contract in joint.contracts
    ]
    batch = batch_job(story, uid, name)
    assert batch is not None
    # The room has a clean room's seals: default-deny, no resolver, no RBAC for anyone.
    policies = {
        p.metadata.name for p in story.hub.net.list_namespaced_network_policy(room(uid)).items
    }
    assert {"tds-default-deny", "tds-allow-workers", "tds-allow-datasets"} <= policies
    assert "tds-allow-dns" not in policies
    assert not story.hub.rbac.list_namespaced_role_binding(room(uid)).items
    pod = batch.spec.template.spec
    assert pod.dns_policy == "None"
    assert pod.service_account_name == WORKER
    assert pod.automount_service_account_token is False
    environment = {e.name: e.value for e in pod.containers[0].env}
    endpoints = json.loads(environment["TDS_DATASET_ENDPOINTS"])
    assert set(endpoints) == {f"{provider}/records" for provider in joint.providers}
    # Each provider grants the room its own contract's dataset: the door a gateway asks about.
    for provider in joint.providers:
        assert may_read(story, identity(uid), space_namespace(provider), "records")
        # ... and no dataset its contract does not name (the provider offers "weather" too).
        assert not may_read(story, identity(uid), space_namespace(provider), "weather")
        bindings = story.hub.rbac.list_namespaced_role_binding(space_namespace(provider)).items
        joint_bindings = [b for b in bindings if b.metadata.name == f"tds-joint-{uid}"]
        assert len(joint_bindings) == 1
        assert [(s.name, s.namespace) for s in joint_bindings[0].subjects] == [(WORKER, room(uid))]
    # Nothing of the room in a third space's namespace, nor for the consumer.
    consumer_bindings = story.hub.rbac.list_namespaced_role_binding(joint.namespace).items
    assert not [b for b in consumer_bindings if room(uid) in json.dumps(b.to_dict(), default=str)]
    for contract in joint.contracts:
        kinds = [e["kind"] for e in entries_of(story, contract, uid)]
        assert "JobAdmitted" in kinds, kinds


def revoke_first_timed(story: Story, joint: Joint, name: str, uid: str) -> tuple[float, float]:
    """The first provider's owner revokes its contract; seconds until the joint job was Stopped
    and until its batch Job was gone (as the single-contract stop tests measure them)."""
    provider = owner_of(joint.providers[0]).api()
    provider.patch_cluster_custom_object(
        GROUP, VERSION, CONTRACTS, joint.contracts[0], {"spec": {"revoked": True}}
    )
    accepted = time.monotonic()
    provider.api_client.close()
    stopped_at = gone_at = None
    while time.monotonic() - accepted < REVOCATION_WATCH and None in (stopped_at, gone_at):
        if stopped_at is None:
            body = story.job(joint.namespace, name) or {}
            if (body.get("status") or {}).get("phase") == "Stopped":
                stopped_at = time.monotonic()
        if gone_at is None and batch_job(story, uid, name) is None:
            gone_at = time.monotonic()
        time.sleep(0.02)
    assert stopped_at is not None, f"TrainingJob {name} not Stopped in {REVOCATION_WATCH} s"
    assert gone_at is not None, f"the batch Job {name} not deleted in {REVOCATION_WATCH} s"
    print(
        f"\njoint revocation: TrainingJob Stopped in {stopped_at - accepted:.3f}s, batch Job "
        f"gone in {gone_at - accepted:.3f}s"
    )
    return stopped_at - accepted, gone_at - accepted


def test_one_provider_revoking_stops_the_joint_job_and_the_other_contract_records_it(
    story: Story,
) -> None:
    joint = joint_deal(story, ANY_PARTNER, ANY_PARTNER)
    running = start(story, joint, run_for="60s")
    uid, name = running["metadata"]["uid"], running["metadata"]["name"]
    first, second = (space_namespace(p) for p in joint.providers)
    # Positive control: before the revocation, both providers' grants answer yes.
    assert may_read(story, identity(uid), first, "records")
    assert may_read(story, identity(uid), second, "records")
    time.sleep(2.0)  # some GPU time to meter
    stop_lag, gone_lag = revoke_first_timed(story, joint, name, uid)
    assert stop_lag <= STOP_LATENCY_TARGET
    assert gone_lag <= STOP_LATENCY_TARGET
    stopped = story.job(joint.namespace, name)
    assert stopped is not None
    finished = condition(stopped, "Finished") or {}
    assert finished.get("reason") == "Revoked", finished
    assert f"DataContract {joint.contracts[0]}" in finished["message"]
    used = stopped["status"]["gpuSeconds"]
    assert used > 0
    states = stopped["status"]["contracts"]
    assert [s["name"] for s in states] == list(joint.contracts)
    assert [s.get("stoppedJob") for s in states] == [True, None]
    assert states[1]["phase"] == "Active"
    # The revoking provider's grant is gone; then, the job ended, the other's too, and the room.
    wait_until(
        lambda: not may_read(story, identity(uid), first, "records"),
        timeout=5,
        what="the revoking provider's grant gone",
    )
    wait_until(
        lambda: not may_read(story, identity(uid), second, "records"),
        timeout=10,
        what="the other provider's grant gone with the job's end",
    )
    # Both ledgers record the stop, each with the job's full GPU-seconds and the other's name.
    for index, contract in enumerate(joint.contracts):
        other = 1 - index
        entries = entries_of(story, contract, uid)
        stop = next(e for e in entries if e["kind"] == "JobStopped")
        assert stop["details"]["reason"] == "Revoked"
        assert stop["details"]["gpuSeconds"] == used
        assert stop["details"]["combinedWith"] == [
            {"contract": joint.contracts[other], "provider": joint.providers[other]}
        ]


def test_one_contracts_budget_stops_the_joint_job_while_the_other_has_plenty(
    story: Story,
) -> None:
    # 0.01 GPU-hours are 36 GPU-seconds: the 1 x 4 GPU job uses them up in 9 s of its 60.
    consumer = story.space()
    providers = (story.space(), story.space())
    budgets = ({"maxGpuHours": 0.01, "maxConcurrentGpus": 16}, None)
    contracts = []
    for provider, compute in zip(providers, budgets, strict=True):
        extra = {"compute": compute} if compute else {}
        contracts.append(story.propose(provider, consumer, jointTraining=ANY_PARTNER, **extra))
    for contract in contracts:
        story.wait_contract(contract, "Active")
    joint = Joint(consumer, providers, (contracts[0], contracts[1]))
    running = start(story, joint, run_for="60s")
    uid, name = running["metadata"]["uid"], running["metadata"]["name"]
    stopped = story.wait_job(
        joint.namespace, name, "Stopped", "Failed", "Succeeded", timeout=30, interval=0.05
    )
    assert stopped["status"]["phase"] == "Stopped", stopped["status"]
    finished = condition(stopped, "Finished") or {}
    assert finished.get("reason") == "GpuBudgetExhausted", finished
    assert f"DataContract {joint.contracts[0]}" in finished["message"]
    used = stopped["status"]["gpuSeconds"]
    assert 36 <= used <= 36 + STOP_LATENCY_TARGET * 4
    # The other contract, with plenty left, still Active; its ledger charged the same figure.
    assert story.contract(joint.contracts[1])["status"]["phase"] == "Active"
    story.wait_contract(joint.contracts[0], "Exhausted")
    for contract in joint.contracts:
        stop = next(e for e in entries_of(story, contract, uid) if e["kind"] == "JobStopped")
        assert stop["details"]["reason"] == "GpuBudgetExhausted"
        assert stop["details"]["gpuSeconds"] == used


def test_a_provider_reads_nothing_of_the_other_contract_through_the_joint_job(
    story: Story,
) -> None:
    joint = joint_deal(story, ANY_PARTNER, ANY_PARTNER)
    running = start(story, joint, run_for="3s")
    uid, name = running["metadata"]["uid"], running["metadata"]["name"]
    story.wait_job(joint.namespace, name, "Succeeded", timeout=60)
    first = owner_of(joint.providers[0])
    # Positive control: the provider reads its own contract and its own ledger's joint entries.
    first.kubectl("get", CONTRACTS, joint.contracts[0], "-o", "name")
    own = entries_of(story, joint.contracts[0], uid)
    assert {"JobAdmitted", "JobSucceeded"} <= {e["kind"] for e in own}
    # The other contract, as such, is refused to it.
    refused = refusal(lambda: first.kubectl("get", CONTRACTS, joint.contracts[1], "-o", "json"))
    assert "forbidden" in refused.lower()
    # What its own ledger says of the other contract is its name and provider, nothing more.
    other = story.contract(joint.contracts[1])
    secret = {json.dumps(other["spec"]["compute"]), other["spec"]["purpose"] + "-x"}
    for entry in own:
        text = json.dumps(entry)
        assert all(term not in text for term in secret)
        combined = entry["details"].get("combinedWith")
        if combined is not None:
            assert combined == [{"contract": joint.contracts[1], "provider": joint.providers[1]}]
    # The provider reads its own contract's ledger pages (positive control), not the other's.
    (own_page, *_) = story.hub.ledger_pages(joint.contracts[0])
    first.kubectl("get", "configmap", own_page.metadata.name, "-n", OPERATOR_NAMESPACE)
    for page in story.hub.ledger_pages(joint.contracts[1]):
        refused = refusal(
            lambda page=page: first.kubectl(
                "get", "configmap", page.metadata.name, "-n", OPERATOR_NAMESPACE
            )
        )
        assert "forbidden" in refused.lower()


def test_a_deleted_joint_job_takes_its_room_and_every_grant_with_it(story: Story) -> None:
    joint = joint_deal(story, ANY_PARTNER, ANY_PARTNER)
    running = start(story, joint, run_for="60s")
    uid, name = running["metadata"]["uid"], running["metadata"]["name"]
    # Positive control: while it runs, its room is there and both providers grant it.
    assert not room_gone(story, uid)
    for provider in joint.providers:
        assert may_read(story, identity(uid), space_namespace(provider), "records")
    story.delete_job(joint.namespace, name)
    wait_until(lambda: room_gone(story, uid), timeout=20, what="the joint room going")
    for provider in joint.providers:
        wait_until(
            lambda p=provider: not may_read(story, identity(uid), space_namespace(p), "records"),
            timeout=10,
            what=f"{provider}'s grant gone",
        )
    for contract in joint.contracts:
        kinds = [e["kind"] for e in entries_of(story, contract, uid)]
        assert "JobStopped" in kinds, kinds


def test_a_joint_job_let_go_by_hub_staff_is_swept_on_every_contract(story: Story) -> None:
    joint = joint_deal(story, ANY_PARTNER, ANY_PARTNER)
    running = start(story, joint, run_for="60s")
    uid, name = running["metadata"]["uid"], running["metadata"]["name"]
    assert batch_job(story, uid, name) is not None
    for _ in range(10):
        try:
            strip_and_delete(CLUSTER_ADMIN, joint.namespace, name)
            break
        except client.ApiException as error:
            if error.status != 409:
                raise
    assert story.job(joint.namespace, name) is None
    # Nothing meters its workers any more: the sweep stops them, on every contract's record.
    wait_until(lambda: batch_job(story, uid, name) is None, timeout=10, what="batch Job gone")
    for contract in joint.contracts:
        wait_until(
            lambda c=contract: [
                e
                for e in entries_of(story, c, uid)
                if e["kind"] == "JobStopped" and e["details"]["reason"] == "TrainingJobGone"
            ],
            timeout=10,
            what=f"the stop on {contract}'s ledger",
        )
    wait_until(lambda: room_gone(story, uid), timeout=20, what="the joint room going")
    for provider in joint.providers:
        assert not may_read(story, identity(uid), space_namespace(provider), "records")
