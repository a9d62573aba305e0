"""The election loop survives a role change that fails: a replica whose `lead` raised (the chaos
campaign saw a new leader's resync meet a restarting API server's 429) goes on renewing the
Lease, and stands by once another replica holds it, instead of reconciling forever without it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tds_operator.process import election
from tds_operator.process.election import LeaderElector

pytestmark = pytest.mark.unit


class LeaseStore:
    """One Lease, as a Kube stand-in serves it (get, create, merge_patch)."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.writes = 0

    async def get(self, *_: Any) -> dict[str, Any] | None:
        return self.lease

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self._store(manifest["spec"])
        return manifest

    async def merge_patch(self, *args: Any) -> dict[str, Any]:
        patch = args[3]
        self._store({**(self.lease or {}).get("spec", {}), **patch["spec"]})
        return patch

    def _store(self, spec: dict[str, Any]) -> None:
        self.version += 1
        self.writes += 1
        self.lease = {"metadata": {"resourceVersion": str(self.version)}, "spec": spec}


async def test_a_failing_lead_neither_ends_the_election_nor_stops_renewals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(election, "RENEW_INTERVAL_SECONDS", 0.01)
    store = LeaseStore()
    leads: list[str] = []

    async def lead() -> None:
        leads.append("lead")
        raise RuntimeError("429 TooManyRequests: storage is (re)initializing")

    async def stand_by() -> None:
        leads.append("stand by")

    elector = LeaderElector(store, "tds-system", "leader", "replica-a", lead, stand_by)  # type: ignore[arg-type]
    task = asyncio.create_task(elector.run())
    while store.writes < 5:
        await asyncio.sleep(0.01)
        assert not task.done(), task
    assert elector.leading
    assert store.lease is not None
    assert store.lease["spec"]["holderIdentity"] == "replica-a"
    # Another replica takes the Lease (say this one's renewals were late): it stands by.
    store._store({**store.lease["spec"], "holderIdentity": "replica-b"})
    while elector.leading:
        await asyncio.sleep(0.01)
        assert not task.done(), task
    task.cancel()
    assert leads == ["lead", "stand by"]
