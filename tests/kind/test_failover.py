"""The operator running in the cluster fails over (3e). Each replica's pod runs two processes of
the one image: `operator` (the controller: it reconciles while it holds the Lease) and `webhooks`
(the admission webhooks). The leader's controller process is killed (SIGKILL, from its node); a
live process leads again (the standby, or the killed pod's restarted container, which is the same
candidate: a replica's identity is its pod's name, and a container restarts only once its
predecessor is dead); admission requests sent every 100 ms across the kill are all answered, and
a request the webhooks refuse is refused by their decision meanwhile (the positive control: the
probe records refusals, and a webhook judged); a revocation sent during the failover is admitted
at once and stops its job within the bound the Lease's settings give. Then a webhook server is
killed the same way: requests are refused only while its pod is still behind the webhooks'
Service, and only as a failed connection (the API server does not try another endpoint).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bench.hubkit.waiting import wait_until
from tds_operator.desired.cleanroom import clean_room_namespace
from tds_operator.policy.election import LEASE_DURATION_SECONDS, RENEW_INTERVAL_SECONDS
from tests.e2e.cluster import NAMESPACE, CommandError, Manifest, get, items, kubectl
from tests.e2e.story import Story, _force_delete
from tests.kind.failover import (
    Answers,
    admission_requests,
    connection_failure,
    dry_run,
    kill_process,
    killed_by_sigkill,
    killed_container,
    lease_holder,
    lease_name,
    renewed_after,
)
from tests.kind.watch import watched

pytestmark = pytest.mark.kind

JOB = "failover-job"
# The standby takes the Lease at its first look at least LEASE_DURATION after it first saw the
# dead leader's last renewal, which it saw at most one look after it was made: 6 s after the kill
# at the latest. The new leader then starts (its indexes warm, a resync) and stops the revoked
# contract's job; on a loaded 2-core machine that took up to 4 s (bench/results): 6 s allowed.
TAKEOVER_WITHIN = LEASE_DURATION_SECONDS + 2 * RENEW_INTERVAL_SECONDS
JOB_STOPPED_WITHIN = TAKEOVER_WITHIN + 6.0
# The kubelet reports a killed container within a second or two (its PLEG relists every second),
# and its pod's endpoint then leaves the webhooks' Service: with a loaded machine's margin.
DEAD_ENDPOINT_WITHIN = 10.0
# How long the requests go on after the leader's kill: past the Lease's expiry and the killed
# container's restart.
REQUESTS_AFTER_KILL = 25.0
# And after a webhook server's kill: past its restart and its return behind the Service.
REQUESTS_AFTER_WEBHOOK_KILL = 20.0


@dataclass(frozen=True)
class Failover:
    killed: str  # the leader pod whose process was killed
    room: str  # the clean room of the failover's contract
    at: float  # when the SIGKILL was sent (epoch seconds): the bounds count from here
    revoked_at: float  # when the provider's owner first sent the revocation
    revocation_refusals: list[str]  # the API server's answers to the attempts it refused
    control: tuple[float, int, str]  # (sent at, status, message) of the request to be refused
    holder: str  # the Lease's holder afterwards
    holder_at: float  # when the watch first showed the Lease renewed after the kill (or 0)
    stopped_at: float  # when the watch first showed the job Stopped (or 0)
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


def is_stopped(_: str, job: Manifest) -> bool:
    return (job.get("status") or {}).get("phase") == "Stopped"


def fail_over(story: Story, name: str, job: Manifest) -> Failover:
    """Kill the leader amid admission requests, revoke the contract at once, and watch: the
    Lease's renewals and the job's phase as their watch events arrive."""
    replicas = items("pod", NAMESPACE, "app.kubernetes.io/name=tds-operator")
    assert len(replicas) == 2, [p["metadata"]["name"] for p in replicas]
    killed = lease_holder()
    assert killed in {p["metadata"]["name"] for p in replicas}, f"Lease held by {killed!r}"
    space = {**story.spaces[0], "metadata": {"name": "failover-probe"}}
    with (
        watched("trainingjob", JOB, job["metadata"]["namespace"]) as job_events,
        watched("lease", lease_name(), NAMESPACE) as lease_events,
        admission_requests(space) as answers,
    ):
        wait_until(lambda: job_events.got and lease_events.got, timeout=30, what="the watches")
        assert not job_events.first(is_stopped), "positive control: the job stopped before"
        time.sleep(3)
        leader = next(p for p in replicas if p["metadata"]["name"] == killed)
        at, dead = kill_process(leader, "operator")
        time.sleep(0.2)
        revoked_at = time.time()
        refusals = revoke(story, name)
        control = (time.time(), *dry_run(unowned_keys(space)))
        time.sleep(max(0.0, at + REQUESTS_AFTER_KILL - time.time()))
    # A renewal written after the process was dead is a live process's.
    holder_at = lease_events.first(lambda _, lease: bool(renewed_after(lease, dead)), since=dead)
    stopped_at = job_events.first(is_stopped, since=at)
    after = [a for a in answers.got if a[0] >= at]
    print(
        f"failover: Lease renewed {f'{holder_at - at:.2f}s' if holder_at else 'never'} after "
        f"the kill; {len(answers.refused())} of {len(after)} dry-runs after the kill refused; "
        f"revocation refused {len(refusals)} times, job stopped "
        f"{f'{stopped_at - at:.2f}s' if stopped_at else 'never'} after the kill"
    )
    return Failover(
        killed,
        clean_room_namespace(name),
        at,
        revoked_at,
        refusals,
        control,
        lease_holder(),
        holder_at or 0.0,
        stopped_at or 0.0,
        answers,
    )


def unowned_keys(space: Manifest) -> Manifest:
    """`space` registering a signing key as someone who is not its owner: the webhooks refuse
    it (NotSpaceOwner, or SigningKeyNotYours), past the CRD's schema."""
    public = Ed25519PrivateKey.generate().public_key()
    pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    key = {"id": "control", "publicKey": pem, "addedBy": "not-an-owner@example.org"}
    spec = {**space["spec"], "signingKeys": [key]}
    return {**space, "metadata": {"name": "failover-control"}, "spec": spec}


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
    status = killed_container(failover.killed, "operator")
    assert killed_by_sigkill(status), f"the leader's process was not killed: {status}"
    # The killed process renews nothing: a renewal after the kill is a live process's, the
    # standby's or the restarted container's (the same candidate, by its pod's name).
    assert failover.holder_at, f"nobody renewed the Lease after {failover.killed} was killed"
    assert failover.holder, "the Lease has no holder"


def test_no_admission_request_is_refused_across_the_leaders_kill(failover: Failover) -> None:
    """The webhooks are served by another process of each pod than the one reconciling: the
    leader's death takes none of them with it."""
    sent, refused = failover.answers.refused_after(failover.at, REQUESTS_AFTER_KILL)
    assert not refused, f"{len(refused)} of {sent} refused after the kill: {refused[:3]}"
    # The revocation is an admission request too (the contract-consent webhook judges it).
    assert not failover.revocation_refusals, failover.revocation_refusals[:1]
    # Positive control: during the failover, the same probe records a refusal, and it is a
    # webhook's decision (so a webhook judged; the requests above were not let through unjudged).
    control_sent, status, message = failover.control
    assert control_sent - failover.at < REQUESTS_AFTER_KILL, "the control was sent too late"
    assert status == 403, f"the control was not refused: {status} {message[:300]}"
    assert "denied the request" in message, message[:300]
    assert "NotSpaceOwner" in message or "SigningKeyNotYours" in message, message[:300]


def test_a_revocation_during_the_failover_stops_its_job_within_the_takeover_bound(
    failover: Failover,
) -> None:
    assert failover.stopped_at, "the job was not stopped"
    took = failover.stopped_at - failover.at
    refused = failover.revocation_refusals
    assert took <= JOB_STOPPED_WITHIN, (
        f"the job stopped {took:.2f}s after the kill, over {JOB_STOPPED_WITHIN}s "
        f"({len(refused)} attempts of the revocation refused first: {refused[:1]})"
    )
    batch = get("job", JOB, failover.room)
    assert batch is None or batch["metadata"].get("deletionTimestamp"), "its batch Job runs on"


@dataclass(frozen=True)
class WebhookKill:
    killed: str  # the pod whose webhook server's process was killed
    at: float  # when the SIGKILL was sent (epoch seconds)
    answers: Answers


def all_ready() -> bool:
    """Both replicas' pods Ready (a pod with no conditions yet is not)."""
    pods = items("pod", NAMESPACE, "app.kubernetes.io/name=tds-operator")
    return len(pods) == 2 and all(
        any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (p.get("status") or {}).get("conditions") or []
        )
        for p in pods
    )


@pytest.fixture(scope="module")
def webhook_kill(story: Story, failover: Failover) -> WebhookKill:
    """After the failover (one kill at a time), with both replicas ready again: a webhook
    server's process killed amid admission requests."""
    wait_until(all_ready, timeout=90, interval=1, what="both replicas Ready again")
    pod = items("pod", NAMESPACE, "app.kubernetes.io/name=tds-operator")[0]
    space = {**story.spaces[0], "metadata": {"name": "failover-probe"}}
    with admission_requests(space) as answers:
        time.sleep(3)
        at, _ = kill_process(pod, "webhooks")
        time.sleep(REQUESTS_AFTER_WEBHOOK_KILL)
    return WebhookKill(pod["metadata"]["name"], at, answers)


def test_a_killed_webhook_server_is_refused_only_until_its_pod_leaves_the_service(
    webhook_kill: WebhookKill,
) -> None:
    """Not retried by the API server: until the kubelet reports the killed container (its PLEG
    looks every second) and the pod's endpoint goes, a request may reach the dead server. What
    holds: such refusals are connection failures (never a decision of a webhook), they end
    within DEAD_ENDPOINT_WITHIN, and every request after that is answered."""
    status = killed_container(webhook_kill.killed, "webhooks")
    assert killed_by_sigkill(status), f"the webhook server was not killed: {status}"
    sent, refused = webhook_kill.answers.refused_after(webhook_kill.at, REQUESTS_AFTER_WEBHOOK_KILL)
    late = [r for r in refused if r[0] > DEAD_ENDPOINT_WITHIN]
    assert not late, f"{len(late)} refused later than {DEAD_ENDPOINT_WITHIN}s: {late[:3]}"
    decided = [r for r in refused if not connection_failure(r[2])]
    assert not decided, f"refused for another reason than the dead server: {decided[:3]}"
    print(f"webhook server killed: {len(refused)} of {sent} dry-runs after it refused")
