"""The API client's reads: get, list, who the caller is, and watches. Reads write nothing and
are not counted as writes."""

from __future__ import annotations

import builtins
import json
from collections.abc import AsyncIterator

from tds_operator.api.resources import Manifest
from tds_operator.kube.transport import KubeError, Transport


class Reads:
    """The reads of `Kube` (client.py)."""

    _transport: Transport

    async def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Manifest | None:
        """The live object, or None if it does not exist."""
        try:
            return await self._transport.request("GET", api_version, kind, name, namespace)
        except KubeError as error:
            if error.status == 404:
                return None
            raise

    async def get_subresource(
        self, api_version: str, kind: str, name: str, subresource: str, namespace: str | None = None
    ) -> Manifest:
        """One read-only subresource of an object, e.g. a LocalQueue's pending workloads in
        Kueue's visibility API; a KubeError as any request's."""
        return await self._transport.request(
            "GET", api_version, kind, name, namespace, subresource=subresource
        )

    async def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[Manifest]:
        """All objects of a kind (in a namespace, when given) matching a label selector and a
        field selector (of the kind's selectable fields)."""
        items, _ = await self.list_with_version(
            api_version, kind, namespace, label_selector, field_selector
        )
        return items

    async def list_with_version(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[builtins.list[Manifest], str]:
        """`list`, and the resourceVersion of the list, from which a watch goes on."""
        params = {
            name: selector
            for name, selector in (
                ("labelSelector", label_selector),
                ("fieldSelector", field_selector),
            )
            if selector
        }
        body = await self._transport.request(
            "GET", api_version, kind, None, namespace, params=params
        )
        return body.get("items", []), str(body.get("metadata", {}).get("resourceVersion") or "")

    async def whoami(self) -> str:
        """The user name the API server authenticates this connection as."""
        username = str((await self.user_info()).get("username") or "")
        if not username:
            raise KubeError(500, "NoIdentity", "the API server did not say who the operator is")
        return username

    async def user_info(self) -> Manifest:
        """Who the API server authenticates this connection as, user name and groups (a
        SelfSubjectReview, which stores nothing)."""
        review = await self._transport.request(
            "POST",
            "authentication.k8s.io/v1",
            "SelfSubjectReview",
            content=json.dumps(
                {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
            ),
            headers={"Content-Type": "application/json"},
        )
        return dict((review.get("status") or {}).get("userInfo") or {})

    async def watch(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        resource_version: str = "",
    ) -> AsyncIterator[tuple[str, Manifest]]:
        """The changes (ADDED, MODIFIED, DELETED, with the object) of one object after
        `resource_version`, as they happen; ends when the API server closes the watch."""
        params = {"fieldSelector": f"metadata.name={name}"}
        async for change in self.watch_changes(
            api_version, kind, namespace, params, resource_version
        ):
            yield change

    async def watch_changes(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        params: dict[str, str],
        resource_version: str = "",
    ) -> AsyncIterator[tuple[str, Manifest]]:
        """The changes (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR, with the object) of the
        objects `params` select (labelSelector, fieldSelector, timeoutSeconds...) after
        `resource_version`; ends when the API server closes the watch."""
        params = {**params, "watch": "true"}
        if resource_version:
            params["resourceVersion"] = resource_version
        async with self._transport.call(
            "GET", api_version, kind, None, namespace, params=params, stream=True
        ) as response:
            async for line in response.aiter_lines():
                if line.strip():
                    event = json.loads(line)
                    yield str(event.get("type")), event.get("object") or {}
