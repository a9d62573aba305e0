"""The chart on a cluster that runs Kueue (make e2e-kueue): kueue.enabled=auto finds it, and the
confinement policy holds the operator's Kueue writes to the queue tree it keeps.

RBAC lets the operator's ServiceAccount create and patch any ResourceFlavor, AdmissionCheck,
ClusterQueue and LocalQueue, and patch any Workload's status; each test below is such a write,
with that account's token, that the policy refuses. The story (test_product.py, run in Kueue
mode too) shows that the operator's own Kueue writes all pass.
"""

from __future__ import annotations

import json
from functools import partial

import pytest

from bench.hubkit.waiting import wait_until
from tests.e2e.cluster import (
    NAMESPACE,
    CommandError,
    Manifest,
    fullname,
    get,
    kubectl,
    kueue_mode,
)
from tests.e2e.confinement import POLICY, Scratch, Token
from tests.e2e.release import Release
from tests.e2e.story import refused

pytestmark = [pytest.mark.e2e, pytest.mark.kueue]

KUEUE = "kueue.x-k8s.io/v1beta2"
COHORT = "tds-gpu-pool"


@pytest.fixture(autouse=True)
def in_kueue_mode() -> None:
    if not kueue_mode():
        pytest.fail("these tests need the release installed with Kueue: run make e2e-kueue")


def kueue_object(kind: str, name: str, spec: Manifest, where: str | None = None) -> Manifest:
    metadata: Manifest = {"name": name}
    if where:
        metadata["namespace"] = where
    return {"apiVersion": KUEUE, "kind": kind, "metadata": metadata, "spec": spec}


def cluster_queue(name: str, namespaces: Manifest, *, checked: bool = True) -> Manifest:
    quota = [{"name": "nvidia.com/gpu", "nominalQuota": 64}]
    spec: Manifest = {
        "cohortName": COHORT,
        "namespaceSelector": namespaces,
        "resourceGroups": [
            {
                "coveredResources": ["nvidia.com/gpu"],
                "flavors": [{"name": "tds-gpu", "resources": quota}],
            }
        ],
    }
    if checked:
        spec["admissionChecksStrategy"] = {"admissionChecks": [{"name": "tds-contract"}]}
    return kueue_object("ClusterQueue", name, spec)


def by_name(*namespaces: str) -> Manifest:
    expression = {
        "key": "kubernetes.io/metadata.name",
        "operator": "In",
        "values": list(namespaces),
    }
    return {"matchExpressions": [expression]}


def test_auto_finds_kueue_and_the_operator_queues_in_it(release: Release) -> None:
    """kueue.enabled=auto on a cluster serving Kueue's Workload API: TDS_KUEUE=on, the Kueue
    rules granted, and the confinement policy watching Kueue's kinds."""
    deployment = get("deployment", fullname(), NAMESPACE)
    assert deployment is not None
    env = {
        e["name"]: e.get("value")
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["TDS_KUEUE"] == "on", env
    role = get("clusterrole", fullname())
    assert role is not None
    assert any("kueue.x-k8s.io" in rule["apiGroups"] for rule in role["rules"]), role["rules"]
    policy = get("validatingadmissionpolicy", f"{fullname()}-confinement")
    assert policy is not None
    groups = {
        g for r in policy["spec"]["matchConstraints"]["resourceRules"] for g in r["apiGroups"]
    }
    assert "kueue.x-k8s.io" in groups, groups


def test_the_only_resource_flavor_it_writes_is_the_gpu_pools(
    token: Token, scratch: Scratch
) -> None:
    """A stolen token cannot describe other nodes to Kueue as a flavor of its own."""
    scratch.append(("resourceflavor.kueue.x-k8s.io", "tds-mallory", None))
    manifest = kueue_object(
        "ResourceFlavor", "tds-mallory", {"nodeLabels": {"hub.tds.io/pool": "gpu"}}
    )
    refused(lambda: token.create(manifest), POLICY)
    refused(lambda: token.create(manifest), "the only ResourceFlavor the operator writes")


def test_the_only_admission_check_it_writes_is_the_contracts(
    token: Token, scratch: Scratch
) -> None:
    scratch.append(("admissioncheck.kueue.x-k8s.io", "tds-mallory", None))
    manifest = kueue_object("AdmissionCheck", "tds-mallory", {"controllerName": "tds.io/contract"})
    refused(lambda: token.create(manifest), POLICY)
    refused(lambda: token.create(manifest), "AdmissionCheck the operator writes")


def test_its_cluster_queues_admit_only_clean_rooms_and_ask_the_contract(
    token: Token, scratch: Scratch
) -> None:
    """The road to the GPUs without a contract: a ClusterQueue in the pool's cohort open to any
    namespace, or to one that is not a clean room, or one that does not ask the contract check."""
    scratch.append(("clusterqueue.kueue.x-k8s.io", "tds-mallory", None))
    rule = "ClusterQueues tds-<space> in the cohort tds-gpu-pool, open to clean rooms"
    for manifest in (
        cluster_queue("tds-mallory", {}),
        cluster_queue("tds-mallory", by_name("default")),
        cluster_queue("tds-mallory", {"matchLabels": {"team": "mallory"}}),
        cluster_queue("tds-mallory", by_name("tds-cr-mallory"), checked=False),
        cluster_queue("mallory", by_name("tds-cr-mallory")),
    ):
        refused(partial(token.create, manifest), POLICY)
        refused(partial(token.create, manifest), rule)
    # What the operator writes passes, with the weight and borrowing limit of the hub rules.
    shared = cluster_queue("tds-mallory", by_name("tds-cr-mallory"))
    shared["spec"]["fairSharing"] = {"weight": 3}
    shared["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["borrowingLimit"] = 8
    token.create(shared)


def local_queue(where: str, name: str = "tds-jobs", onto: str = "tds-mallory") -> Manifest:
    return kueue_object("LocalQueue", name, {"clusterQueue": onto}, where)


def test_its_local_queues_are_the_clean_rooms_own(
    token: Token, space: Manifest, clean_room: str, scratch: Scratch
) -> None:
    """A queue in a space's namespace would let its users' Jobs into the pool."""
    space_namespace = f"tds-{space['metadata']['name']}"
    scratch.append(("localqueue.kueue.x-k8s.io", "tds-jobs", space_namespace))
    scratch.append(("localqueue.kueue.x-k8s.io", "tds-jobs", clean_room))
    rule = "LocalQueue tds-jobs in clean rooms"
    for manifest in (
        local_queue(space_namespace),
        local_queue(clean_room, name="mallory"),
        local_queue(clean_room, onto="default-queue"),
    ):
        refused(partial(token.create, manifest), POLICY)
        refused(partial(token.create, manifest), rule)
    # What the operator writes passes: its clean room's queue onto a tds-* ClusterQueue.
    token.create(local_queue(clean_room))


def test_it_answers_the_contract_check_only_in_clean_rooms(
    token: Token, space: Manifest, scratch: Scratch
) -> None:
    """A stolen token cannot mark the contract check Ready on a Workload outside a clean room."""
    where = f"tds-{space['metadata']['name']}"
    pod = {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
    workload = kueue_object(
        "Workload",
        "mallory",
        {
            "queueName": "tds-jobs",
            "podSets": [{"name": "main", "count": 1, "template": {"spec": pod}}],
        },
        where,
    )
    scratch.append(("workload.kueue.x-k8s.io", "mallory", where))
    kubectl("create", "-f", "-", stdin=json.dumps(workload))
    check = {
        "name": "tds-contract",
        "state": "Ready",
        "message": "mallory",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    # As the operator answers: a server-side apply of the status (patch alone, no get).
    answer = {**workload, "status": {"admissionChecks": [check]}}
    del answer["spec"]

    def ready() -> str:
        return token.kubectl(
            "apply", "--server-side", "--subresource=status", "--field-manager=mallory",
            "-f", "-", stdin=json.dumps(answer),
        )  # fmt: skip

    refused(ready, POLICY)
    refused(ready, "only the status of Workloads in clean rooms")


VISIBILITY = "/apis/visibility.kueue.x-k8s.io/v1beta2"


def test_it_reads_the_pending_workloads_of_the_clean_rooms_queues_only(
    token: Token, clean_room: str, scratch: Scratch
) -> None:
    """Kueue's visibility API gives a queued job's position: the operator's token reads the
    pending workloads of a LocalQueue tds-jobs, and of no other queue (the rule names tds-jobs)."""
    scratch.append(("localqueue.kueue.x-k8s.io", "tds-jobs", clean_room))
    kubectl("apply", "-f", "-", stdin=json.dumps(local_queue(clean_room)))
    queues = f"{VISIBILITY}/namespaces/{clean_room}/localqueues"

    def pending() -> Manifest | None:
        try:
            return json.loads(token.kubectl("get", "--raw", f"{queues}/tds-jobs/pendingworkloads"))
        except CommandError as error:
            # Kueue answers from its own queues, which learn of a new LocalQueue by its watch.
            if "NotFound" in str(error) or "not found" in str(error):
                return None
            raise

    summary = wait_until(pending, timeout=30, what="the LocalQueue tds-jobs known to Kueue")
    assert summary["kind"] == "PendingWorkloadsSummary", summary
    refused(
        lambda: token.kubectl("get", "--raw", f"{queues}/mallory/pendingworkloads"),
        'cannot get resource "localqueues/pendingworkloads"',
    )
    refused(
        lambda: token.kubectl(
            "get", "--raw", f"{VISIBILITY}/clusterqueues/tds-mallory/pendingworkloads"
        ),
        'cannot get resource "clusterqueues/pendingworkloads"',
    )
