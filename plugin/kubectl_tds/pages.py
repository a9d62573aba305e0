"""Where a contract's ledger is stored: ConfigMaps `tds-audit-<contract>-<uid>-<page>` in the
operator's namespace, labelled with the contract's name and uid, one page of entries each; and
where its signed checkpoints are published: `tds-checkpoint-<contract>` in each party's namespace,
with the operator's public keys in `tds-audit-keys` beside the ledgers.

Pure: names and labels. The operator writes the pages under these names and the plugin finds
them by the same rules: by label, for whoever may list the ConfigMaps (the hub's staff), else by
name, which is how each party's owners are granted their contracts' pages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Final

from kubectl_tds.ledger import page_of

LEDGER_LABEL: Final = "tds.io/audit-ledger"
CONTRACT_LABEL: Final = "tds.io/contract"
CONTRACT_UID_LABEL: Final = "tds.io/contract-uid"
KEYS_CONFIGMAP: Final = "tds-audit-keys"
"""In the operator's namespace: every public key that ever signed a checkpoint, by key id."""
CHECKPOINT_FIELD: Final = "checkpoint.json"


def space_namespace(space: str) -> str:
    """The namespace of the DataSpace named `space`."""
    return f"tds-{space}"


def checkpoint_configmap(contract: str) -> str:
    """The ConfigMap, in each party's namespace, holding the contract's latest checkpoint."""
    name = f"tds-checkpoint-{contract}"
    if len(name) > 253:
        name = f"{name[:200]}-{hashlib.sha256(contract.encode()).hexdigest()[:12]}"
    return name


def page_name(contract: str, uid: str, page: int) -> str:
    """The ConfigMap holding one page of one contract object's ledger."""
    base = f"tds-audit-{contract}-{uid[:8]}"
    if len(base) > 240:
        digest = hashlib.sha256(contract.encode()).hexdigest()[:12]
        base = f"tds-audit-{contract[:200]}-{digest}-{uid[:8]}"
    return f"{base}-{page}"


def page_selector(contract: str, uid: str | None = None) -> str:
    """The label selector of a contract's ledger pages (of one contract object, given its uid)."""
    selector = f"{LEDGER_LABEL}=true,{CONTRACT_LABEL}={contract}"
    return selector + (f",{CONTRACT_UID_LABEL}={uid}" if uid is not None else "")


def readable_page_names(contract: Mapping[str, Any]) -> list[str]:
    """The pages a party may read of a live contract's ledger, by name: every page its recorded
    entries fill, and the next one (where entries beyond the recorded head would be)."""
    uid = contract["metadata"].get("uid") or ""
    audit = (contract.get("status") or {}).get("audit")
    entries = audit.get("entries") if isinstance(audit, dict) else None
    last = page_of(entries) if isinstance(entries, int) and entries > 0 else 0
    return [page_name(contract["metadata"]["name"], uid, page) for page in range(last + 2)]


def ledgers_by_uid(pages: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """Stored entries of every contract object that had a ledger under one name, by uid."""
    ledgers: dict[str, dict[str, str]] = {}
    for page in pages:
        uid = (page["metadata"].get("labels") or {}).get(CONTRACT_UID_LABEL, "")
        ledgers.setdefault(uid, {}).update(page.get("data") or {})
    return ledgers


def merged(pages: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The stored entries of a ledger's pages, all merged (keys are sequence numbers)."""
    data: dict[str, str] = {}
    for page in pages:
        data.update(page.get("data") or {})
    return data
