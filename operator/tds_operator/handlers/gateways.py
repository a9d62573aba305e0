"""Take dataset gateways down (desired/gateway.py): a contract's own when it stops being Active
(handlers/cleanroom.py), a joint job's when the job ends or its room closes
(handlers/joint_room.py). Their pods go first, killed at once: a proxy keeps its answers for
minutes, so access ends with the pod. The gateways to take are those matching a label selector
whose controller `ours` accepts.
"""

from __future__ import annotations

from collections.abc import Callable

from tds_operator.api.resources import Manifest
from tds_operator.desired.gateway import GATEWAY_LABEL
from tds_operator.desired.grants import RBAC
from tds_operator.desired.labels import controlled_by
from tds_operator.kube import Kube

GATEWAY_KINDS = (
    ("v1", "Service"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("apps/v1", "Deployment"),
    (RBAC, "ClusterRoleBinding"),
    ("v1", "ServiceAccount"),
)
"""What a dataset gateway consists of, in the order it is taken down."""
Ours = Callable[[Manifest], bool]


async def kill_gateway_pods(kube: Kube, namespace: str | None, selector: str, ours: Ours) -> None:
    """Stop the gateways at once (in `namespace`, or in any): the Deployment and its ReplicaSets
    go first (no pod is made again), then their pods are deleted with no grace period (the
    kubelet kills the containers as soon as it sees it)."""
    for deployment in await kube.list("apps/v1", "Deployment", namespace, selector):
        if not ours(deployment):
            continue
        metadata = deployment["metadata"]
        name, owner, where = metadata["name"], metadata["uid"], metadata["namespace"]
        # What to kill is read first: the Deployment's deletion lets the garbage collector
        # take its ReplicaSets away (and their pods, gracefully).
        pods_of = f"{GATEWAY_LABEL}={name}"
        sets = [
            r
            for r in await kube.list("apps/v1", "ReplicaSet", where, pods_of)
            if controlled_by(r, owner)
        ]
        pods = await kube.list("v1", "Pod", where, pods_of)
        await kube.delete("apps/v1", "Deployment", name, where, uid=owner)
        for replica_set in sets:
            each = replica_set["metadata"]
            await kube.delete("apps/v1", "ReplicaSet", each["name"], where, uid=each["uid"])
        for pod in pods:
            if any(controlled_by(pod, r["metadata"]["uid"]) for r in sets):
                await kube.delete("v1", "Pod", pod["metadata"]["name"], where, grace_seconds=0)


async def remove_gateways(kube: Kube, namespace: str | None, selector: str, ours: Ours) -> None:
    """Remove what is left of the gateways (in `namespace`, or in any; the binding is
    cluster-scoped)."""
    for api_version, kind in GATEWAY_KINDS:
        where = None if kind == "ClusterRoleBinding" else namespace
        for live in await kube.list(api_version, kind, where, selector):
            if ours(live):
                metadata = live["metadata"]
                await kube.delete(
                    api_version,
                    kind,
                    metadata["name"],
                    metadata.get("namespace"),
                    uid=metadata["uid"],
                )
