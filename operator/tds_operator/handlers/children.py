"""The children of spaces as the watches last delivered them: what a reconcile compares with.

A reconcile of a converged space reads its children here instead of GETting each one from the
API server. The watches keep the index current (every event of a child the operator owns), a
LIST per resource fills it when this replica starts to reconcile, and every write the operator
makes puts the API server's answer here at once. An object the index does not hold is read from
the API server, so a late event can cost a read, never a wrong decision.

The index also tells an event of the operator's own write (same resourceVersion as the answer
to the write) from a change someone else made: only the latter needs the space reconciled again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tds_operator import FIELD_MANAGER
from tds_operator.api.compare import comparable, is_subset, without_managed_fields
from tds_operator.api.resources import Manifest
from tds_operator.desired.labels import MANAGED_BY, SPACE_LABEL
from tds_operator.kube import Kube

ObjectKey = tuple[str, str, str, str]
"""apiVersion, kind, namespace ("" when cluster-scoped) and name of one object."""


def key_of(body: Manifest) -> ObjectKey:
    """The index key of an object (a live body or a desired manifest)."""
    metadata = body["metadata"]
    return body["apiVersion"], body["kind"], metadata.get("namespace") or "", metadata["name"]


KEPT_VERSIONS = 4
"""How many of its last writes of one object the operator recognises (one reconcile may write
an object more than once, e.g. its finalizer and then its status)."""


BOOKKEEPING = frozenset({"resourceVersion", "managedFields", "generation"})
"""Metadata the API server changes with every write, whoever made it."""


def _set_by_owner(body: Manifest) -> Manifest:
    """What an owner of the object sets: all but its status and the API's bookkeeping."""
    metadata = {k: v for k, v in body["metadata"].items() if k not in BOOKKEEPING}
    return {k: v for k, v in body.items() if k != "status"} | {"metadata": metadata}


def _made_by_operator(body: Manifest) -> bool:
    """Whether every field of the object was written by the operator (its field manager)."""
    managers = {entry.get("manager") for entry in body["metadata"].get("managedFields") or []}
    return managers == {FIELD_MANAGER}


class OwnWrites:
    """The resourceVersions of the operator's last writes of each object, to tell the events of
    those writes (nothing new) from a change someone else made."""

    def __init__(self) -> None:
        self._versions: dict[ObjectKey, tuple[str, ...]] = {}

    def wrote(self, body: Manifest | None) -> None:
        """The API server's answer to one of the operator's writes (None: nothing written)."""
        version = body["metadata"].get("resourceVersion") if body else None
        if body and version:
            key = key_of(body)
            self._versions[key] = (*self._versions.get(key, ())[1 - KEPT_VERSIONS :], version)

    def is_echo(self, body: Manifest) -> bool:
        """Whether a watch event's object is a version the operator wrote itself."""
        version = body["metadata"].get("resourceVersion")
        return version is not None and version in self._versions.get(key_of(body), ())

    def forget(self, key: ObjectKey) -> None:
        """The object is gone."""
        self._versions.pop(key, None)


class ChildIndex:
    """Live children of spaces by key and by space; the resourceVersions the operator wrote."""

    def __init__(self, watched: Iterable[tuple[str, str]]) -> None:
        """`watched`: the apiVersion and kind of each child resource the watches deliver; the
        index holds nothing of other kinds (nothing would tell it of their changes)."""
        self.watched = frozenset(watched)
        self._live: dict[ObjectKey, Manifest] = {}
        self._of_space: dict[str, set[ObjectKey]] = {}
        self._written = OwnWrites()
        self.synced = False
        """Whether a LIST has filled the index: until then every miss is read from the API."""

    def observe(self, body: Manifest, deleted: bool) -> bool:
        """Take a watch event of a child; True unless it only echoes the operator's own write or
        changes nothing the operator sets (e.g. the quota controller writing a quota's usage).

        A child first seen with only the operator's fields is its own creation, whose event may
        come before the answer to the write that made it: the reconcile that made it is not
        done again for it."""
        key = key_of(body)
        previous = self._live.get(key)
        echo = not deleted and (
            self._written.is_echo(body)
            or (previous is None and _made_by_operator(body))
            or (previous is not None and _set_by_owner(previous) == _set_by_owner(body))
        )
        if deleted:
            self._forget(key)
        else:
            self._keep(key, body)
        return not echo

    def wrote(self, body: Manifest) -> None:
        """The API server's answer to one of the operator's writes of a child."""
        key = key_of(body)
        if key[:2] not in self.watched:
            return
        self._written.wrote(body)
        self._keep(key, body)

    def deleted(self, key: ObjectKey) -> None:
        """The operator deleted this child."""
        self._forget(key)

    def fill(self, bodies: Iterable[Manifest]) -> None:
        """Children a LIST returned; what an event already delivered is as new or newer."""
        for body in bodies:
            key = key_of(body)
            if key not in self._live:
                self._keep(key, body)

    def get(self, key: ObjectKey) -> Manifest | None:
        """The child as last seen, or None if the index does not hold it."""
        return self._live.get(key)

    def held(self, api_version: str, kind: str) -> list[Manifest]:
        """Every child of one kind that the index holds."""
        return [body for key, body in self._live.items() if key[:2] == (api_version, kind)]

    def of_space(self, space: str, kind: str) -> list[Manifest]:
        """The children of one kind of a space that the index holds."""
        return [self._live[key] for key in sorted(self._of_space.get(space, ())) if key[1] == kind]

    def _keep(self, key: ObjectKey, body: Manifest) -> None:
        labels = body["metadata"].get("labels") or {}
        self._live[key] = without_managed_fields(body)
        space = labels.get(SPACE_LABEL)
        if space:
            self._of_space.setdefault(space, set()).add(key)

    def _forget(self, key: ObjectKey) -> None:
        body = self._live.pop(key, None)
        self._written.forget(key)
        space = ((body or {}).get("metadata", {}).get("labels") or {}).get(SPACE_LABEL)
        if space and space in self._of_space:
            self._of_space[space].discard(key)
            if not self._of_space[space]:
                del self._of_space[space]


def space_of_child(labels: Mapping[str, str]) -> str | None:
    """The space an object belongs to, if the operator made it for a space."""
    return labels.get(SPACE_LABEL) if labels.get(MANAGED_BY) == FIELD_MANAGER else None


async def ensure_child(kube: Kube, index: ChildIndex, manifest: Manifest) -> bool:
    """Apply `manifest` unless the child as the index (or, on a miss, the API server) holds it
    already has every field; True if it wrote."""
    key = key_of(manifest)
    live = index.get(key)
    if live is None and not (index.synced and key[:2] in index.watched):
        metadata = manifest["metadata"]
        live = await kube.get(
            manifest["apiVersion"], manifest["kind"], metadata["name"], metadata.get("namespace")
        )
    if live is not None and is_subset(comparable(manifest), live):
        return False
    index.wrote(await kube.apply(manifest))
    return True
