"""Writes every reconciler makes to its own objects: status, finalizer, Events."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

from pydantic import ValidationError

from tds_operator import API_VERSION, FIELD_MANAGER
from tds_operator.api.common import KubeModel
from tds_operator.api.compare import is_subset
from tds_operator.api.dataspace import space_namespace
from tds_operator.api.resources import DATA_CONTRACT, DATA_SPACE, Manifest
from tds_operator.handlers.context import utcnow
from tds_operator.kube import Kube, KubeError
from tds_operator.policy.condition_events import ConditionEvent
from tds_operator.policy.conditions import timestamp

logger = logging.getLogger(__name__)

FINALIZER: Final = "tds.io/finalizer"
EVENTS_NAMESPACE_OF_CLUSTER_OBJECTS: Final = "default"
EVENT_MESSAGE_LIMIT: Final = 1024
REJECTED_STATUSES: Final = frozenset({400, 403, 409, 422})
"""API answers that mean "this input cannot be applied", as opposed to a passing outage."""


def validation_message(error: ValidationError) -> str:
    """The first problem of an invalid object, naming its field."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    return f"{field}: {first['msg']}"


async def write_status(
    kube: Kube, body: Manifest, status: KubeModel, *, clear: Iterable[str] = ()
) -> Manifest | None:
    """Patch the status fields given in the typed `status` that differ from the live ones, and
    remove the live fields named in `clear`, in one write; the object as written, or None if
    nothing was. Fields left out or None are not sent (a merge patch leaves them as they are)."""
    live = body.get("status") or {}
    fields = status.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    # A merge patch removes a field set to null.
    fields |= {name: None for name in clear if live.get(name) is not None}
    if is_subset(fields, live):
        return None
    metadata = body["metadata"]
    return await kube.patch_status(
        body["apiVersion"], body["kind"], metadata["name"], fields, metadata.get("namespace")
    )


async def ensure_finalizer(kube: Kube, body: Manifest) -> Manifest | None:
    """Add the operator's finalizer (with a resourceVersion precondition) if it is missing; the
    object as written, or None if it had the finalizer."""
    metadata = body["metadata"]
    finalizers = list(metadata.get("finalizers") or [])
    if FINALIZER in finalizers:
        return None
    return await _patch_finalizers(kube, body, [*finalizers, FINALIZER])


async def remove_finalizer(kube: Kube, body: Manifest) -> None:
    """Let the object go: remove the operator's finalizer. The patch holds only if the
    finalizer is still where `body` shows it, whatever else changed since (this reconcile's own
    status write, typically), so another party's finalizer is never dropped."""
    metadata = body["metadata"]
    finalizers = list(metadata.get("finalizers") or [])
    if FINALIZER not in finalizers:
        return
    at = f"/metadata/finalizers/{finalizers.index(FINALIZER)}"
    try:
        await kube.json_patch(
            body["apiVersion"],
            body["kind"],
            metadata["name"],
            [{"op": "test", "path": at, "value": FINALIZER}, {"op": "remove", "path": at}],
            metadata.get("namespace"),
        )
    except KubeError as error:
        if error.status != 404:
            raise


async def _patch_finalizers(kube: Kube, body: Manifest, finalizers: list[str] | None) -> Manifest:
    metadata = body["metadata"]
    return await kube.merge_patch(
        body["apiVersion"],
        body["kind"],
        metadata["name"],
        {"metadata": {"finalizers": finalizers, "resourceVersion": metadata["resourceVersion"]}},
        metadata.get("namespace"),
    )


def event_namespaces(body: Manifest) -> list[str]:
    """Where the Events of an object go: its own namespace; for a DataContract, the namespaces
    of both parties' spaces, whose owners and members read them there (and nobody else); for a
    DataSpace, its own namespace, but `default` once it is being deleted (its namespace then
    terminates and takes no Events); for another cluster-scoped object, `default`."""
    metadata = body["metadata"]
    if metadata.get("namespace"):
        return [metadata["namespace"]]
    if body.get("kind") == DATA_CONTRACT:
        spec = body.get("spec") or {}
        spaces = [(spec.get(party) or {}).get("space") for party in ("provider", "consumer")]
        return [space_namespace(space) for space in dict.fromkeys(spaces) if space]
    if body.get("kind") == DATA_SPACE and not metadata.get("deletionTimestamp"):
        return [space_namespace(metadata["name"])]
    return [EVENTS_NAMESPACE_OF_CLUSTER_OBJECTS]


async def record_event(
    kube: Kube,
    body: Manifest,
    *,
    reason: str,
    message: str,
    warning: bool = False,
    now: datetime | None = None,
) -> None:
    """Post a Kubernetes Event about one of the operator's objects where those concerned read it
    (`event_namespaces`); failures are only logged.

    The API server files an Event under its involvedObject's namespace, so an Event about a
    contract names the party's namespace there; kind, name and uid still identify the contract.
    """
    metadata = body["metadata"]
    when = timestamp(now or utcnow())
    for namespace in event_namespaces(body):
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
                **(
                    {"namespace": namespace}
                    if namespace != EVENTS_NAMESPACE_OF_CLUSTER_OBJECTS
                    else {}
                ),
            },
            "reason": reason,
            "message": message[:EVENT_MESSAGE_LIMIT],
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


async def post_events(kube: Kube, body: Manifest, events: Iterable[ConditionEvent]) -> None:
    """Post the Events one reconcile of `body` reports (policy/condition_events.py), at once."""
    await asyncio.gather(
        *(
            record_event(kube, body, reason=e.reason, message=e.message, warning=e.warning)
            for e in events
        )
    )
