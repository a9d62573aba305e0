"""Joint training on the wire: a joint job's worker, in the job's own room, reaches each
provider's gateway and nothing else (no other contract's gateway, no resolver, no API server),
the consumer's pods and another contract's worker are refused the joint contracts' datasets, and
one provider's revocation ends its reads and the joint worker but not the other's contract. The
joint worker reads each provider's file through the gateway the operator runs for the job in that
provider's namespace, which serves the joint room alone. Each seal beside its positive control
(tests/kind/joint.py sets the deal up)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator

import pytest

from bench.hubkit.waiting import wait_until
from tds_operator.desired.cleanroom import clean_room_namespace
from tds_operator.desired.grants import DATASET_TOKEN_PATH
from tests.e2e.cluster import get
from tests.e2e.gateway_read import MARKER
from tests.e2e.story import Story
from tests.kind.joint import JointDeal, Provider, followed, joint_deal, reader
from tests.kind.watch import container_ids, exits_on, last_exit, watched, worker_ended
from tests.kind.wire import Prober, gateway_url

pytestmark = pytest.mark.kind

TOKEN = "/token/token"
# What the story's provider wrote for its own contract (tests/e2e/gateway_read.py: echo MARKER).
PROVIDERS_FILE = f"{MARKER}\n".encode()
# The bounds of the single-contract revocation (test_revocation.py).
READS_REFUSED_WITHIN = 1.0
WORKER_ENDED_WITHIN = 2.0


def digest(content: bytes) -> str:
    return f"sha256:{hashlib.sha256(content).hexdigest()} {len(content)}"


@pytest.fixture(scope="module")
def deal(story: Story) -> Iterator[JointDeal]:
    with joint_deal(story) as made:
        yield made


@pytest.fixture(scope="module")
def joint_worker(deal: JointDeal) -> Prober:
    return Prober(deal.worker, deal.room)


def own_reader(provider: Provider) -> Prober:
    """A worker of the provider's joint contract's own clean room (the contract's single-contract
    identity): whom the contract's gateway serves."""
    room = clean_room_namespace(provider.contract)
    name = f"own-{provider.space}"
    if get("pod", name, room) is None:
        reader(name, room)
    return Prober(name, room)


def test_each_contracts_own_worker_reads_its_providers_bytes(deal: JointDeal) -> None:
    """The files and gateways the joint checks read, read by whom each gateway already serves."""
    for provider in (deal.a, deal.b):
        read = own_reader(provider).fetch(provider.gateway_url(), TOKEN)
        assert read == digest(provider.file), f"{provider.contract}'s own worker: {read}"


def handed(deal: JointDeal, provider: Provider) -> str:
    """The URL of the provider's file at the address the joint worker was handed for it
    (`TDS_DATASET_ENDPOINTS`, keyed `<provider space>/<dataset>`)."""
    pod = get("pod", deal.worker, deal.room)
    assert pod is not None, f"the joint worker {deal.worker}"
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0].get("env") or []}
    endpoint = json.loads(env["TDS_DATASET_ENDPOINTS"])[f"{provider.space}/{provider.dataset}"]
    return f"https://{endpoint['address']}/f"


def test_the_joint_worker_reads_each_provider_through_the_jobs_own_gateway(
    deal: JointDeal, joint_worker: Prober
) -> None:
    """Through the gateway the operator runs for the job in each provider's namespace, at the
    address the worker was handed: the exact bytes each provider wrote."""
    for provider in (deal.a, deal.b):
        url = handed(deal, provider)
        assert url == provider.joint_gateway_url(deal.room), f"{provider.space}: handed {url}"
        read = joint_worker.fetch(url, DATASET_TOKEN_PATH)
        assert read == digest(provider.file), f"the joint worker through {provider.space}: {read}"


def test_the_joint_gateway_serves_the_joint_room_alone(
    deal: JointDeal, joint_worker: Prober
) -> None:
    """The contract's own clean-room worker, which its contract's gateway serves, is refused at
    the job's gateway (its room does not even reach it), and the joint worker at the contract's
    gateway; each reads at its own (positive controls)."""
    for provider in (deal.a, deal.b):
        own, joint = provider.gateway_url(), provider.joint_gateway_url(deal.room)
        assert joint_worker.fetch(joint, DATASET_TOKEN_PATH) == digest(provider.file)
        assert own_reader(provider).fetch(own, TOKEN) == digest(provider.file)
        refused = own_reader(provider).fetch(joint, TOKEN)
        assert refused.startswith("refused"), f"the contract's worker read {joint}: {refused}"
        refused = joint_worker.fetch(own, DATASET_TOKEN_PATH)
        assert refused.startswith("refused"), f"the joint worker read {own}: {refused}"


def test_the_joint_worker_is_refused_a_dataset_of_a_its_contract_does_not_grant(
    story: Story, deal: JointDeal, joint_worker: Prober, worker: Prober
) -> None:
    """The story's dataset of A (grid-load-2024), which A's joint contract does not name, served
    by the gateway of the story's contract: its own worker reads it, the joint room cannot even
    connect, while the same probe reaches A's joint gateway."""
    other = gateway_url(story)
    allowed = worker.fetch(other, DATASET_TOKEN_PATH)
    assert allowed == digest(PROVIDERS_FILE), f"positive control: the story's worker: {allowed}"
    own = deal.a.joint_gateway_url(deal.room).split("/")[2].rsplit(":", 1)
    assert joint_worker.tcp(own[0], int(own[1])) == "open", "positive control: A's joint gateway"
    host, port = other.split("/")[2].rsplit(":", 1)
    sealed = joint_worker.tcp(host, int(port))
    assert sealed.startswith("closed"), (
        f"the joint room reached another contract's gateway: {sealed}"
    )
    refused = joint_worker.fetch(other, DATASET_TOKEN_PATH)
    assert refused.startswith("refused"), f"the joint room read grid-load-2024: {refused}"


def test_name_resolution_and_the_api_server_fail_from_the_joint_room(
    joint_worker: Prober, control: Prober
) -> None:
    dns = get("service", "kube-dns", "kube-system")
    api = get("service", "kubernetes", "default")
    assert dns is not None
    assert api is not None
    cases = [
        ("dns", dns["spec"]["clusterIP"], "kubernetes.default.svc"),
        ("tcp", api["spec"]["clusterIP"], "443"),
    ]
    for kind, *args in cases:
        allowed = control.probe(kind, *args)
        assert allowed in ("answered", "open"), f"positive control: {kind} {args}: {allowed}"
        sealed = joint_worker.probe(kind, *args)
        assert sealed.startswith(("silent", "closed")), f"the joint room: {kind} {args}: {sealed}"


def test_the_consumers_pod_and_another_contracts_worker_are_refused_the_joint_datasets(
    story: Story, deal: JointDeal, worker: Prober
) -> None:
    consumer = f"tds-{deal.consumer}"
    if get("pod", "joint-consumer", consumer) is None:
        reader("joint-consumer", consumer)
    outsiders = [Prober("joint-consumer", consumer), worker]  # the story's single-contract worker
    for provider in (deal.a, deal.b):
        url = provider.gateway_url()
        allowed = own_reader(provider).fetch(url, TOKEN)
        assert allowed == digest(provider.file), f"positive control: {provider.contract}: {allowed}"
        for outsider in outsiders:
            token = TOKEN if outsider.namespace == consumer else DATASET_TOKEN_PATH
            refused = outsider.fetch(url, token)
            assert refused.startswith("refused"), f"{outsider.namespace} read {url}: {refused}"


def test_a_revocation_by_a_ends_as_reads_and_the_joint_worker_but_not_bs_contract(
    story: Story, deal: JointDeal
) -> None:
    """A's owner revokes: reads of A through its gateway are refused within 1 s, the joint job's
    worker ends within 2 s; B's contract, still Active, serves its own worker on."""
    a_url, b_url = deal.a.gateway_url(), deal.b.gateway_url()
    a_room, b_room = (clean_room_namespace(p.contract) for p in (deal.a, deal.b))
    reader("watch-a", a_room, "watch", a_url, TOKEN)
    reader("watch-b", b_room, "watch", b_url, TOKEN)
    pod = get("pod", deal.worker, deal.room)
    assert pod, f"the joint worker {deal.worker} is gone before the revocation"
    ids = container_ids(pod)
    with (
        followed("watch-a", a_room) as a_reads,
        followed("watch-b", b_room) as b_reads,
        watched("pod", deal.worker, deal.room) as events,
        exits_on(pod["spec"]["nodeName"]) as exits,
    ):
        wait_until(
            lambda: (
                "ok" in dict(a_reads.outcomes()).values()
                and "ok" in dict(b_reads.outcomes()).values()
            ),
            timeout=60,
            what="a read of A and of B (positive controls)",
        )
        wait_until(lambda: events.got, timeout=30, what="the watch on the joint worker")
        assert not events.first(worker_ended), "positive control: the joint worker ended before"
        assert last_exit(exits.got, ids) is None, "positive control: its process ended before"
        at = time.time()
        story.owner(deal.a.space).kubectl(
            "patch", "datacontract", deal.a.contract, "--type=merge", "-p",
            '{"spec":{"revoked":true}}',
        )  # fmt: skip
        ended = wait_until(
            lambda: events.first(worker_ended, since=at), timeout=60, interval=0.05,
            what="the joint worker's container to end",
        )  # fmt: skip
        exited = last_exit(exits.got, ids)
        time.sleep(READS_REFUSED_WITHIN + 2)
    a_after = [(round(s - at, 3), o) for s, o in a_reads.outcomes() if s >= at]
    b_after = [(round(s - at, 3), o) for s, o in b_reads.outcomes() if s >= at]
    assert exited is not None, "containerd reported no end of the joint worker's process"
    took = exited - at
    print(
        f"\nA revoked: A's reads {a_after}\nB's reads {b_after}\n"
        f"joint worker's process ended {took:.2f}s, its pod reported so {ended - at:.2f}s after"
    )
    late_a = [(s, o) for s, o in a_after if s >= READS_REFUSED_WITHIN]
    assert late_a, "no read of A after the revocation"
    assert all(o == "refused" for _, o in late_a), f"A read after {READS_REFUSED_WITHIN}s: {late_a}"
    assert b_after, "no read of B after the revocation"
    assert {o for _, o in b_after} == {"ok"}, (
        f"B's contract was touched by A's revocation: {b_after}"
    )
    assert took <= WORKER_ENDED_WITHIN, f"the joint worker's process ended {took:.2f}s after"
