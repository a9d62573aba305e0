"""A joint deal on a kind cluster, for the joint tier's wire checks (test_joint_wire.py).

Two providers of the tier's story each serve a volume dataset of their own, each contracts with
the story's consumer (joint training allowed), and the consumer runs one joint job of both
contracts: its worker runs in the job's own room (`tds-jr-<job uid>`). Provider A is the story's
grid operator with a dataset added for this deal (`grid-load-2023`), so that the story's own
contract's dataset (`grid-load-2024`) is a dataset of A that A's joint contract does not grant;
provider B is the story's weather service, whose `station-observations-2025` needs only its claim.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.hubkit.manifests import rfc3339
from bench.hubkit.waiting import wait_until
from tds_operator.desired.cleanroom import (
    JOINT_ROOM_PREFIX,
    WORKER_SERVICE_ACCOUNT,
    clean_room_namespace,
)
from tds_operator.desired.gateway import gateway_name
from tds_operator.desired.joint_gateway import joint_gateway_name
from tests.e2e.cluster import Manifest, get, items, kubeconfig, kubectl, kubectl_binary
from tests.e2e.story import STAND_IN_WORKER, Story
from tests.kind.watch import streamed
from tests.kind.wire import image, program, restricted_pod, start_pod, token_pod

A_DATASET, A_CLAIM = "grid-load-2023", "grid-load-2023-archive"
B_DATASET, B_CLAIM = "station-observations-2025", "station-observations"
A_FILE = b"grid-load-2023 rows of provider A\n"
B_FILE = b"station-observations-2025 rows of provider B\n"


@dataclass(frozen=True)
class Provider:
    space: str
    contract: str
    dataset: str
    file: bytes

    @property
    def namespace(self) -> str:
        return f"tds-{self.space}"

    def gateway_url(self) -> str:
        """The URL of the provider's file through its joint contract's gateway."""
        contract = get("datacontract", self.contract)
        assert contract is not None, f"DataContract {self.contract}"
        name = gateway_name(contract["metadata"]["uid"], self.dataset)
        service = get("service", name, self.namespace)
        assert service is not None, f"no gateway of {self.contract} for {self.dataset}"
        return f"https://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}/f"

    def joint_gateway_url(self, room: str) -> str:
        """The URL of the provider's file through the joint job's own gateway (the job of the
        joint `room`, `tds-jr-<job uid>`)."""
        contract = get("datacontract", self.contract)
        assert contract is not None, f"DataContract {self.contract}"
        uid = room.removeprefix(JOINT_ROOM_PREFIX)
        name = joint_gateway_name(uid, contract["metadata"]["uid"], self.dataset)
        service = get("service", name, self.namespace)
        assert service is not None, f"no joint gateway of {self.contract} for {self.dataset}"
        return f"https://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}/f"


@dataclass(frozen=True)
class JointDeal:
    a: Provider
    b: Provider
    consumer: str
    job: str
    room: str
    worker: str  # the joint job's worker pod, in the room


def fill_claim(story: Story, space: str, claim: str, content: bytes) -> None:
    """The provider's owner makes a claim and writes `content` to its file `f`."""
    namespace = f"tds-{space}"
    owner = story.owner(space)
    body = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": claim, "namespace": namespace},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "16Mi"}}},
    }
    owner.kubectl("apply", "-f", "-", stdin=json.dumps(body))
    script = f"printf '%s\\n' '{content.decode().rstrip()}' > /data/f"
    pod = restricted_pod(f"fill-{claim}", namespace, ["sh", "-c", script])
    pod["spec"]["securityContext"]["fsGroup"] = 65532
    pod["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    owner.kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    wait_until(
        lambda: (
            ((get("pod", f"fill-{claim}", namespace) or {}).get("status") or {}).get("phase")
            == "Succeeded"
        ),
        timeout=120,
        interval=0.5,
        what=f"the file on {claim}",
    )


def joint_contract(story: Story, provider: str, dataset: str, partner: str | None) -> Manifest:
    now = datetime.now(UTC)
    joint: Manifest = {"allowed": True, **({"with": [partner]} if partner else {})}
    return {
        "apiVersion": "tds.io/v1alpha1",
        "kind": "DataContract",
        "metadata": {"name": f"{provider}-to-{story.consumer}-joint"},
        "spec": {
            "provider": {"space": provider, "datasets": [dataset]},
            "consumer": {"space": story.consumer},
            "purpose": "model-training",
            "validity": {
                "notBefore": rfc3339(now - timedelta(hours=1)),
                "notAfter": rfc3339(now + timedelta(days=90)),
            },
            "compute": {"maxGpuHours": 100, "maxConcurrentGpus": 4},
            "outputs": {"modelExport": "allowed"},
            "jointTraining": joint,
            "consent": {"provider": {"approved": True}},
        },
    }


def contract_phase(name: str) -> str | None:
    return ((get("datacontract", name) or {}).get("status") or {}).get("phase")


def agree(story: Story, body: Manifest) -> str:
    """The provider's owner proposes, the consumer's owner consents: Active."""
    name = body["metadata"]["name"]
    story.owner(body["spec"]["provider"]["space"]).kubectl(
        "create", "-f", "-", stdin=json.dumps(body)
    )
    consumer = story.owner(story.consumer)
    story.wait(
        lambda: consumer.can("patch", f"datacontracts.tds.io/{name}", f"tds-{story.consumer}"),
        f"{story.consumer}'s owners to reach {name}",
    )
    consent = '{"spec":{"consent":{"consumer":{"approved":true}}}}'
    consumer.kubectl("patch", "datacontract", name, "--type=merge", "-p", consent)
    story.wait(lambda: contract_phase(name) == "Active", f"contract {name} Active")
    return str(name)


def add_dataset(story: Story, space: str, dataset: str, claim: str) -> None:
    """The platform team adds a volume dataset to a space."""
    doc = get("dataspace", space)
    assert doc is not None
    datasets = [*doc["spec"]["datasets"], {"name": dataset, "classification": "important",
                                           "source": {"volume": {"claimName": claim}}}]  # fmt: skip
    patch = json.dumps({"spec": {"datasets": datasets}})
    kubectl("patch", "dataspace", space, "--type=merge", "-p", patch)


def start_joint_job(story: Story, a: Provider, b: Provider) -> tuple[str, str, str]:
    """The consumer's owner starts a joint job of both contracts; (name, room, worker pod)."""
    name, namespace = "joint-wire", f"tds-{story.consumer}"
    body = {
        "apiVersion": "tds.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "contracts": [a.contract, b.contract],
            "purpose": "model-training",
            "datasets": [a.dataset, b.dataset],
            "image": image(),
            "command": STAND_IN_WORKER,
            "args": [],
            "workers": 1,
            "gpusPerWorker": 1,
        },
    }
    story.owner(story.consumer).kubectl("create", "-f", "-", stdin=json.dumps(body))

    def running() -> Manifest | None:
        job = get("trainingjob", name, namespace) or {}
        return job if (job.get("status") or {}).get("phase") == "Running" else None

    job: Manifest = wait_until(running, timeout=120, interval=0.5, what=f"joint job {name}")
    room = str(job["status"]["cleanRoom"])

    def worker() -> str | None:
        pods = items("pod", room, f"job-name={name}")
        phases = [(p.get("status") or {}).get("phase") for p in pods]
        return pods[0]["metadata"]["name"] if phases == ["Running"] else None

    pod: str = wait_until(worker, timeout=120, interval=0.5, what="the joint job's worker")
    return name, room, pod


@contextmanager
def joint_deal(story: Story) -> Iterator[JointDeal]:
    """The deal, its joint job running; everything of it revoked and deleted afterwards."""
    a_space, b_space = (
        story.provider,
        next(
            d["metadata"]["name"]
            for d in story.spaces
            if d["metadata"]["name"] not in (story.provider, story.consumer)
        ),
    )
    contracts: list[tuple[str, str]] = []
    try:
        add_dataset(story, a_space, A_DATASET, A_CLAIM)
        fill_claim(story, a_space, A_CLAIM, A_FILE)
        fill_claim(story, b_space, B_CLAIM, B_FILE)
        for provider, dataset, partner in (
            (a_space, A_DATASET, b_space),
            (b_space, B_DATASET, None),
        ):
            body = joint_contract(story, provider, dataset, partner)
            contracts.append((body["metadata"]["name"], provider))
            agree(story, body)
        a = Provider(a_space, contracts[0][0], A_DATASET, A_FILE)
        b = Provider(b_space, contracts[1][0], B_DATASET, B_FILE)
        job, room, worker = start_joint_job(story, a, b)
        yield JointDeal(a, b, story.consumer, job, room, worker)
    finally:
        end_deal(story, contracts)


def end_deal(story: Story, contracts: list[tuple[str, str]]) -> None:
    """The joint job deleted, every contract of the deal revoked and deleted with its room."""
    namespace = f"tds-{story.consumer}"
    delete = ["delete", "trainingjob", "joint-wire", "-n", namespace, "--ignore-not-found"]
    kubectl(*delete, "--wait=false", check=False)
    revoke = '{"spec":{"revoked":true}}'
    for name, provider in contracts:
        if contract_phase(name) not in (None, "Revoked"):
            owner = story.owner(provider)
            owner.kubectl("patch", "datacontract", name, "--type=merge", "-p", revoke)
    for name, _ in contracts:

        def ended(name: str = name) -> bool:
            return contract_phase(name) in (None, "Revoked")

        wait_until(ended, timeout=60, what=f"contract {name} Revoked")
        kubectl("delete", "datacontract", name, "--wait=false", check=False)
        room = clean_room_namespace(name)
        kubectl("delete", "namespace", room, "--ignore-not-found", "--wait=false", check=False)


def reader(name: str, namespace: str, *args: str) -> None:
    """A pod running as the namespace's `tds-worker` (default: its `default` account) with a
    projected dataset token at /token/token, running `args` (the probe program) or sleeping."""
    command = program(*args) if args else ["sleep", "3600"]
    account = (
        WORKER_SERVICE_ACCOUNT
        if get("serviceaccount", WORKER_SERVICE_ACCOUNT, namespace)
        else "default"
    )
    start_pod(token_pod(name, namespace, command, service_account=account))


@dataclass
class Followed:
    """The `<start> ok|refused` lines of a watcher pod's log, as they came (kept after the pod
    and its namespace are gone)."""

    lines: list[tuple[float, str]] = field(default_factory=list)

    def outcomes(self) -> list[tuple[float, str]]:
        return list(self.lines)


@contextmanager
def followed(pod: str, namespace: str) -> Iterator[Followed]:
    command = [kubectl_binary(), "--kubeconfig", kubeconfig(), "logs", "-f", pod, "-n", namespace]
    found = Followed()
    with streamed(command, _follow, found):
        yield found


def _follow(stream: Any, found: Followed) -> None:
    for line in stream:
        start, _, outcome = line.strip().partition(" ")
        if outcome in ("ok", "refused"):
            found.lines.append((float(start), outcome))
