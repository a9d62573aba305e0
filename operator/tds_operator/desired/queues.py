"""The hub's Kueue queue tree, as the operator makes it when the cluster runs Kueue (TDS_KUEUE).

One cohort holds the hub's GPU pool. Each consumer organisation (DataSpace) has a ClusterQueue in
it whose nominal quota is the space's guaranteed GPUs (`spec.quota.gpu`), which may borrow idle
GPUs of the cohort (up to a borrowing limit) and shares them by fair-sharing weight. Each clean
room has a LocalQueue onto its consumer's ClusterQueue, and every ClusterQueue asks the contract
(the AdmissionCheck `tds-contract`, controlled by `tds.io/contract`) before it admits a workload.

    cohort tds-gpu-pool
    ├── ClusterQueue tds-<consumer space>   nominal = spec.quota.gpu, borrowing up to a limit
    │   ├── LocalQueue tds-jobs in tds-cr-<contract>
    │   └── ...
    └── ...
"""

from __future__ import annotations

from collections.abc import Iterable

from tds_operator import API_VERSION
from tds_operator.api.dataspace import DataSpace
from tds_operator.api.resources import DATA_SPACE, KUEUE, Manifest
from tds_operator.desired.cleanroom import clean_room_namespace
from tds_operator.desired.isolation import GPU_RESOURCE
from tds_operator.desired.labels import SPACE_LABEL, managed_labels
from tds_operator.policy.admissioncheck import contract_check_state
from tds_operator.policy.decision import Decision
from tds_operator.policy.rules import HubRules

KUEUE_API_VERSION = KUEUE
QUEUE_NAME_LABEL = "kueue.x-k8s.io/queue-name"
GPU_POOL_COHORT = "tds-gpu-pool"
GPU_FLAVOR = "tds-gpu"
CONTRACT_CHECK = "tds-contract"
CONTRACT_CHECK_CONTROLLER = "tds.io/contract"
CLEAN_ROOM_QUEUE = "tds-jobs"
# Kueue keeps at most this much of an admission check's message.
CHECK_MESSAGE_LIMIT = 32768
# A workload that does not fit its contract yet is asked about again after this long (Kueue
# gives its reserved GPUs back meanwhile; without a delay it would reserve them again at once).
CHECK_RETRY_SECONDS = 2


def _kueue_object(kind: str, name: str, spec: Manifest, namespace: str | None = None) -> Manifest:
    metadata: Manifest = {"name": name, "labels": managed_labels()}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"apiVersion": KUEUE_API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def gpu_flavor(rules: HubRules) -> Manifest:
    """The hub's GPU nodes as a ResourceFlavor: Kueue places admitted workers on them."""
    toleration = {"key": rules.gpu_toleration_key, "operator": "Exists", "effect": "NoSchedule"}
    spec = {"nodeLabels": dict(rules.gpu_node_selector), "tolerations": [toleration]}
    return _kueue_object("ResourceFlavor", GPU_FLAVOR, spec)


def contract_check() -> Manifest:
    """The AdmissionCheck whose controller is the operator: the contract's say before a
    clean-room workload is admitted."""
    return _kueue_object(
        "AdmissionCheck", CONTRACT_CHECK, {"controllerName": CONTRACT_CHECK_CONTROLLER}
    )


def organisation_queue_name(space: str) -> str:
    return f"tds-{space}"


def organisation_queue(
    space: DataSpace,
    clean_rooms: Iterable[str],
    *,
    weight: int = 1,
    borrowing_limit: int | None = None,
) -> Manifest:
    """The consumer organisation's ClusterQueue: its guaranteed GPUs (and its space's CPU and
    memory quota, which the workers' requests count against) in the pool's cohort, open to
    the LocalQueues of its clean rooms only (`clean_rooms`, namespaces), borrowing idle GPUs up
    to `borrowing_limit` (None: no limit) with fair-sharing `weight`."""
    name = space.metadata.name or ""
    quota: Manifest = {"name": GPU_RESOURCE, "nominalQuota": space.spec.quota.gpu}
    if borrowing_limit is not None:
        quota["borrowingLimit"] = borrowing_limit
    # Kueue admits a workload only if its queue covers every resource its pods request: the
    # workers' CPU and memory (set by the clean room's defaults) count against the space's quota.
    quotas = [
        {"name": "cpu", "nominalQuota": space.spec.quota.cpu},
        {"name": "memory", "nominalQuota": space.spec.quota.memory},
        quota,
    ]
    spec: Manifest = {
        "cohortName": GPU_POOL_COHORT,
        "namespaceSelector": {
            "matchExpressions": [
                {
                    "key": "kubernetes.io/metadata.name",
                    "operator": "In",
                    "values": sorted(clean_rooms),
                }
            ]
        },
        "resourceGroups": [
            {
                "coveredResources": [item["name"] for item in quotas],
                "flavors": [{"name": GPU_FLAVOR, "resources": quotas}],
            }
        ],
        "fairSharing": {"weight": weight},
        "admissionChecksStrategy": {"admissionChecks": [{"name": CONTRACT_CHECK}]},
    }
    queue = _kueue_object("ClusterQueue", organisation_queue_name(name), spec)
    queue["metadata"]["labels"][SPACE_LABEL] = name
    if space.metadata.uid:
        # The organisation's queue goes with its DataSpace.
        owner = {"apiVersion": API_VERSION, "kind": DATA_SPACE, "name": name}
        queue["metadata"]["ownerReferences"] = [{**owner, "uid": space.metadata.uid}]
    return queue


def gpu_borrowing_limit(queue: Manifest | None) -> int | None:
    """The GPU borrowing limit a (live) ClusterQueue sets, None if it sets none."""
    for group in ((queue or {}).get("spec") or {}).get("resourceGroups") or []:
        for flavor in group.get("flavors") or []:
            for quota in flavor.get("resources") or []:
                if quota.get("name") == GPU_RESOURCE and "borrowingLimit" in quota:
                    return int(quota["borrowingLimit"])
    return None


def clean_room_queue(contract: str, consumer_space: str) -> Manifest:
    """The clean room's LocalQueue, onto its consumer organisation's ClusterQueue."""
    return room_queue(clean_room_namespace(contract), consumer_space)


def room_queue(namespace: str, consumer_space: str) -> Manifest:
    """The LocalQueue of a clean room (a joint job's own among them), onto its consumer
    organisation's ClusterQueue."""
    spec = {"clusterQueue": organisation_queue_name(consumer_space)}
    return _kueue_object("LocalQueue", CLEAN_ROOM_QUEUE, spec, namespace)


def contract_check_status(decision: Decision, now: str) -> Manifest:
    """The Workload's `status.admissionChecks` entry for the contract check: the state Kueue acts
    on and the term that decided it (a Retry asks again after CHECK_RETRY_SECONDS)."""
    state = contract_check_state(decision)
    entry: Manifest = {
        "name": CONTRACT_CHECK,
        "state": state,
        "message": f"{decision.reason}: {decision.message}"[:CHECK_MESSAGE_LIMIT],
        "lastTransitionTime": now,
    }
    if state == "Retry":
        entry["requeueAfterSeconds"] = CHECK_RETRY_SECONDS
    return entry


def contract_check_active(now: str) -> Manifest:
    """The AdmissionCheck's status while the operator runs: Active, so that Kueue admits through
    the ClusterQueues that ask it (an inactive check stops them)."""
    condition = {
        "type": "Active",
        "status": "True",
        "reason": "OperatorRunning",
        "message": "the tds operator answers the contract check",
        "lastTransitionTime": now,
    }
    return {"conditions": [condition]}


def queued_batch_job(batch_job: Manifest, queue: str = CLEAN_ROOM_QUEUE) -> Manifest:
    """The batch Job as Kueue takes it: created suspended, on the clean room's LocalQueue. Kueue
    starts all its workers at once when it admits it (quota for every worker, contract Ready)."""
    metadata = {**batch_job["metadata"]}
    metadata["labels"] = {**metadata.get("labels", {}), QUEUE_NAME_LABEL: queue}
    return {**batch_job, "metadata": metadata, "spec": {**batch_job["spec"], "suspend": True}}
