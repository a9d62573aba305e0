"""The sealed clean room, attacked on the real hub by the consumer: no workload-written text comes
back, the backstop deadline ends with the contract, a job never starts in a clean room whose
policies are not all in place, and off a simulation hub the consumer cannot set pod metadata.

The hub does not run containers nor enforce NetworkPolicies: that clean rooms have no resolver
is proved by the objects (test_training's 2 x 8 job: pod spec, addresses, policies)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bench.hubkit.hub import (
    CLUSTER_ADMIN,
    CONTRACTS,
    clean_room,
    dry_run_refusal,
    owner_of,
    unique,
    unique_contract,
)
from bench.hubkit.manifests import GROUP, VERSION, Body, condition, training_job_body
from bench.hubkit.processes import OperatorProcess
from bench.hubkit.training import Deal, Story
from bench.hubkit.waiting import wait_until

pytestmark = pytest.mark.integration

# What a worker could write to /dev/termination-log: 4 KiB of the provider's rows.
PROVIDER_ROWS = "".join(
    f"{i:04d},2025-01-15T{i % 24:02d}:00,substation-{i},412.7MW;" for i in range(90)
)[:4096]
LEAKED_PIECE = "substation-42,412.7MW"


def consumers_view(deal: Deal, name: str) -> str:
    """What the operator reports that the consumer's owner can read about the job: the
    TrainingJob's status, the Events of its namespace and the contract's status, as JSON."""
    owner = owner_of(deal.consumer)
    status = "jsonpath={.status}"
    return "\n".join(
        [
            owner.kubectl("get", "trainingjob", name, "-n", deal.namespace, "-o", status),
            owner.kubectl("get", "events", "-n", deal.namespace, "-o", "json"),
            owner.kubectl("get", "datacontract", deal.contract, "-o", status),
        ]
    )


def test_a_workers_termination_message_never_reaches_the_consumer(story: Story) -> None:
    deal = story.deal()
    body = training_job_body(unique("j"), deal.namespace, deal.contract, run_for="2s", fail=True)
    body["metadata"]["annotations"]["hub.tds.io/termination-message"] = PROVIDER_ROWS
    name = story.submit(owner_of(deal.consumer), body)
    failed = story.wait_job(deal.namespace, name, "Failed", "Succeeded", timeout=30)
    assert failed["status"]["phase"] == "Failed", failed["status"]
    # The worker did write it: the attack took place.
    (pod,) = story.pods(deal.contract, name)
    assert pod.status.container_statuses[0].state.terminated.message == PROVIDER_ROWS
    finished = condition(failed, "Finished") or {}
    assert finished["message"].endswith("; worker 0 exited with code 1 (Error)"), finished
    story.wait_event(deal.namespace, name, lambda e: "exited with code 1" in (e.message or ""))
    seen = consumers_view(deal, name)
    assert LEAKED_PIECE not in seen
    assert "substation-" not in seen


def test_the_backstop_deadline_ends_with_the_contract(story: Story) -> None:
    not_after = (datetime.now(UTC) + timedelta(minutes=20)).replace(microsecond=0)
    deal = story.deal(not_after=not_after)  # a budget of 10 GPU-hours: 4,500 s on 8 GPUs
    body = training_job_body(unique("j"), deal.namespace, deal.contract, run_for="1h")
    name = story.submit(owner_of(deal.consumer), body)
    batch = wait_until(
        lambda: story.batch_job(deal.contract, name), timeout=30, what=f"batch Job of {name}"
    )
    deadline = batch.spec.active_deadline_seconds
    left = (not_after - batch.metadata.creation_timestamp).total_seconds()
    print(f"\ndeadline: activeDeadlineSeconds {deadline}, {left:.0f} s to notAfter at creation")
    # Whole seconds at both ends; the operator computed it at most a few seconds earlier.
    assert left - 10 <= deadline <= left + 1


def refuse_default_deny(namespace: str, canary: str) -> list[Body]:
    """A policy engine's rule (a ValidatingAdmissionPolicy) that refuses the clean room's
    default-deny policy in `namespace`, and any NetworkPolicy named `canary` (to see it is in
    force)."""
    name = unique("refuse-default-deny-")
    refused = (
        "object.metadata.name == 'tds-default-deny' && "
        f"namespaceObject.metadata.name == '{namespace}'"
    )
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": ["networking.k8s.io"],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["networkpolicies"],
                        }
                    ]
                },
                "validations": [
                    {
                        "expression": f"!({refused}) && object.metadata.name != '{canary}'",
                        "message": "the hub's policy engine refuses this NetworkPolicy",
                    }
                ],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {"policyName": name, "validationActions": ["Deny"]},
        },
    ]


@pytest.fixture
def policy_engine() -> Iterator[list[Body]]:
    """Admission rules made by the test, removed afterwards."""
    made: list[Body] = []
    yield made
    for body in reversed(made):
        kind, name = body["kind"], body["metadata"]["name"]
        CLUSTER_ADMIN.kubectl("delete", kind, name, "--ignore-not-found")


def in_force(canary: str) -> bool:
    """Whether the API server already refuses a NetworkPolicy named `canary`."""
    probe = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": canary, "namespace": "default"},
        "spec": {"podSelector": {}},
    }
    return "policy engine refuses" in (dry_run_refusal(probe) or "")


def test_a_job_never_starts_while_a_clean_room_policy_is_refused(
    story: Story, policy_engine: list[Body]
) -> None:
    provider, consumer = story.space(), story.space()
    contract = unique_contract()
    canary = unique("canary-")
    for rule in refuse_default_deny(clean_room(contract), canary):
        CLUSTER_ADMIN.create(rule)
        policy_engine.append(rule)
    wait_until(lambda: in_force(canary), timeout=20, what="the admission policy in force")
    story.propose(provider, consumer, name=contract)
    story.wait_contract(contract, "Active")
    rejected = wait_until(
        lambda: story.contracts.condition(contract, "CleanRoomReady"),
        timeout=20,
        what="the clean room's condition",
    )
    assert rejected["reason"] == "CleanRoomRejected", rejected
    deal = Deal(provider, consumer, contract)

    # The consumer's job is admitted by its terms, but waits: nothing runs unsealed.
    body = training_job_body(unique("j"), deal.namespace, contract, run_for="1h")
    name = story.submit(owner_of(consumer), body)
    waiting = story.wait_job(deal.namespace, name, "Admitted", "Running", timeout=20)
    time.sleep(3)  # several rechecks of the clean room
    waiting = story.job(deal.namespace, name) or waiting
    assert waiting["status"]["phase"] == "Admitted", waiting["status"]
    not_ready = condition(waiting, "CleanRoomReady") or {}
    assert (not_ready.get("status"), not_ready.get("reason")) == ("False", "CleanRoomNotReady")
    assert "rejected NetworkPolicy tds-default-deny" in not_ready["message"], not_ready
    assert story.batch_job(contract, name) is None
    assert not story.pods(contract, name)
    story.wait_event(deal.namespace, name, lambda e: e.reason == "CleanRoomNotReady")

    # Once the policy is accepted and in place, the job starts.
    for rule in reversed(policy_engine):
        CLUSTER_ADMIN.kubectl("delete", rule["kind"], rule["metadata"]["name"])
    policy_engine.clear()
    wait_until(lambda: not in_force(canary), timeout=20, what="the admission policy gone")
    story.hub.custom.patch_cluster_custom_object(
        GROUP, VERSION, CONTRACTS, contract, {"metadata": {"labels": {"retry": "1"}}}
    )
    running = story.wait_job(deal.namespace, name, "Running", timeout=30)
    sealed = condition(running, "CleanRoomReady") or {}
    assert (sealed.get("status"), sealed.get("reason")) == ("True", "CleanRoomSealed")
    assert "tds-default-deny" in story.network_policies(contract)


def test_off_a_simulation_hub_the_consumer_cannot_set_worker_metadata(
    story: Story, operator: OperatorProcess
) -> None:
    operator.extra_env["TDS_SIMULATION_HUB"] = "false"
    operator.restart()
    try:
        deal = story.deal()
        # Asked to fail at once with the provider's rows as its message; simulated pods that
        # carry none of this run for 5 s and succeed.
        body = training_job_body(
            unique("j"), deal.namespace, deal.contract, run_for="1s", fail=True
        )
        body["metadata"]["annotations"]["hub.tds.io/termination-message"] = PROVIDER_ROWS
        name = story.submit(owner_of(deal.consumer), body)
        done = story.wait_job(deal.namespace, name, "Succeeded", "Failed", timeout=30)
        assert done["status"]["phase"] == "Succeeded", done["status"]
        (pod,) = story.pods(deal.contract, name)
        metadata = {**(pod.metadata.labels or {}), **(pod.metadata.annotations or {})}
        assert not [key for key in metadata if key.startswith("hub.tds.io/")], metadata
    finally:
        operator.extra_env.pop("TDS_SIMULATION_HUB")
        operator.restart()
