"""The children of spaces, watched without kopf: a LIST, then a WATCH, per kind.

Every event of a child only goes into the index (handlers/children.py) and, unless it echoes
the operator's own write, wakes the child's space. kopf put each of those events (about 16 per
space, more when quotas are used) through its whole machinery of causes, progress storage and
loggers: a sixth of the operator's CPU while provisioning, and most of a restart. The LIST that
starts each watch fills the index, which is then `synced` once every kind has been listed.
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from tds_operator import FIELD_MANAGER
from tds_operator.api.resources import DATA_SPACE, Manifest
from tds_operator.desired.labels import MANAGED_BY, SPACE_LABEL
from tds_operator.handlers.children import key_of, space_of_child
from tds_operator.handlers.context import SPACE_CHILD_KINDS, Operator
from tds_operator.kube import Kube, KubeError

logger = logging.getLogger(__name__)

SELECTOR = f"{MANAGED_BY}={FIELD_MANAGER},{SPACE_LABEL}"
"""The children of spaces: the operator's objects that name their space."""
WATCH_TIMEOUT_SECONDS = 300
"""How long one WATCH request lasts before the API server ends it (and the next one starts)."""
RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0)
"""How long to wait before listing again after successive failures (the last one repeats)."""
GONE = 410
"""The API server no longer holds the changes after the version a watch asked for: list again."""


class ChildWatches:
    """One LIST-then-WATCH loop per kind of child, feeding the operator's child index."""

    def __init__(self, memo: Operator, kube: Kube) -> None:
        """`kube`: a connection of the watches' own (Kube.connect_apart)."""
        self.memo, self.kube = memo, kube
        self._listed: set[tuple[str, str]] = set()
        self._tried: set[tuple[str, str]] = set()

    async def run(self) -> None:
        """Watch every kind until cancelled."""
        await asyncio.gather(*(self._watch(*kind) for kind in SPACE_CHILD_KINDS))

    async def _watch(self, api_version: str, kind: str) -> None:
        version, failures = "", 0
        while True:
            try:
                if not version:
                    version = await self._list(api_version, kind)
                version = await self._follow(api_version, kind, version)
                failures = 0
            except KubeError as error:
                if error.status == GONE:
                    version = ""
                    continue
                failures = await self._wait_after((api_version, kind), error, failures)
            except httpx.HTTPError as error:
                failures = await self._wait_after((api_version, kind), error, failures)

    async def _wait_after(self, watched: tuple[str, str], error: Exception, failures: int) -> int:
        self._tried_to_list(watched)
        kind = watched[1]
        delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
        logger.warning("watching %ss failed, trying again in %ss: %s", kind, delay, error)
        await asyncio.sleep(delay)
        return failures + 1

    async def _list(self, api_version: str, kind: str) -> str:
        """List the kind into the index; what the index held but the list lacks was deleted
        meanwhile. The version to watch from."""
        items, version = await self.kube.list_with_version(api_version, kind, None, SELECTOR)
        # A list's items do not repeat their apiVersion and kind.
        bodies = [{"apiVersion": api_version, "kind": kind, **item} for item in items]
        listed = {key_of(body) for body in bodies}
        for held in self.memo.children.held(api_version, kind):
            if key_of(held) not in listed:
                self._changed(held, deleted=True)
        for body in bodies:
            self._changed(body, deleted=False)
        self._listed.add((api_version, kind))
        if len(self._listed) == len(SPACE_CHILD_KINDS):
            self.memo.children.synced = True
        self._tried_to_list((api_version, kind))
        return version

    def _tried_to_list(self, watched: tuple[str, str]) -> None:
        """Once every kind has been listed or refused, a new leader need wait no longer (a
        refused kind, e.g. for want of RBAC, leaves the index unsynced: reconciles read)."""
        self._tried.add(watched)
        if len(self._tried) == len(SPACE_CHILD_KINDS):
            self.memo.children_listed.set()

    async def _follow(self, api_version: str, kind: str, version: str) -> str:
        """Take the changes after `version` until the API server ends the watch; the version
        to go on from ("" when it must list again)."""
        params = {
            "labelSelector": SELECTOR,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(WATCH_TIMEOUT_SECONDS),
        }
        changes = self.kube.watch_changes(api_version, kind, None, params, version)
        async for change, body in changes:
            if change == "ERROR":
                # 410 Gone above all: the changes since `version` are no longer kept.
                logger.info("watching %ss: %s; listing again", kind, body.get("message"))
                return ""
            version = str(body.get("metadata", {}).get("resourceVersion") or version)
            if change in ("ADDED", "MODIFIED", "DELETED"):
                full = {"apiVersion": api_version, "kind": kind, **body}
                self._changed(full, deleted=change == "DELETED")
        return version

    def _changed(self, body: Manifest, *, deleted: bool) -> None:
        """Keep the child in the index; reconcile its space unless the change is no news."""
        space = space_of_child(body["metadata"].get("labels") or {})
        if space and self.memo.children.observe(body, deleted):
            self.memo.enqueue(DATA_SPACE, space)
