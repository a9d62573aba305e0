"""The reconcilers' aiohttp session (kube/session.py) against a stand-in API server: the path
and identity of each request, the answer's status as a KubeError, a 401 read again once, and an
unreachable server as httpx's error (what every caller of Kube handles)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web

from tds_operator.kube import Kube, KubeError
from tds_operator.kube.session import ApiSession

pytestmark = pytest.mark.unit


@dataclass
class StandInAuth:
    """What the session reads of kr8s's credentials."""

    server: str
    token: str = "old"
    tls_server_name: str | None = None
    proxy: str | None = None
    reread: int = 0

    async def ssl_context(self) -> bool:
        return True

    async def reauthenticate(self) -> None:
        self.reread += 1
        self.token = "new"


@dataclass
class StandInApi:
    auth: StandInAuth


@dataclass
class Seen:
    requests: list[dict[str, Any]] = field(default_factory=list)


async def _serve(seen: Seen, request: web.Request) -> web.Response:
    seen.requests.append(
        {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "authorization": request.headers.get("Authorization"),
            "groups": request.headers.getall("Impersonate-Group", []),
            "body": await request.text(),
        }
    )
    if request.headers.get("Authorization") == "Bearer old":
        return web.json_response({"reason": "Unauthorized", "message": "expired"}, status=401)
    if request.path.endswith("/gone"):
        return web.json_response({"reason": "NotFound", "message": "gone is gone"}, status=404)
    return web.json_response({"metadata": {"name": "made", "resourceVersion": "7"}})


@pytest.fixture
async def api_server() -> AsyncIterator[tuple[str, Seen]]:
    seen = Seen()
    app = web.Application()

    async def serve(request: web.Request) -> web.Response:
        return await _serve(seen, request)

    app.router.add_route("*", "/{tail:.*}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


def _kube(server: str, impersonate: tuple[str, ...] = ()) -> tuple[Kube, StandInAuth]:
    auth = StandInAuth(server)
    api: Any = StandInApi(auth)
    return Kube(api, impersonate, in_flight=2, session=ApiSession(api, 2)), auth


async def test_an_apply_goes_to_the_objects_path_as_the_identity_with_fresh_credentials(
    api_server: tuple[str, Seen],
) -> None:
    server, seen = api_server
    kube, auth = _kube(server, ("alice", "team-a", "team-b"))
    manifest = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "quota", "namespace": "space-a"},
    }
    written = await kube.apply(manifest)
    await kube.close()
    assert written["metadata"]["resourceVersion"] == "7"
    expired, retried = seen.requests
    assert expired["authorization"] == "Bearer old"
    assert auth.reread == 1
    assert retried["method"] == "PATCH"
    assert retried["path"] == "/api/v1/namespaces/space-a/resourcequotas/quota"
    assert retried["query"] == {"fieldManager": "tds-operator", "force": "true"}
    assert retried["authorization"] == "Bearer new"
    assert retried["groups"] == ["team-a", "team-b"]


async def test_an_error_status_is_a_kube_error_with_the_api_servers_reason(
    api_server: tuple[str, Seen],
) -> None:
    server, _ = api_server
    kube, auth = _kube(server)
    auth.token = "new"
    with pytest.raises(KubeError) as refused:
        await kube.merge_patch("v1", "Namespace", "gone", {"metadata": {}})
    assert (refused.value.status, refused.value.reason) == (404, "NotFound")
    assert await kube.get("v1", "Namespace", "gone") is None
    await kube.close()


async def test_an_api_server_nobody_listens_on_is_httpx_connect_error() -> None:
    kube, _ = _kube("http://127.0.0.1:9")
    with pytest.raises(httpx.ConnectError):
        await kube.get("v1", "Namespace", "space-a")
    await kube.close()
