"""The API client: one connection to the API server (kr8s's credentials, an identity to act as,
a bound on the requests in flight) with exactly the requests the operator makes, reads
(reads.py) and writes (writes.py), which transport.py sends.
"""

from __future__ import annotations

from collections.abc import Sequence

import kr8s.asyncio

from tds_operator.kube.session import ApiSession
from tds_operator.kube.transport import MAX_REQUESTS_IN_FLIGHT, Transport
from tds_operator.kube.writes import Writes


class Kube(Writes):
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
        self._transport = Transport(api, impersonate, in_flight, session)

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
        await self._transport.close()

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
