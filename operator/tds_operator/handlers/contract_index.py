"""The DataContracts as the watch last delivered them, by the spaces they name.

A space's reconcile derives some children from its contracts (their roles, the ledger pages its
owners read), and every event of a space wakes the contracts that name it: both look here
instead of listing every contract of the hub. A change of a contract reaches this index before
the watch wakes its spaces, so they are reconciled with it. Deciding whether a space may be
deleted still asks the API server: that decision must not rest on a late event.
"""

from __future__ import annotations

from collections.abc import Iterable

from tds_operator.api.compare import without_managed_fields
from tds_operator.api.resources import Manifest
from tds_operator.audit.store import readable_page_names


def parties(body: Manifest) -> set[str]:
    """The spaces a contract names (provider, consumer)."""
    spec = body.get("spec") or {}
    return {
        space
        for party in ("provider", "consumer")
        if (space := (spec.get(party) or {}).get("space"))
    }


def _as_spaces_see_it(body: Manifest) -> tuple[object, ...]:
    """What of a contract its spaces' reconciles act on: its parties, its phase (a party to an
    Active contract may not go), the ledger pages its parties may read, its being deleted."""
    metadata = body["metadata"]
    phase = (body.get("status") or {}).get("phase")
    deleting = metadata.get("deletionTimestamp")
    return sorted(parties(body)), metadata.get("uid"), phase, deleting, readable_page_names(body)


def change_reaches_spaces(previous: Manifest | None, current: Manifest) -> bool:
    """Whether a contract's change from `previous` (None: not seen before) to `current` may
    change what the spaces it names do: its reconcile reporting its usage does not."""
    return previous is None or _as_spaces_see_it(previous) != _as_spaces_see_it(current)


class ContractIndex:
    """Live contracts by name, and the names of each space's contracts."""

    def __init__(self) -> None:
        self._contracts: dict[str, Manifest] = {}
        self._of_space: dict[str, set[str]] = {}
        self.synced = False
        """Whether a LIST has filled the index: until then, callers list the contracts."""

    def observe(self, body: Manifest, deleted: bool) -> None:
        """Take a watch event of a contract."""
        name = body["metadata"]["name"]
        self._forget(name)
        if not deleted:
            self._keep(name, body)

    def fill(self, bodies: Iterable[Manifest]) -> None:
        """Contracts a LIST returned; what an event already delivered is as new or newer."""
        for body in bodies:
            if body["metadata"]["name"] not in self._contracts:
                self._keep(body["metadata"]["name"], body)

    def get(self, name: str) -> Manifest | None:
        """The contract as the watch last delivered it (None if unknown)."""
        return self._contracts.get(name)

    def of_space(self, space: str) -> list[Manifest]:
        """The contracts in which the space is provider or consumer, by name."""
        return [self._contracts[name] for name in sorted(self._of_space.get(space, ()))]

    def _keep(self, name: str, body: Manifest) -> None:
        self._contracts[name] = without_managed_fields(body)
        for space in parties(body):
            self._of_space.setdefault(space, set()).add(name)

    def _forget(self, name: str) -> None:
        body = self._contracts.pop(name, None)
        for space in parties(body or {}):
            names = self._of_space.get(space, set())
            names.discard(name)
            if not names:
                self._of_space.pop(space, None)
