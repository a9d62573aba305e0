"""Two replicas of the operator: both serve the admission webhooks at one address (a shared port
and certificate), one reconciles, chosen by a Lease. Killing the leader in the middle of a run
refuses no write, the standby takes the Lease within seconds, and it stops a revoked job as fast
as the leader did."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bench.hubkit.hub import JOBS, owner_of, running_operator, unique
from bench.hubkit.manifests import GROUP, VERSION, Body, condition, training_job_body
from bench.hubkit.processes import OperatorProcess, free_port
from bench.hubkit.training import Story
from bench.hubkit.waiting import wait_until

pytestmark = pytest.mark.integration

LEASE = "tds-operator-leader"
NAMESPACE = "tds-system"
REPLICAS = ("replica-a", "replica-b")
# The Lease lasts 4 s; a standby looks every second and counts from when it saw the last renewal.
TAKEOVER_TARGET = 4 + 1 + 1
STOP_TARGET = 2.0


@pytest.fixture(scope="module")
def replicas(
    crds_installed: None, api_client: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[OperatorProcess]]:
    """Two operator processes, started one after the other, sharing the webhook's port and
    certificate as two pods share the chart's Service."""
    shared = {
        "TDS_WEBHOOK_PORT": str(free_port()),
        "TDS_WEBHOOK_CERT_DIR": str(tmp_path_factory.mktemp("webhook-tls")),
    }
    with contextlib.ExitStack() as stack:
        started = []
        for name in REPLICAS:
            env = {**shared, "TDS_REPLICA_NAME": name}
            started.append(stack.enter_context(running_operator(tmp_path_factory, env)))
            if name == REPLICAS[0]:
                wait_until(
                    lambda: holder(api_client) == REPLICAS[0],
                    timeout=20,
                    what="the first replica leading",
                )
        yield started


@pytest.fixture(scope="module")
def operator(replicas: list[OperatorProcess]) -> OperatorProcess:
    """What the shared fixtures wait on: the first replica."""
    return replicas[0]


def holder(api_client: client.ApiClient) -> str | None:
    """Who holds the leader Lease, as the cluster admin reads it."""
    lease = client.CoordinationV1Api(api_client).read_namespaced_lease(LEASE, NAMESPACE)
    return lease.spec.holder_identity


# The API server does not retry an admission call (a POST) whose connection broke: a request the
# killed replica had accepted but not answered fails with EOF or a reset. One writer sends one
# request at a time, so at most one can be caught so; "connection refused" would mean that no
# replica served the webhook's address.
CUT_BY_THE_KILL = ("EOF", "connection reset by peer")


class Writer(threading.Thread):
    """Asks the API server, every 0.1 s, to create (as a dry run) a TrainingJob the webhook must
    judge; counts the requests the webhook could not answer."""

    def __init__(self, api: client.CustomObjectsApi, body: Body) -> None:
        super().__init__(daemon=True)
        self.api, self.body = api, body
        self.done = threading.Event()
        self.answered = 0
        self.refused: list[str] = []

    def run(self) -> None:
        namespace = self.body["metadata"]["namespace"]
        while not self.done.is_set():
            body = {**self.body, "metadata": {**self.body["metadata"], "name": unique("w")}}
            try:
                self.api.create_namespaced_custom_object(
                    GROUP, VERSION, namespace, JOBS, body, dry_run="All"
                )
                self.answered += 1
            except ApiException as error:
                self.refused.append(str(error.body))
            time.sleep(0.1)


def test_killing_the_leader_refuses_no_write_and_the_standby_takes_over(
    story: Story, replicas: list[OperatorProcess], api_client: client.ApiClient
) -> None:
    leader, standby = replicas
    assert holder(api_client) == REPLICAS[0]
    assert leader.metric("tds_leader") == 1
    assert standby.metric("tds_leader") == 0
    deal = story.deal()
    consumer = owner_of(deal.consumer)
    body = training_job_body(
        unique("j"), deal.namespace, deal.contract, gpus_per_worker=1, run_for="300s"
    )
    name = story.submit(consumer, body)
    story.wait_job(deal.namespace, name, "Running", timeout=30)
    # The leader alone exports the contract's state: summed over replicas, it counts once.
    wait_until(
        lambda: leader.metric("tds_contract_jobs", contract=deal.contract, state="running") == 1,
        timeout=10,
        what="the leader exporting the running job",
    )
    assert standby.samples("tds_contract_jobs", contract=deal.contract) == []

    writer = Writer(consumer.api(), body)
    writer.start()
    wait_until(lambda: writer.answered >= 5, timeout=10, what="the webhook answering")
    leader.stop(kill=True)
    killed = time.monotonic()
    wait_until(
        lambda: holder(api_client) == REPLICAS[1],
        timeout=20,
        interval=0.1,
        what="the standby leading",
    )
    takeover = time.monotonic() - killed
    assert standby.metric("tds_leader") == 1
    wait_until(
        lambda: standby.metric("tds_contract_jobs", contract=deal.contract, state="running") == 1,
        timeout=10,
        what="the new leader exporting the running job",
    )
    wait_until(lambda: writer.answered >= 20, timeout=10, what="more writes answered")
    writer.done.set()
    writer.join(timeout=5)
    cut = [r for r in writer.refused if any(reason in r for reason in CUT_BY_THE_KILL)]
    print(
        f"\nhigh availability: the standby took the Lease {takeover:.2f}s after the leader's "
        f"SIGKILL; {writer.answered} writes answered, {len(writer.refused)} refused "
        f"({len(cut)} in flight in the killed replica)"
    )
    assert len(cut) <= 1, cut
    assert [r for r in writer.refused if r not in cut] == []
    assert takeover <= TAKEOVER_TARGET

    story.contracts.revoke(owner_of(deal.provider), deal.contract)
    revoked = datetime.now(UTC)
    stopped = story.wait_job(deal.namespace, name, "Stopped", "Failed", "Succeeded", interval=0.05)
    latency = (datetime.now(UTC) - revoked).total_seconds()
    print(f"high availability: the new leader stopped the revoked job {latency:.2f}s after it")
    assert stopped["status"]["phase"] == "Stopped", stopped["status"]
    assert (condition(stopped, "Finished") or {}).get("reason") == "Revoked"
    assert latency <= STOP_TARGET
    assert story.batch_job(deal.contract, name) is None


def test_the_lease_is_the_operators_alone(
    story: Story, replicas: list[OperatorProcess], api_client: client.ApiClient
) -> None:
    # A party cannot make itself the leader: the Lease is in the operator's namespace.
    deal = story.deal()
    lease = client.V1Lease(
        metadata=client.V1ObjectMeta(name=LEASE, namespace=NAMESPACE),
        spec=client.V1LeaseSpec(holder_identity="mallory"),
    )
    consumer = owner_of(deal.consumer)
    api = client.CoordinationV1Api(consumer.api().api_client)
    with pytest.raises(ApiException) as refused:
        api.patch_namespaced_lease(LEASE, NAMESPACE, lease)
    assert refused.value.status == 403
    assert holder(api_client) in REPLICAS
