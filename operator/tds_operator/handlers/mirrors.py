"""Each party's copy of a DataContract (a Contract in its space namespace), written after the
contract's status and only when it changed.

The copies are what the parties list and watch; nobody else reads them. A namespace that cannot
take its copy now (a space still being made, or going) gets it on a later reconcile: the
contract's reconcile never fails for a copy it could not write. A space that stops being a party
(the parties of a contract may change until either consents) loses its copy.
"""

from __future__ import annotations

import logging

from tds_operator import API_VERSION
from tds_operator.api.resources import CONTRACT, Manifest
from tds_operator.desired.labels import controlled_by
from tds_operator.kube import Kube, KubeError

logger = logging.getLogger(__name__)


class ContractMirrors:
    """Writes the copies of contracts, remembering what this process wrote last."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._written: dict[str, dict[str, Manifest]] = {}
        """contract -> namespace -> the copy last written (or found) there."""

    async def converge(self, name: str, uid: str, mirrors: list[Manifest]) -> None:
        """Make the contract's copies these `mirrors`; remove those of former parties."""
        before = self._written.get(name, {})
        after: dict[str, Manifest] = {}
        for mirror in mirrors:
            namespace = mirror["metadata"]["namespace"]
            if before.get(namespace) != mirror and not await self._ensure(name, mirror):
                continue
            after[namespace] = mirror
        for namespace in before.keys() - after.keys():
            if namespace not in {m["metadata"]["namespace"] for m in mirrors}:
                await self._remove(name, uid, namespace)
        self._written[name] = after

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
        live = await self.kube.get(API_VERSION, CONTRACT, name, namespace)
        if controlled_by(live, uid):
            await self.kube.delete(API_VERSION, CONTRACT, name, namespace)

    def forget(self, name: str) -> None:
        """Drop what this process remembers of a contract's copies (the cluster's garbage
        collector removes them with the contract)."""
        self._written.pop(name, None)
