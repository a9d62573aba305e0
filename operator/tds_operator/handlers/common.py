"""What every reconciler shares: the operator's context, status writes, Events, finalizers."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tds_operator import API_VERSION, FIELD_MANAGER
from tds_operator.handlers.queue import ReconcileQueue
from tds_operator.kube import Kube, KubeError, Manifest, is_subset
from tds_operator.policy.conditions import timestamp

logger = logging.getLogger(__name__)

FINALIZER = "tds.io/finalizer"
EVENTS_NAMESPACE_OF_CLUSTER_OBJECTS = "default"


@dataclass
class OperatorContext:
    """The connection and queues of one running operator; kept in kopf's memo."""

    kube: Kube
    queues: dict[str, ReconcileQueue] = field(default_factory=dict)

    def enqueue(self, kind: str, key: str, delay: float = 0.0) -> None:
        """Ask for a reconcile of one object."""
        self.queues[kind].enqueue(key, delay)


def utcnow() -> datetime:
    """The operator's clock; the pure core takes `now` as an argument instead."""
    return datetime.now(UTC)


async def write_status(kube: Kube, body: Manifest, status: Manifest) -> bool:
    """Patch the declared status fields that differ from the live ones; True if it wrote."""
    if is_subset(status, body.get("status") or {}):
        return False
    metadata = body["metadata"]
    await kube.patch_status(
        body["apiVersion"], body["kind"], metadata["name"], status, metadata.get("namespace")
    )
    return True


async def ensure_finalizer(kube: Kube, body: Manifest) -> None:
    """Add the operator's finalizer (with a resourceVersion precondition) if it is missing."""
    metadata = body["metadata"]
    finalizers = list(metadata.get("finalizers") or [])
    if FINALIZER in finalizers:
        return
    await kube.merge_patch(
        body["apiVersion"],
        body["kind"],
        metadata["name"],
        {
            "metadata": {
                "finalizers": [*finalizers, FINALIZER],
                "resourceVersion": metadata["resourceVersion"],
            }
        },
        metadata.get("namespace"),
    )


async def remove_finalizer(kube: Kube, body: Manifest) -> None:
    """Let the object go: remove the operator's finalizer."""
    metadata = body["metadata"]
    finalizers = [f for f in metadata.get("finalizers") or [] if f != FINALIZER]
    if len(finalizers) == len(metadata.get("finalizers") or []):
        return
    try:
        await kube.merge_patch(
            body["apiVersion"],
            body["kind"],
            metadata["name"],
            {
                "metadata": {
                    "finalizers": finalizers or None,
                    "resourceVersion": metadata["resourceVersion"],
                }
            },
            metadata.get("namespace"),
        )
    except KubeError as error:
        if error.status != 404:
            raise


async def record_event(
    kube: Kube,
    body: Manifest,
    *,
    reason: str,
    message: str,
    warning: bool = False,
    now: datetime | None = None,
) -> None:
    """Post a Kubernetes Event about one of the operator's objects; failures are only logged."""
    metadata = body["metadata"]
    namespace = metadata.get("namespace") or EVENTS_NAMESPACE_OF_CLUSTER_OBJECTS
    when = timestamp(now or utcnow())
    event: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{metadata['name']}.{uuid.uuid4().hex[:16]}",
            "namespace": namespace,
        },
        "involvedObject": {
            "apiVersion": body.get("apiVersion", API_VERSION),
            "kind": body["kind"],
            "name": metadata["name"],
            "uid": metadata.get("uid"),
            **({"namespace": metadata["namespace"]} if metadata.get("namespace") else {}),
        },
        "reason": reason,
        "message": message[:1024],
        "type": "Warning" if warning else "Normal",
        "source": {"component": FIELD_MANAGER},
        "reportingComponent": FIELD_MANAGER,
        "firstTimestamp": when,
        "lastTimestamp": when,
        "count": 1,
    }
    try:
        await kube.create(event)
    except KubeError as error:
        logger.warning("could not record event %s on %s: %s", reason, metadata["name"], error)
