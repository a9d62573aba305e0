"""Where a contract's ledger lives: ConfigMaps `tds-audit-<contract>-<page>` in the operator's
namespace, each holding one page of entries keyed by sequence number.

Appends are serialised per contract in this process and guarded by the page's resourceVersion in
the API server, so two writers can never both add entry N. Entry ids make a re-append after a
restart a no-op: no gap, no duplicate. Nothing is appended to a ledger that fails verification
against the contract's status.audit: the evidence of tampering stays as it was found.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

from tds_operator import API_VERSION
from tds_operator.audit.chain import (
    AuditEntry,
    AuditEvent,
    DecodedEntries,
    VerifyResult,
    decode_entries,
    encode_pages,
    extend,
    verify_before_append,
)
from tds_operator.desired.labels import CONTRACT_LABEL, managed_labels
from tds_operator.kube import Kube, KubeError, Manifest

LEDGER_LABEL = "tds.io/audit-ledger"
CONFLICT_RETRIES = 5


def page_name(contract: str, page: int) -> str:
    """The ConfigMap holding one page; long contract names are shortened with a digest."""
    base = f"tds-audit-{contract}"
    if len(base) > 240:
        base = f"tds-audit-{contract[:200]}-{hashlib.sha256(contract.encode()).hexdigest()[:12]}"
    return f"{base}-{page}"


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

    def __init__(self, kube: Kube, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self._locks: dict[str, asyncio.Lock] = {}

    async def _pages(self, contract: str) -> list[Manifest]:
        return await self.kube.list(
            "v1", "ConfigMap", self.namespace, f"{LEDGER_LABEL}=true,{CONTRACT_LABEL}={contract}"
        )

    async def stored_data(self, contract: str) -> dict[str, str]:
        """The raw stored entries of a contract's ledger, all pages merged."""
        data: dict[str, str] = {}
        for page in await self._pages(contract):
            data.update(page.get("data") or {})
        return data

    async def load(self, contract: str) -> DecodedEntries:
        """Every stored entry of a contract's ledger, in sequence order."""
        return decode_entries(await self.stored_data(contract))

    async def record(self, contract: str, events: Sequence[AuditEvent]) -> list[AuditEntry]:
        """Append the events not yet recorded; returns the whole chain afterwards.

        Raises LedgerBroken, and writes nothing, if the stored ledger does not verify against
        the contract's status.audit.
        """
        lock = self._locks.setdefault(contract, asyncio.Lock())
        async with lock:
            for attempt in range(CONFLICT_RETRIES):
                recorded = await self._recorded_head(contract)
                pages = await self._pages(contract)
                data: dict[str, str] = {}
                versions: dict[int, str] = {}
                for page in pages:
                    data.update(page.get("data") or {})
                    number = int(page["metadata"]["name"].rsplit("-", 1)[1])
                    versions[number] = page["metadata"]["resourceVersion"]
                intact = verify_before_append(data, recorded.get("head"), recorded.get("entries"))
                if not intact.ok:
                    raise LedgerBroken(contract, intact)
                chain = decode_entries(data).entries
                added = extend(chain, events)
                if not added:
                    return chain
                try:
                    await self._write(contract, added, versions)
                except KubeError as error:
                    if error.status == 409 and attempt + 1 < CONFLICT_RETRIES:
                        continue
                    raise
                return [*chain, *added]
        raise AssertionError("unreachable")  # pragma: no cover

    async def _recorded_head(self, contract: str) -> dict[str, Any]:
        """status.audit of the contract: the head and count its ledger had when last recorded."""
        body = await self.kube.get(API_VERSION, "DataContract", contract)
        audit = ((body or {}).get("status") or {}).get("audit")
        return dict(audit) if isinstance(audit, dict) else {}

    async def _write(
        self, contract: str, added: list[AuditEntry], versions: dict[int, str]
    ) -> None:
        for page, data in sorted(encode_pages(added).items()):
            name = page_name(contract, page)
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
                                **{LEDGER_LABEL: "true", CONTRACT_LABEL: contract}
                            ),
                        },
                        "data": data,
                    }
                )
