"""The only module that talks to the API server: reads, server-side apply, status and deletes
(the reconcilers' requests through kube/session.py's HTTP session, the rest through kr8s).

Every write goes through here, is made with the single field manager `tds-operator`, and is
counted in `tds_api_writes_total`, which is how tests prove that a converged object costs no write.
"""

from __future__ import annotations

import builtins
import contextlib
import contextvars
import functools
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httpx
import kr8s.asyncio
from kubernetes.utils.quantity import parse_quantity

from tds_operator import FIELD_MANAGER
from tds_operator.api.resources import BUILTIN_KINDS, RESOURCES, builtin_plural
from tds_operator.desired.labels import Manifest
from tds_operator.kube.session import ApiSession
from tds_operator.metrics import API_WRITES
from tds_operator.turns import Turns

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiLocation:
    """Where a kind lives in the API: its plural and whether it is namespaced."""

    plural: str
    namespaced: bool


LOCATIONS: dict[tuple[str, str], ApiLocation] = {
    **{
        key: ApiLocation(builtin_plural(key[1]), namespaced)
        for key, namespaced in BUILTIN_KINDS.items()
    },
    **{
        (resource.api_version, kind): ApiLocation(resource.plural, resource.namespaced)
        for kind, resource in RESOURCES.items()
    },
}


WRITE_METHODS = {"apply": "PATCH", "patch": "PATCH", "delete": "DELETE", "create": "POST"}
"""The HTTP method of each write verb, as `tds_api_writes_total` counts them."""


class KubeError(Exception):
    """An API request failed; `status` is the HTTP status, `reason` the API's reason."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


def resource_of(api_version: str, kind: str) -> ApiLocation:
    """The API location of a kind the operator handles."""
    try:
        return LOCATIONS[(api_version, kind)]
    except KeyError:
        raise ValueError(f"the operator does not handle {kind} in {api_version}") from None


def is_subset(desired: Any, live: Any) -> bool:
    """Whether every field set in `desired` has the same value in `live` (defaults may be extra)."""
    if isinstance(desired, Mapping):
        return isinstance(live, Mapping) and all(
            (key in live or value == []) and is_subset(value, live.get(key))
            for key, value in desired.items()
        )
    if isinstance(desired, list):
        if not desired and live is None:
            return True  # the API server stores an empty list as null or leaves it out
        return (
            isinstance(live, list)
            and len(desired) == len(live)
            and all(is_subset(d, v) for d, v in zip(desired, live, strict=True))
        )
    if desired == live:
        return True
    return isinstance(desired, str) and isinstance(live, str) and _same_quantity(desired, live)


def _same_quantity(desired: str, live: str) -> bool:
    """The API server stores quantities in canonical form ("0.5" comes back as "500m")."""
    try:
        return bool(parse_quantity(desired) == parse_quantity(live))  # type: ignore[no-untyped-call]
    except ValueError:
        return False


MAX_REQUESTS_IN_FLIGHT = 8
"""Requests one client has open at once, unless told otherwise (TDS_API_REQUESTS_IN_FLIGHT for
the reconcilers' client)."""

URGENT_REQUESTS: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "URGENT_REQUESTS", default=False
)
"""Whether the requests made in this context stop jobs (an urgent reconcile sets it): they take
the next free place among the requests in flight, ahead of the routine requests waiting."""


class Kube:
    """A thin async client over kr8s for exactly the requests the operator makes."""

    def __init__(
        self,
        api: kr8s.asyncio.Api,
        impersonate: Sequence[str] = (),
        in_flight: int = MAX_REQUESTS_IN_FLIGHT,
        session: ApiSession | None = None,
    ) -> None:
        """`impersonate`: a user and their groups whom every request acts as (kubectl's --as and
        --as-group), for a caller the API server lets impersonate them; empty: the caller.
        `in_flight`: how many requests it has open at once (a watch takes no place).
        `session`: what sends its requests but watches (else kr8s's)."""
        self._api = api
        self._session = session
        self._in_flight = Turns(in_flight)
        user, *groups = impersonate or ("",)
        self._identity: list[tuple[str, str]] = (
            [("Impersonate-User", user), *(("Impersonate-Group", group) for group in groups)]
            if user
            else []
        )

    @classmethod
    async def connect(
        cls,
        kubeconfig: str | None = None,
        context: str | None = None,
        impersonate: Sequence[str] = (),
        in_flight: int = MAX_REQUESTS_IN_FLIGHT,
    ) -> Kube:
        """Connect with a kubeconfig file (and one of its contexts), or in-cluster/$KUBECONFIG
        when None."""
        api = await kr8s.asyncio.api(kubeconfig=kubeconfig, context=context)
        return cls(api, impersonate, in_flight)

    @classmethod
    async def connect_reconcilers(cls, kubeconfig: str | None, in_flight: int) -> Kube:
        """The reconcilers' connection: their requests (all but watches) go through an aiohttp
        session of its own (kube/session.py), whose cost per request is a fraction of kr8s's;
        `close` it at the end."""
        api = await kr8s.asyncio.api(kubeconfig=kubeconfig)
        return cls(api, in_flight=in_flight, session=ApiSession(api, in_flight))

    async def close(self) -> None:
        """Close the connections of its own session, if it has one."""
        if self._session is not None:
            await self._session.close()

    @classmethod
    async def connect_apart(cls, kubeconfig: str | None = None) -> Kube:
        """A connection with an HTTP client of its own (kr8s shares one per kubeconfig): for
        long watches, which would otherwise lengthen the walk of the connection pool that
        every other request makes."""
        api = await kr8s.asyncio.Api(kubeconfig=kubeconfig, bypass_factory=True)
        return cls(api)

    @property
    def namespace(self) -> str:
        """The namespace of the kubeconfig's context (`default` when it names none)."""
        return str(self._api.auth.namespace or "default")

    @property
    def server(self) -> str:
        """The API server's address."""
        return str(self._api.auth.server)

    @contextlib.asynccontextmanager
    async def _call(
        self,
        method: str,
        api_version: str,
        kind: str,
        name: str | None = None,
        namespace: str | None = None,
        *,
        subresource: str = "",
        **kwargs: Any,
    ) -> AsyncIterator[httpx.Response]:
        """One API request as this client's identity; an HTTP error becomes a KubeError."""
        resource = resource_of(api_version, kind)
        url = "/".join(part for part in (resource.plural, name, subresource) if part)
        headers = [*self._identity, *dict(kwargs.pop("headers", {})).items()]
        # A watch stays open as long as it lasts: it takes no place among the requests.
        gate = (
            contextlib.nullcontext()
            if kwargs.get("stream")
            else self._in_flight.turn(urgent=URGENT_REQUESTS.get())
        )
        call = functools.partial(
            self._api.call_api,
            method,
            version=api_version,
            namespace=namespace if resource.namespaced else None,
            url=url,
            headers=headers,
            **kwargs,
        )
        try:
            async with gate:
                # kr8s answers a 401 or 403 by closing its connections, which breaks every other
                # request in flight, and asking three times more. A refusal (403) is an answer:
                # the client reads it itself. Only expired credentials (401: a rotated
                # ServiceAccount token) are left to kr8s, which reads them again and retries.
                async with call(raise_for_status=False) as response:
                    if response.status_code != HTTPStatus.UNAUTHORIZED:
                        if response.is_error:
                            await response.aread()
                            raise _kube_error(response)
                        yield response
                        return
                async with call() as response:
                    yield response
        except httpx.HTTPStatusError as error:
            raise _kube_error(error.response) from None
        except kr8s.ServerError as error:
            # kr8s wraps some HTTP errors into its own exception, which carries the response.
            if isinstance(error.response, httpx.Response):
                raise _kube_error(error.response) from None
            raise

    async def _request(
        self,
        method: str,
        api_version: str,
        kind: str,
        name: str | None = None,
        namespace: str | None = None,
        *,
        subresource: str = "",
        **kwargs: Any,
    ) -> Manifest:
        if self._session is not None:
            return await self._session_request(
                method, api_version, kind, name, namespace, subresource=subresource, **kwargs
            )
        async with self._call(
            method, api_version, kind, name, namespace, subresource=subresource, **kwargs
        ) as response:
            body: Manifest = response.json() if response.content else {}
            return body

    async def _session_request(
        self,
        method: str,
        api_version: str,
        kind: str,
        name: str | None,
        namespace: str | None,
        *,
        subresource: str,
        params: dict[str, str] | None = None,
        content: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Manifest:
        """`_request` through the connection's own session."""
        assert self._session is not None
        resource = resource_of(api_version, kind)
        parts = [
            "/api" if api_version == "v1" else "/apis",
            api_version,
            *(["namespaces", namespace] if namespace and resource.namespaced else []),
            resource.plural,
            *(part for part in (name, subresource) if part),
        ]
        async with self._in_flight.turn(urgent=URGENT_REQUESTS.get()):
            status, reason, content_read = await self._session.request(
                method,
                "/".join(parts),
                headers=[*self._identity, *(headers or {}).items()],
                params=params,
                content=content,
            )
        if status >= HTTPStatus.BAD_REQUEST:
            raise _error_of(status, reason, content_read)
        body: Manifest = json.loads(content_read) if content_read else {}
        return body

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
        return await self._request(
            WRITE_METHODS[verb], api_version, kind, name, namespace, **kwargs
        )

    async def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Manifest | None:
        """The live object, or None if it does not exist."""
        try:
            return await self._request("GET", api_version, kind, name, namespace)
        except KubeError as error:
            if error.status == 404:
                return None
            raise

    async def get_subresource(
        self, api_version: str, kind: str, name: str, subresource: str, namespace: str | None = None
    ) -> Manifest:
        """One read-only subresource of an object, e.g. a LocalQueue's pending workloads in
        Kueue's visibility API; a KubeError as any request's."""
        return await self._request(
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
        body = await self._request("GET", api_version, kind, None, namespace, params=params)
        return body.get("items", []), str(body.get("metadata", {}).get("resourceVersion") or "")

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
    ) -> bool:
        """Delete an object (only the one with this `uid`, if given); False if it was gone."""
        answer = await self.delete_answered(
            api_version, kind, name, namespace, propagation=propagation, uid=uid
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
    ) -> Manifest | None:
        """Delete an object (only the one with this `uid`, if given): what the API server
        answered (the object as the delete left it, e.g. terminating behind its finalizers, or
        a Status), or None if it was gone."""
        options: Manifest = {"propagationPolicy": propagation}
        if uid is not None:
            options["preconditions"] = {"uid": uid}
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

    async def whoami(self) -> str:
        """The user name the API server authenticates this connection as."""
        username = str((await self.user_info()).get("username") or "")
        if not username:
            raise KubeError(500, "NoIdentity", "the API server did not say who the operator is")
        return username

    async def user_info(self) -> Manifest:
        """Who the API server authenticates this connection as, user name and groups (a
        SelfSubjectReview, which stores nothing)."""
        review = await self._request(
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
        async with self._call(
            "GET", api_version, kind, None, namespace, params=params, stream=True
        ) as response:
            async for line in response.aiter_lines():
                if line.strip():
                    event = json.loads(line)
                    yield str(event.get("type")), event.get("object") or {}

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


def without_managed_fields(body: Manifest) -> Manifest:
    """The object without managedFields, which no comparison reads and which dwarf the rest."""
    metadata = {k: v for k, v in body["metadata"].items() if k != "managedFields"}
    return {**body, "metadata": metadata}


def comparable(manifest: Manifest) -> Manifest:
    """The part of a desired manifest that a live object can be compared with."""
    return {key: value for key, value in manifest.items() if key not in ("apiVersion", "kind")}


def _kube_error(response: httpx.Response) -> KubeError:
    return _error_of(response.status_code, response.reason_phrase, response.content)


def _error_of(status: int, reason: str, content: bytes) -> KubeError:
    """The KubeError of an answer with an HTTP error status (the API's Status, if it sent one)."""
    try:
        body = json.loads(content)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    text = content[:500].decode(errors="replace")
    return KubeError(status, str(body.get("reason", reason)), str(body.get("message", text)))
