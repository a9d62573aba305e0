"""The operator running in the cluster fails over (3e): its leader's process is killed (SIGKILL,
from its node); a live process leads again (the standby, or the killed pod's restarted container,
which is the same candidate: a replica's identity is its pod's name, and a container restarts only
once its predecessor is dead); admission requests sent every 100 ms across the kill
are all answered; a revocation sent during the failover stops its job within 5 s."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import pytest

from bench.hubkit.waiting import wait_until
from tds_operator.desired.cleanroom import clean_room_namespace
from tests.e2e.cluster import NAMESPACE, CommandError, Manifest, get, items, kubectl
from tests.e2e.story import Story, _force_delete
from tests.kind.failover import (
    Answers,
    admission_requests,
    kill_leader,
    lease_holder,
    lease_renewed_since,
)

pytestmark = pytest.mark.kind

JOB = "failover-job"
JOB_STOPPED_WITHIN = 5.0
# How long the requests go on after the kill: past the Lease's expiry, the killed container's
# restart and its return behind the Service.
REQUESTS_AFTER_KILL = 25.0


@dataclass(frozen=True)
class Failover:
    killed: str  # the leader pod whose process was killed
    at: float  # when the SIGKILL was sent (epoch seconds)
    revoked_at: float  # when the provider's owner first sent the revocation
    revocation_refusals: list[str]  # the API server's answers to the attempts it refused
    holder: str  # the Lease's holder afterwards
    holder_at: float  # when the Lease was first seen renewed after the kill
    stopped_at: float  # when the job was first seen Stopped with its batch Job going
    answers: Answers


def contract_and_job(story: Story, name: str) -> Manifest:
    """Another Active contract between the story's spaces, and its consumer's job running."""
    contract = json.loads(json.dumps(story.contract))
    contract["metadata"] = {"name": name}
    story.owner(story.provider).kubectl("create", "-f", "-", stdin=json.dumps(contract))
    consumer = story.owner(story.consumer)
    story.wait(
        lambda: consumer.can("patch", f"datacontracts.tds.io/{name}", f"tds-{story.consumer}"),
        f"{story.consumer}'s owners to reach {name}",
    )
    consent = '{"spec":{"consent":{"consumer":{"approved":true}}}}'
    consumer.kubectl("patch", "datacontract", name, "--type=merge", "-p", consent)
    story.wait(lambda: phase("datacontract", name) == "Active", f"contract {name} Active")
    job: Manifest = json.loads(json.dumps(story.job))
    job["metadata"] = {"name": JOB, "namespace": story.job["metadata"]["namespace"]}
    job["spec"].update(contract=name, workers=1, gpusPerWorker=4)
    consumer.kubectl("apply", "-f", "-", stdin=json.dumps(job))
    namespace = job["metadata"]["namespace"]
    story.wait(lambda: phase("trainingjob", JOB, namespace) == "Running", f"{JOB} Running")
    return job


def revoke(story: Story, name: str) -> list[str]:
    """The provider's owner revokes the contract, sending again (every 0.1 s, for at most
    REQUESTS_AFTER_KILL) while the API server refuses; the refusals."""
    refusals: list[str] = []
    deadline = time.time() + REQUESTS_AFTER_KILL
    while True:
        try:
            story.owner(story.provider).kubectl(
                "patch", "datacontract", name, "--type=merge", "-p", '{"spec":{"revoked":true}}'
            )
        except CommandError as refusal:
            refusals.append(str(refusal).splitlines()[-1])
            if time.time() > deadline:
                raise
            time.sleep(0.1)
            continue
        return refusals


def phase(kind: str, name: str, namespace: str | None = None) -> str | None:
    return ((get(kind, name, namespace) or {}).get("status") or {}).get("phase")


def stopped(job: Manifest, room: str) -> bool:
    meta = job["metadata"]
    if phase("trainingjob", meta["name"], meta["namespace"]) != "Stopped":
        return False
    batch = get("job", meta["name"], room)
    return batch is None or bool(batch["metadata"].get("deletionTimestamp"))


def fail_over(story: Story, name: str, job: Manifest) -> Failover:
    """Kill the leader amid admission requests, revoke the contract at once, and watch."""
    room = clean_room_namespace(name)
    replicas = items("pod", NAMESPACE, "app.kubernetes.io/name=tds-operator")
    assert len(replicas) == 2, [p["metadata"]["name"] for p in replicas]
    killed = lease_holder()
    assert killed in {p["metadata"]["name"] for p in replicas}, f"Lease held by {killed!r}"
    space = {**story.spaces[0], "metadata": {"name": "failover-probe"}}
    with admission_requests(space) as answers:
        time.sleep(3)
        at = kill_leader(next(p for p in replicas if p["metadata"]["name"] == killed))
        time.sleep(0.2)
        revoked_at = time.time()
        refusals = revoke(story, name)
        holder_at = stopped_at = 0.0
        while time.time() < at + REQUESTS_AFTER_KILL:
            if not holder_at and lease_renewed_since(at):
                holder_at = time.time()
            if not stopped_at and stopped(job, room):
                stopped_at = time.time()
            time.sleep(0.1)
    after = [a for a in answers.got if a[0] >= at]
    print(
        f"failover: Lease taken {f'{holder_at - at:.2f}s' if holder_at else 'never'} after "
        "the kill; "
        f"{len(answers.refused())} of {len(after)} dry-runs after the kill refused; "
        f"revocation refused {len(refusals)} times, job stopped {stopped_at - revoked_at:.2f}s "
        "after it was first sent"
    )
    return Failover(
        killed, at, revoked_at, refusals, lease_holder(), holder_at, stopped_at, answers
    )


@pytest.fixture(scope="module")
def failover(story: Story) -> Iterator[Failover]:
    name = f"{story.contract_name}-failover"
    try:
        yield fail_over(story, name, contract_and_job(story, name))
    finally:
        namespace = story.job["metadata"]["namespace"]
        for kind, object_name, scope in (
            ("trainingjob", JOB, namespace),
            ("datacontract", name, None),
        ):
            wait_until(
                partial(_force_delete, kind, object_name, scope),
                timeout=60,
                interval=1,
                what=f"{kind} {object_name} to be gone",
            )
        kubectl("delete", "namespace", clean_room_namespace(name), "--wait=false", check=False)


def test_a_live_process_leads_again_when_the_leaders_process_is_killed(
    failover: Failover,
) -> None:
    pod = get("pod", failover.killed, NAMESPACE)
    assert pod is not None, "the killed replica's pod is gone: the kill was not a process kill"
    status = next(s for s in pod["status"]["containerStatuses"] if s["name"] == "operator")
    last = (status.get("lastState") or {}).get("terminated") or {}
    assert last.get("exitCode") == 137, f"the leader's process was not killed: {status}"
    # The killed process renews nothing: a renewal after the kill is a live process's, the
    # standby's or the restarted container's (the same candidate, by its pod's name).
    assert failover.holder_at, f"nobody renewed the Lease after {failover.killed} was killed"
    assert failover.holder, "the Lease has no holder"


@pytest.mark.xfail(
    strict=True,
    reason="measured 2026-12-06 (4 runs, a loaded 2-core machine): the revocation sent 0.2 s "
    "after the kill was refused in 3, 'failed calling webhook contract-consent.tds.io: connect: "
    "connection refused' (the API server called the killed replica through the Service before "
    "its endpoint was dropped, and does not try another); of the DataSpace dry-runs sent every "
    "100 ms, 0 of 250 were refused in one run and 1 of 251 in the next",
)
def test_no_admission_request_is_refused_across_the_kill(failover: Failover) -> None:
    answers = failover.answers.got
    before = [a for a in answers if a[0] < failover.at]
    after = [a for a in answers if a[0] >= failover.at]
    assert before, "positive control: no request sent before the kill"
    assert all(a[1] == 201 for a in before), f"positive control: {before[:3]}"
    assert len(after) >= REQUESTS_AFTER_KILL / 0.1 * 0.8, f"only {len(after)} requests sent"
    refused = [(round(a[0] - failover.at, 2), a[1], a[2]) for a in failover.answers.refused()]
    assert not refused, (
        f"{len(refused)} of {len(answers)} refused: {refused[:3]} ... {refused[-1:]}"
    )
    # The revocation is an admission request too (the contract-consent webhook judges it).
    assert not failover.revocation_refusals, (
        f"the revocation was refused {len(failover.revocation_refusals)} times first: "
        f"{failover.revocation_refusals[:1]}"
    )


# Measured 2026-12-06 on a loaded 2-core machine (4 runs): 10.1, 6.5, 5.1 and 4.3 s from the
# revocation's first sending to the job Stopped; the revocation waits for a new leader (the Lease
# is 4 s). The bound holds on the least loaded run only: this test says so when it does not.
def test_a_revocation_during_the_failover_stops_its_job_within_5_s(failover: Failover) -> None:
    assert failover.stopped_at, "the job was not stopped"
    took = failover.stopped_at - failover.revoked_at
    refused = failover.revocation_refusals
    assert took <= JOB_STOPPED_WITHIN, (
        f"the job stopped {took:.2f}s after the revocation was first sent "
        f"({len(refused)} attempts refused first: {refused[:1]})"
    )
