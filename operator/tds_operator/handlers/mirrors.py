"""Each party's copy of a DataContract (a Contract in its space namespace), written after the
contract's status and only when it differs from the live one.

The copies are what the parties list and watch; nobody else reads them. A namespace that cannot
take its copy now (a space still being made, or going) gets it on a later reconcile: the
contract's reconcile never fails for a copy it could not write. A space that stops being a party
loses its copy: the webhook keeps the parties fixed, so this happens only by a change made while
no webhook answered, such as while no operator ran; the first reconcile of a process lists every
copy the operator made, once, and judges each contract's copies from that list.
"""

from __future__ import annotations

import asyncio
import logging

from tds_operator import API_VERSION
from tds_operator.api.compare import without_managed_fields
from tds_operator.api.resources import CONTRACT, Manifest
from tds_operator.desired.labels import CONTRACT_LABEL, MANAGED_BY, controlled_by
from tds_operator.kube import Kube, KubeError

logger = logging.getLogger(__name__)


class ContractMirrors:
    """Writes the copies of contracts, remembering what is in the cluster."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._known: dict[str, dict[str, Manifest]] = {}
        """contract -> namespace -> the copy last written or found there (what tells former
        parties' copies)."""
        self._listed = False
        self._listing = asyncio.Lock()

    async def converge(self, name: str, uid: str, mirrors: list[Manifest]) -> None:
        """Make the contract's copies these `mirrors`; remove those of former parties."""
        await self._list_once()
        before = self._known.get(name, {})
        after: dict[str, Manifest] = {}
        for mirror in mirrors:
            # Read before writing, every time: a copy gone with its namespace (a space made
            # again) or changed by hand is written again, and an unchanged one is not written.
            if await self._ensure(name, mirror):
                after[mirror["metadata"]["namespace"]] = mirror
        wanted = {mirror["metadata"]["namespace"] for mirror in mirrors}
        for namespace in before.keys() - wanted:
            await self._remove(name, uid, namespace)
        self._known[name] = after

    async def _list_once(self) -> None:
        """Every copy the operator made, listed once per process (a failure is retried by the
        reconcile that needed it)."""
        async with self._listing:
            if self._listed:
                return
            selector = f"{MANAGED_BY},{CONTRACT_LABEL}"
            for body in await self.kube.list(API_VERSION, CONTRACT, label_selector=selector):
                metadata = body["metadata"]
                by_namespace = self._known.setdefault(metadata["name"], {})
                by_namespace[metadata["namespace"]] = without_managed_fields(body)
            self._listed = True

    async def _ensure(self, name: str, mirror: Manifest) -> bool:
        namespace = mirror["metadata"]["namespace"]
        try:
            await self.kube.ensure(mirror)
        except KubeError as error:
            logger.warning(
                "DataContract %s: its copy in %s not written: %s %s",
                name, namespace, error.status, error.message,
            )  # fmt: skip
            return False
        return True

    async def _remove(self, name: str, uid: str, namespace: str) -> None:
        """Delete the copy in `namespace` if it is this contract's (not a namesake's)."""
        live = await self.kube.get(API_VERSION, CONTRACT, name, namespace)
        if controlled_by(live, uid):
            await self.kube.delete(API_VERSION, CONTRACT, name, namespace, uid=uid_of(live))

    def forget(self, name: str) -> None:
        """Drop what this process knows of a contract's copies (the cluster's garbage collector
        removes them with the contract)."""
        self._known.pop(name, None)


def uid_of(body: Manifest | None) -> str | None:
    return ((body or {}).get("metadata") or {}).get("uid")
