"""The HTTP session of the reconcilers' requests (all but watches), for kube/client.py.

kr8s sends its requests with httpx, whose connection pool and TLS stream cost the operator's one
event loop about 3 ms of CPU a request: provisioning 300 spaces, that loop was busy three
quarters of the time and fell behind their creation (docs: Scale). aiohttp, which kopf's own
requests use too, does the same request for about a third of that. The credentials are still
kr8s's: a 401 reads them again (a rotated ServiceAccount token) and asks once more. A failure
to reach the API server raises httpx's errors, as kr8s's requests do, so that every caller
handles both alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus

import aiohttp
import httpx
import kr8s.asyncio
from multidict import CIMultiDict

CONNECT_TIMEOUT_SECONDS = 30.0


class ApiSession:
    """One aiohttp session to the API server of a kr8s connection, with its credentials."""

    def __init__(self, api: kr8s.asyncio.Api, connections: int) -> None:
        """`connections`: how many it keeps open (as many as requests are in flight)."""
        self._api = api
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            auth = self._api.auth
            headers = {"Authorization": f"Bearer {auth.token}"} if auth.token else {}
            tls = await auth.ssl_context()  # type: ignore[no-untyped-call]
            connector = aiohttp.TCPConnector(ssl=tls, limit=self._connections)
            self._session = aiohttp.ClientSession(
                base_url=str(auth.server),
                headers=headers,
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT_SECONDS),
            )
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: Sequence[tuple[str, str]],
        params: Mapping[str, str] | None = None,
        content: str | None = None,
    ) -> tuple[int, str, bytes]:
        """One request: the answer's HTTP status, reason phrase and body."""
        for attempt in range(2):
            session = await self._open()
            auth = self._api.auth
            try:
                async with session.request(
                    method,
                    path,
                    params=params,
                    data=content,
                    headers=CIMultiDict(headers),
                    proxy=auth.proxy or None,
                    server_hostname=auth.tls_server_name or None,
                ) as response:
                    body = await response.read()
                    status, reason = response.status, response.reason or ""
            except aiohttp.ClientConnectorError as error:
                raise httpx.ConnectError(str(error)) from error
            except (TimeoutError, aiohttp.ServerTimeoutError) as error:
                raise httpx.ReadTimeout(str(error) or "the API server did not answer") from error
            except aiohttp.ClientError as error:
                raise httpx.NetworkError(str(error) or type(error).__name__) from error
            if status != HTTPStatus.UNAUTHORIZED or attempt:
                return status, reason, body
            # Expired credentials (a rotated token): read them again and ask once more.
            await auth.reauthenticate()
            await self.close()
        raise AssertionError("unreachable")

    async def close(self) -> None:
        """Close its connections (a next request opens new ones)."""
        if self._session is not None:
            await self._session.close()
            self._session = None
