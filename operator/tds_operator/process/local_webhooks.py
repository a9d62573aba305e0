"""A local run keeps its webhook configuration pointing at a replica that answers.

Local replicas serve their webhooks at one address (a shared port, which kopf binds with
SO_REUSEPORT, and a shared certificate), so the death of one leaves the others answering. What a
crash or a clean stop can still leave behind is handled here, by every local replica, every
KEEP_INTERVAL_SECONDS:
- a configuration whose address nobody answers on (a replica that ran elsewhere crashed) is
  pointed at this replica;
- a configuration another replica emptied or deleted as it stopped cleanly (kopf empties it, the
  operator deletes it, so that the API stays writable once the operator is gone) is put back,
  pointed at this replica, while this replica runs.
A crash of the only local replica still leaves the webhooks failing closed until it restarts (see
docs/guides/high-availability.md). In a cluster, the chart's configuration and Service do all this.
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from tds_operator.api.resources import ADMISSION, Manifest
from tds_operator.desired.webhook_client import WEBHOOK_CONFIGURATION, addresses, pointed_at
from tds_operator.kube import Kube, KubeError

logger = logging.getLogger(__name__)

KEEP_INTERVAL_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 0.5
KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")


async def answers(host: str, port: int) -> bool:
    """Whether something accepts a TCP connection at host:port."""
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


class LocalWebhooks:
    """Keeps the local webhook configurations served, with this replica's address and CA."""

    def __init__(self, kube: Kube, base_url: str, ca_pem: bytes) -> None:
        self.kube, self.base_url, self.ca_pem = kube, base_url, ca_pem
        self._known: dict[str, list[Manifest]] = {}

    async def run(self) -> None:
        """Check every KEEP_INTERVAL_SECONDS until cancelled."""
        while True:
            await asyncio.sleep(KEEP_INTERVAL_SECONDS)
            for kind in KINDS:
                try:
                    await self._keep(kind)
                except (KubeError, httpx.HTTPError) as error:
                    logger.warning("local webhooks: could not check %s: %s", kind, error)

    async def _keep(self, kind: str) -> None:
        live = await self.kube.get(ADMISSION, kind, WEBHOOK_CONFIGURATION)
        webhooks: list[Manifest] = (live or {}).get("webhooks") or []
        if webhooks:
            served = [await answers(host, port) for host, port in addresses(webhooks)]
            if all(served):
                self._known[kind] = webhooks
                return
        known = self._known.get(kind)
        if not known:
            return  # nothing to put back yet: kopf writes it when this replica starts
        restored = pointed_at(known, self.base_url, self.ca_pem)
        if live is None:
            body = {
                "apiVersion": ADMISSION,
                "kind": kind,
                "metadata": {"name": WEBHOOK_CONFIGURATION},
            }
            await self.kube.create({**body, "webhooks": restored})
        else:
            await self.kube.merge_patch(
                ADMISSION, kind, WEBHOOK_CONFIGURATION, {"webhooks": restored}
            )
        logger.warning(
            "local webhooks: %s %s %s; pointed at %s",
            kind,
            WEBHOOK_CONFIGURATION,
            "was gone" if live is None else "had no live address",
            self.base_url,
        )
        self._known[kind] = restored
