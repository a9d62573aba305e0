"""The DataSpaces as the watch last delivered them, or as the operator last wrote them.

A space's reconcile reads the space here instead of GETting it: the watch delivers every change
(kopf lists every space when it starts watching), and each of the operator's writes of a space
(finalizer, status) puts the API server's answer here at once. The index also tells the event of
the operator's own write from a change someone else made: only the latter needs a reconcile.

A late event can only make a reconcile start from an older version: the finalizer's patch then
fails its resourceVersion precondition, and a status patch built from it is corrected by the
reconcile the newer event brings. A write refused with 404 or 409 drops the space from the index
(`forget`), so the retry reads it from the API server.
"""

from __future__ import annotations

from collections.abc import Iterable

from tds_operator.api.compare import without_managed_fields
from tds_operator.api.resources import Manifest
from tds_operator.handlers.children import OwnWrites, key_of


def _version(body: Manifest) -> int | None:
    """The resourceVersion as a number, when the API server's is one (etcd's revision)."""
    version = str(body["metadata"].get("resourceVersion") or "")
    return int(version) if version.isdigit() else None


def _newer_or_same(body: Manifest, held: Manifest | None) -> bool:
    """Whether `body` is the same object as `held`, as new or newer (or a different object)."""
    if held is None or body["metadata"].get("uid") != held["metadata"].get("uid"):
        return True
    new, old = _version(body), _version(held)
    return new is None or old is None or new >= old


class SpaceIndex:
    """Live DataSpaces by name; the resourceVersions of the operator's own writes of each."""

    def __init__(self) -> None:
        self._live: dict[str, Manifest] = {}
        self._gone: set[str] = set()
        self._written = OwnWrites()

    def observe(self, body: Manifest, deleted: bool) -> bool:
        """Take a watch event of a space; True unless it only echoes the operator's own write."""
        name = body["metadata"]["name"]
        if deleted:
            self._live.pop(name, None)
            self._written.forget(key_of(body))
            self._gone.add(str(body["metadata"].get("uid")))
            return True
        echo = self._written.is_echo(body)
        self._keep(body)
        return not echo

    def wrote(self, body: Manifest | None) -> None:
        """The API server's answer to one of the operator's writes of a space (None: nothing)."""
        if body is None or str(body["metadata"].get("uid")) in self._gone:
            return
        self._written.wrote(body)
        self._keep(body)

    def fill(self, bodies: Iterable[Manifest]) -> None:
        """Spaces a LIST returned; what an event already delivered is as new or newer."""
        for body in bodies:
            if str(body["metadata"].get("uid")) not in self._gone:
                self._keep(body)

    def get(self, name: str) -> Manifest | None:
        """The space as last seen, or None if the index does not hold it."""
        return self._live.get(name)

    def forget(self, name: str) -> None:
        """The held version was refused as stale: the next reconcile reads the space afresh."""
        self._live.pop(name, None)

    def _keep(self, body: Manifest) -> None:
        name = body["metadata"]["name"]
        if _newer_or_same(body, self._live.get(name)):
            self._live[name] = without_managed_fields(body)
