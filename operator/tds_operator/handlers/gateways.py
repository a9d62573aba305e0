"""Take dataset gateways down (desired/gateway.py): a contract's own when it stops being Active
(handlers/cleanroom.py), a joint job's when the job ends or its room closes
(handlers/joint_room.py). Their pods go first, killed at once: a proxy keeps its answers for
minutes, so access ends with the pod. The gateways to take are those matching a label selector
whose controller `ours` accepts.
"""

from __future__ import annotations

import asyncio
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
    """Stop the gateways at once (in `namespace`, or in any), all together (a contract's own
    and its joint rooms' go in one step): each Deployment and its ReplicaSets go first (no pod
    is made again), then their pods are deleted with no grace period (the kubelet kills the
    containers as soon as it sees it)."""
    deployments = [
        d for d in await kube.list("apps/v1", "Deployment", namespace, selector) if ours(d)
    ]
    # What to kill is read first: a Deployment's deletion lets the garbage collector take its
    # ReplicaSets away (and their pods, gracefully).
    found = await asyncio.gather(*(_parts_of(kube, d) for d in deployments))
    # The Deployments first, then their ReplicaSets: no ReplicaSet is made again.
    await asyncio.gather(*(_delete(kube, "apps/v1", "Deployment", d) for d in deployments))
    sets = [r for replica_sets, _ in found for r in replica_sets]
    await asyncio.gather(*(_delete(kube, "apps/v1", "ReplicaSet", r) for r in sets))
    await asyncio.gather(
        *(
            kube.delete(
                "v1", "Pod", p["metadata"]["name"], p["metadata"]["namespace"], grace_seconds=0
            )
            for _, pods in found
            for p in pods
        )
    )


async def _delete(kube: Kube, api_version: str, kind: str, live: Manifest) -> None:
    metadata = live["metadata"]
    await kube.delete(
        api_version, kind, metadata["name"], metadata["namespace"], uid=metadata["uid"]
    )


async def _parts_of(kube: Kube, deployment: Manifest) -> tuple[list[Manifest], list[Manifest]]:
    """A gateway Deployment's ReplicaSets, and their pods."""
    metadata = deployment["metadata"]
    where, pods_of = metadata["namespace"], f"{GATEWAY_LABEL}={metadata['name']}"
    replica_sets, pods = await asyncio.gather(
        kube.list("apps/v1", "ReplicaSet", where, pods_of), kube.list("v1", "Pod", where, pods_of)
    )
    sets = [r for r in replica_sets if controlled_by(r, metadata["uid"])]
    owned = [p for p in pods if any(controlled_by(p, r["metadata"]["uid"]) for r in sets)]
    return sets, owned


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
