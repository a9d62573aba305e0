"""The API client's writes: server-side apply, patches, create and delete. Every write is made
with the single field manager `tds-operator` and counted in `tds_api_writes_total`, which is how
tests prove that a converged object costs no write."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tds_operator import FIELD_MANAGER
from tds_operator.api.compare import comparable, is_subset
from tds_operator.api.resources import Manifest
from tds_operator.kube.reads import Reads
from tds_operator.kube.transport import KubeError
from tds_operator.metrics import API_WRITES

WRITE_METHODS = {"apply": "PATCH", "patch": "PATCH", "delete": "DELETE", "create": "POST"}
"""The HTTP method of each write verb, as `tds_api_writes_total` counts them."""


class Writes(Reads):
    """The writes of `Kube` (client.py); `ensure` reads before it writes."""

    async def _write(
        self,
        verb: str,
        api_version: str,
        kind: str,
        name: str | None = None,
        namespace: str | None = None,
        **kwargs: Any,
    ) -> Manifest:
        API_WRITES.labels(verb=verb, kind=kind).inc()
        return await self._transport.request(
            WRITE_METHODS[verb], api_version, kind, name, namespace, **kwargs
        )

    async def apply(self, manifest: Manifest, *, subresource: str = "") -> Manifest:
        """Server-side apply with the operator's field manager, forcing ownership of its fields
        (of the object, or of its `subresource`)."""
        metadata = manifest["metadata"]
        return await self._write(
            "apply",
            manifest["apiVersion"],
            manifest["kind"],
            name=metadata["name"],
            namespace=metadata.get("namespace"),
            subresource=subresource,
            content=json.dumps(manifest),
            headers={"Content-Type": "application/apply-patch+yaml"},
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
        )

    async def apply_status(self, live: Manifest, status: Manifest) -> Manifest:
        """Server-side apply of the given status fields (the operator's own entries of a status
        that others write too, such as one admission check of a Kueue Workload)."""
        metadata = live["metadata"]
        identity = {"name": metadata["name"], "namespace": metadata.get("namespace")}
        manifest = {"apiVersion": live["apiVersion"], "kind": live["kind"], "metadata": identity}
        return await self.apply({**manifest, "status": status}, subresource="status")

    async def ensure(self, manifest: Manifest) -> bool:
        """Apply `manifest` unless the live object already has every field; True if it wrote."""
        metadata = manifest["metadata"]
        live = await self.get(
            manifest["apiVersion"], manifest["kind"], metadata["name"], metadata.get("namespace")
        )
        if live is not None and is_subset(comparable(manifest), live):
            return False
        await self.apply(manifest)
        return True

    async def merge_patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Manifest,
        namespace: str | None = None,
        *,
        subresource: str = "",
    ) -> Manifest:
        """A JSON merge patch (lists are replaced whole), e.g. of status or finalizers."""
        where = (api_version, kind, name, namespace, subresource)
        return await self._patch(*where, patch, "application/merge-patch+json")

    async def json_patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        operations: Sequence[Manifest],
        namespace: str | None = None,
    ) -> Manifest:
        """A JSON patch: its `test` operations make it a precondition on the fields it names
        alone (422 if one fails), where a resourceVersion would refuse any change at all."""
        where = (api_version, kind, name, namespace, "")
        return await self._patch(*where, operations, "application/json-patch+json")

    async def _patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        subresource: str,
        patch: Manifest | Sequence[Manifest],
        content_type: str,
    ) -> Manifest:
        return await self._write(
            "patch",
            api_version,
            kind,
            name=name,
            namespace=namespace,
            subresource=subresource,
            content=json.dumps(patch),
            headers={"Content-Type": content_type},
        )

    async def patch_status(
        self, api_version: str, kind: str, name: str, status: Manifest, namespace: str | None = None
    ) -> Manifest:
        """Replace the declared status fields given (merge patch on the status subresource)."""
        return await self.merge_patch(
            api_version, kind, name, {"status": status}, namespace, subresource="status"
        )

    async def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str = "Background",
        uid: str | None = None,
        grace_seconds: int | None = None,
    ) -> bool:
        """Delete an object (only the one with this `uid`, if given; a pod with this grace
        period, 0 to kill it at once); False if it was gone."""
        answer = await self.delete_answered(
            api_version,
            kind,
            name,
            namespace,
            propagation=propagation,
            uid=uid,
            grace_seconds=grace_seconds,
        )
        return answer is not None

    async def delete_answered(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str = "Background",
        uid: str | None = None,
        grace_seconds: int | None = None,
    ) -> Manifest | None:
        """Delete an object (only the one with this `uid`, if given): what the API server
        answered (the object as the delete left it, e.g. terminating behind its finalizers, or
        a Status), or None if it was gone."""
        options: Manifest = {"propagationPolicy": propagation}
        if uid is not None:
            options["preconditions"] = {"uid": uid}
        if grace_seconds is not None:
            options["gracePeriodSeconds"] = grace_seconds
        try:
            return await self._write(
                "delete",
                api_version,
                kind,
                name=name,
                namespace=namespace,
                content=json.dumps(options),
                headers={"Content-Type": "application/json"},
            )
        except KubeError as error:
            # 409: the precondition failed, the object of that name is another one by now.
            if error.status == 404 or (error.status == 409 and uid is not None):
                return None
            raise

    async def create(self, manifest: Manifest) -> Manifest:
        """Create an object (for things that are created once, such as Events)."""
        metadata = manifest["metadata"]
        return await self._write(
            "create",
            manifest["apiVersion"],
            manifest["kind"],
            namespace=metadata.get("namespace"),
            content=json.dumps(manifest),
            headers={"Content-Type": "application/json"},
            params={"fieldManager": FIELD_MANAGER},
        )
