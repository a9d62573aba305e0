"""One request to the API server as the client's identity: its place among the requests in
flight, the path of its kind, and an HTTP error turned into a `KubeError`. The reconcilers'
requests go through their own HTTP session (session.py), the rest (and every watch) through kr8s.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
from collections.abc import AsyncIterator, Sequence
from http import HTTPStatus
from typing import Any

import httpx
import kr8s.asyncio

from tds_operator.api.resources import Manifest, resource_of
from tds_operator.kube.session import ApiSession
from tds_operator.turns import Turns

MAX_REQUESTS_IN_FLIGHT = 8
"""Requests one client has open at once, unless told otherwise (TDS_API_REQUESTS_IN_FLIGHT for
the reconcilers' client)."""

URGENT_REQUESTS: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "URGENT_REQUESTS", default=False
)
"""Whether the requests made in this context stop jobs (an urgent reconcile sets it): they take
the next free place among the requests in flight, ahead of the routine requests waiting."""


class KubeError(Exception):
    """An API request failed; `status` is the HTTP status, `reason` the API's reason."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class Transport:
    """Sends a client's requests: through `session` when given (all but watches), else kr8s."""

    def __init__(
        self,
        api: kr8s.asyncio.Api,
        impersonate: Sequence[str] = (),
        in_flight: int = MAX_REQUESTS_IN_FLIGHT,
        session: ApiSession | None = None,
    ) -> None:
        self._api = api
        self._session = session
        self._in_flight = Turns(in_flight)
        user, *groups = impersonate or ("",)
        self._identity: list[tuple[str, str]] = (
            [("Impersonate-User", user), *(("Impersonate-Group", group) for group in groups)]
            if user
            else []
        )

    async def close(self) -> None:
        """Close the connections of its own session, if it has one."""
        if self._session is not None:
            await self._session.close()

    def _gate(self, stream: bool) -> contextlib.AbstractAsyncContextManager[None]:
        """A place among the requests in flight; a watch stays open as long as it lasts and
        takes none."""
        if stream:
            return contextlib.nullcontext()
        return self._in_flight.turn(urgent=URGENT_REQUESTS.get())

    @contextlib.asynccontextmanager
    async def call(
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
        """One API request through kr8s as this client's identity; an HTTP error becomes a
        KubeError."""
        resource = resource_of(api_version, kind)
        url = "/".join(part for part in (resource.plural, name, subresource) if part)
        headers = [*self._identity, *dict(kwargs.pop("headers", {})).items()]
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
            async with self._gate(bool(kwargs.get("stream"))):
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

    async def request(
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
        """One API request and the object it answered ({} for an empty answer)."""
        if self._session is not None:
            return await self._session_request(
                method, api_version, kind, name, namespace, subresource=subresource, **kwargs
            )
        async with self.call(
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
        """`request` through the connection's own session."""
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
