"""Leader election over a coordination.k8s.io Lease: one replica reconciles (the webhooks are
served apart from it: TDS_ROLE).

kopf's peering does not elect: it pauses operators of a lower priority while one of a higher
priority runs (and freezes all of them when priorities tie), through kopf's own peering CRDs. So
the operator elects its reconciling replica itself, with the same Lease protocol as Kubernetes'
own controllers; the decisions are in policy/election.py. Nothing here touches the webhooks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx

from tds_operator.kube import Kube, KubeError
from tds_operator.metrics import set_leading
from tds_operator.policy.election import (
    RENEW_INTERVAL_SECONDS,
    ROUND_TIMEOUT_SECONDS,
    LeaseRecord,
    Observation,
    held_by,
    lease_record,
    lease_spec,
    may_take,
    observe,
    released_spec,
    still_leading,
)

logger = logging.getLogger(__name__)

LEASE_API = "coordination.k8s.io/v1"
RoleChange = Callable[[], Awaitable[None]]


class LeaderElector:
    """Takes, renews and gives up one Lease; calls `lead` when this replica becomes the leader
    and `stand_by` when it stops being it. Both must return at once (the Lease is renewed in
    the same loop); an error in either is logged and the election goes on."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        identity: str,
        lead: RoleChange,
        stand_by: RoleChange,
    ) -> None:
        self.kube, self.namespace, self.name, self.identity = kube, namespace, name, identity
        self._lead, self._stand_by = lead, stand_by
        self.leading = False
        self._observation: Observation | None = None
        self._last_renewal_sent: float | None = None
        set_leading(False)

    async def run(self) -> None:
        """Elect until cancelled."""
        logger.info(
            "leader election: %s looks for Lease %s/%s", self.identity, self.namespace, self.name
        )
        while True:
            try:
                async with asyncio.timeout(ROUND_TIMEOUT_SECONDS):
                    holds = await self._round()
            except (KubeError, httpx.HTTPError, TimeoutError) as error:
                logger.warning("leader election: Lease %s unreachable: %s", self.name, error)
                holds = self.leading and still_leading(self._last_renewal_sent, time.monotonic())
            except Exception:
                # Whatever else went wrong, the loop goes on: a replica whose election ended
                # would go on reconciling without renewing the Lease, beside the next leader.
                logger.exception("leader election: round on Lease %s failed", self.name)
                holds = self.leading and still_leading(self._last_renewal_sent, time.monotonic())
            try:
                await self._become(holds)
            except Exception:
                logger.exception("leader election: %s could not change its role", self.identity)
            await asyncio.sleep(RENEW_INTERVAL_SECONDS)

    async def _round(self) -> bool:
        """Read the Lease; take or renew it if this replica may. Whether it holds it now."""
        sent = time.monotonic()
        lease = await self.kube.get(LEASE_API, "Lease", self.name, self.namespace)
        record = lease_record(lease)
        self._observation = None if record is None else observe(self._observation, record, sent)
        if not may_take(self._observation, self.identity, sent):
            return False
        spec = lease_spec(self.identity, record, datetime.now(UTC))
        try:
            if record is None:
                await self.kube.create(self._lease(spec))
            else:
                await self._write(record, spec)
        except KubeError as error:
            if error.status in (404, 409):  # another replica wrote it first
                return False
            raise
        self._last_renewal_sent = sent
        return True

    def _lease(self, spec: dict[str, object]) -> dict[str, object]:
        return {
            "apiVersion": LEASE_API,
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": spec,
        }

    async def _write(self, record: LeaseRecord, spec: dict[str, object]) -> None:
        """Write the spec only over the version read (a conflict means another replica won)."""
        patch = {"metadata": {"resourceVersion": record.resource_version}, "spec": spec}
        await self.kube.merge_patch(LEASE_API, "Lease", self.name, patch, self.namespace)

    async def _become(self, holds: bool) -> None:
        if holds == self.leading:
            return
        self.leading = holds
        set_leading(holds)
        if holds:
            logger.info("leader election: %s leads: it reconciles", self.identity)
            await self._lead()
        else:
            logger.warning("leader election: %s stands by: it does not reconcile", self.identity)
            await self._stand_by()

    async def release(self) -> None:
        """Give the Lease up (a clean shutdown), so that a standby takes it at once."""
        if not self.leading:
            return
        await self._become(False)
        try:
            record = lease_record(
                await self.kube.get(LEASE_API, "Lease", self.name, self.namespace)
            )
            if record is not None and held_by(record, self.identity):
                await self._write(record, released_spec())
                logger.info("leader election: %s released Lease %s", self.identity, self.name)
        except (KubeError, httpx.HTTPError) as error:
            logger.warning("leader election: could not release Lease %s: %s", self.name, error)
