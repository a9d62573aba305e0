"""Where a contract's ledger lives: ConfigMaps `tds-audit-<contract>-<uid>-<page>` in the
operator's namespace, each holding one page of entries keyed by sequence number.

A ledger belongs to one contract object (its uid): a new contract that reuses the name of a
deleted one starts a ledger of its own, while the old one is kept.

Appends are serialised per contract in this process and guarded by the page's resourceVersion in
the API server, so two writers can never both add entry N. Entry ids make a re-append after a
restart a no-op: no gap, no duplicate. Nothing is appended to a ledger that fails verification
against the contract's status.audit, or that holds entries beyond it without the operator's seal:
the evidence of tampering stays as it was found.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from kubectl_tds.pages import (
    CONTRACT_LABEL,
    CONTRACT_UID_LABEL,
    LEDGER_LABEL,
    ledgers_by_uid,
    merged,
    page_name,
    page_selector,
    readable_page_names,
)
from tds_operator import API_VERSION
from tds_operator.api.resources import Manifest
from tds_operator.audit.chain import (
    AuditEntry,
    AuditEvent,
    DecodedEntries,
    VerifyResult,
    decode_entries,
    encode_pages,
    extend,
    trusted_entries,
    verify_before_append,
)
from tds_operator.desired.labels import managed_labels
from tds_operator.kube import Kube, KubeError
from tds_operator.metrics import LEDGER_APPENDS, count_ledger_failure
from tds_operator.turns import Turns

CONFLICT_RETRIES = 5

# The pages' names and labels are the plugin's (kubectl_tds.pages), which finds them by the same
# rules; the handlers grant and watch them by these names.
__all__ = [
    "CONFLICT_RETRIES",
    "LEDGER_LABEL",
    "AuditLedger",
    "LedgerBroken",
    "ledgers_by_uid",
    "page_name",
    "readable_page_names",
]


class LedgerBroken(Exception):
    """A contract's stored ledger fails verification, so nothing may be appended to it."""

    def __init__(self, contract: str, result: VerifyResult) -> None:
        super().__init__(
            f"audit ledger of DataContract {contract} is broken at entry "
            f"{result.first_bad_sequence}: {result.reason}: {result.message}"
        )
        self.contract = contract
        self.result = result


class AuditLedger:
    """Reads and appends the ledgers of all contracts."""

    def __init__(self, kube: Kube, namespace: str, signing_key: bytes | None = None) -> None:
        """`signing_key` seals what is appended; without it the ledger can only be read."""
        self.kube = kube
        self.namespace = namespace
        self.signing_key = signing_key
        self._turns: dict[str, Turns] = {}

    async def _pages(self, contract: str, uid: str | None = None) -> list[Manifest]:
        return await self.kube.list("v1", "ConfigMap", self.namespace, page_selector(contract, uid))

    async def _pages_by_name(self, body: Manifest) -> list[Manifest]:
        """The pages a party's owners are granted by name (they may not list ConfigMaps)."""
        pages = []
        for name in readable_page_names(body):
            page = await self.kube.get("v1", "ConfigMap", name, self.namespace)
            if page is not None:
                pages.append(page)
        return pages

    async def all_ledgers(self, contract: str) -> dict[str, dict[str, str]]:
        """Every ledger kept under a contract name (of live and deleted objects), by uid."""
        return ledgers_by_uid(await self._pages(contract))

    async def stored_data(self, contract: str) -> dict[str, str]:
        """The raw stored entries of the live contract's ledger, all pages merged."""
        return (await self._stored(contract))[0]

    async def _stored(
        self, contract: str, body: Manifest | None = None
    ) -> tuple[dict[str, str], int]:
        """The raw stored entries and how many of them status.audit records (of the contract
        as `body` shows it, or as read now)."""
        if body is None:
            body = await self.kube.get(API_VERSION, "DataContract", contract)
        if body is None:
            return {}, 0
        try:
            pages = await self._pages(contract, body["metadata"]["uid"])
        except KubeError as error:
            if error.status != 403:
                raise
            pages = await self._pages_by_name(body)
        data = merged(pages)
        audit = (body.get("status") or {}).get("audit")
        recorded = audit.get("entries") if isinstance(audit, dict) else None
        return data, recorded if isinstance(recorded, int) else 0

    async def load(self, contract: str, body: Manifest | None = None) -> DecodedEntries:
        """The entries of a contract's ledger that decisions may rest on, in sequence order:
        those status.audit records, then those the operator sealed (with its key; all of them
        for a reader without it). An entry someone else slipped in never counts as usage.
        `body`: the contract as just read, if the caller has it (one request fewer); entries
        appended since then count as well, being sealed."""
        data, recorded = await self._stored(contract, body)
        decoded = decode_entries(data)
        if self.signing_key is None:
            return decoded
        trusted = trusted_entries(decoded.entries, recorded, self.signing_key)
        return DecodedEntries(trusted, decoded.malformed)

    async def record(self, contract: str, events: Sequence[AuditEvent]) -> list[AuditEntry]:
        """Append the events not yet recorded; returns the whole chain afterwards.

        Raises LedgerBroken, and writes nothing, if the stored ledger does not verify against
        the contract's status.audit.
        """
        return await self.record_from(contract, lambda _chain: events)

    async def record_from(
        self,
        contract: str,
        events_of: Callable[[list[AuditEntry]], Sequence[AuditEvent]],
        *,
        urgent: bool = False,
    ) -> list[AuditEntry]:
        """As `record`, the events made from the verified chain as it stands (one read of the
        ledger for what to append and the append itself, e.g. usage not yet recorded).
        `urgent`: before every other append to the contract's ledger still waiting its turn
        (the end of a job, which its status reports only once recorded)."""
        if self.signing_key is None:
            raise RuntimeError("a ledger without the signing key cannot be appended to")
        key = self.signing_key
        async with self._turns.setdefault(contract, Turns()).turn(urgent=urgent):
            for attempt in range(CONFLICT_RETRIES):
                live = await self._live_ledger(contract)
                if live is None:
                    # The contract is gone: there is no ledger of a live contract to extend.
                    return []
                uid, recorded, data, versions = live
                intact = verify_before_append(
                    data, recorded.get("head"), recorded.get("entries"), key
                )
                if not intact.ok:
                    count_ledger_failure(contract)
                    raise LedgerBroken(contract, intact)
                chain = decode_entries(data).entries
                added = extend(chain, events_of(chain), key)
                if not added:
                    return chain
                try:
                    await self._write(contract, uid, added, versions)
                except KubeError as error:
                    if error.status == 409 and attempt + 1 < CONFLICT_RETRIES:
                        continue
                    raise
                for entry in added:
                    LEDGER_APPENDS.labels(event=entry.kind).inc()
                return [*chain, *added]
        raise AssertionError("unreachable")  # pragma: no cover

    async def _live_ledger(
        self, contract: str
    ) -> tuple[str, dict[str, Any], dict[str, str], dict[int, str]] | None:
        """The live contract's uid, its recorded audit status, its ledger's data and each page's
        resourceVersion by number; None when the contract is gone."""
        # The contract and the pages of every ledger kept under its name, read at once
        # (only this lock's holder writes pages), then narrowed to the live one's.
        body, every_page = await asyncio.gather(
            self.kube.get(API_VERSION, "DataContract", contract), self._pages(contract)
        )
        if body is None:
            return None
        uid = body["metadata"]["uid"]
        audit = (body.get("status") or {}).get("audit")
        recorded: dict[str, Any] = dict(audit) if isinstance(audit, dict) else {}
        data: dict[str, str] = {}
        versions: dict[int, str] = {}
        for page in every_page:
            if (page["metadata"].get("labels") or {}).get(CONTRACT_UID_LABEL) != uid:
                continue
            data.update(page.get("data") or {})
            number = int(page["metadata"]["name"].rsplit("-", 1)[1])
            versions[number] = page["metadata"]["resourceVersion"]
        return uid, recorded, data, versions

    async def _write(
        self, contract: str, uid: str, added: list[AuditEntry], versions: dict[int, str]
    ) -> None:
        for page, data in sorted(encode_pages(added).items()):
            name = page_name(contract, uid, page)
            if page in versions:
                await self.kube.merge_patch(
                    "v1",
                    "ConfigMap",
                    name,
                    {"metadata": {"resourceVersion": versions[page]}, "data": data},
                    self.namespace,
                )
            else:
                await self.kube.create(
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {
                            "name": name,
                            "namespace": self.namespace,
                            "labels": managed_labels(
                                **{
                                    LEDGER_LABEL: "true",
                                    CONTRACT_LABEL: contract,
                                    CONTRACT_UID_LABEL: uid,
                                }
                            ),
                        },
                        "data": data,
                    }
                )
