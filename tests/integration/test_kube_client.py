"""The operator's API client under refusal. The operator sends a space's children at once, so a
refusal (403) must be the answer to its own request only: it may not break the requests in flight
beside it on the same connections, kr8s's or the reconcilers' own session's."""

from __future__ import annotations

import asyncio

import kr8s.asyncio
import pytest

from bench.hubkit.hub import hub_kubeconfig
from tds_operator.kube import Kube, KubeError
from tds_operator.kube.session import ApiSession

pytestmark = pytest.mark.integration

READS = 24
REFUSALS = 4


async def reads_beside_refusals(own_session: bool) -> list[object]:
    """Reads as the hub's admin and refused reads as a user with no rights, all at once, over
    one pool of connections (kr8s's, or the reconcilers' own session's), as the operator's
    reconcilers share one."""
    api = await kr8s.asyncio.api(kubeconfig=hub_kubeconfig())
    session = ApiSession(api, 8) if own_session else None
    admin = Kube(api, session=session)
    stranger = Kube(api, impersonate=("tds-test-stranger",), session=session)
    reads = [admin.list("v1", "Namespace") for _ in range(READS)]
    refused = [stranger.list("v1", "Secret", "kube-system") for _ in range(REFUSALS)]
    try:
        return await asyncio.gather(*reads, *refused, return_exceptions=True)
    finally:
        await admin.close()


@pytest.mark.parametrize("own_session", [False, True], ids=["kr8s", "reconcilers-session"])
def test_a_refusal_breaks_no_request_in_flight_beside_it(
    api_client: object, own_session: bool
) -> None:
    results = asyncio.run(reads_beside_refusals(own_session))
    reads, refusals = results[:READS], results[READS:]
    assert all(isinstance(r, list) and r for r in reads), [
        r for r in reads if not isinstance(r, list)
    ]
    assert all(isinstance(r, KubeError) and r.status == 403 for r in refusals), refusals
    assert all("forbidden" in str(r) for r in refusals), refusals
