"""A contract and its ledger's stored pages, read through kubectl as the caller.

The hub's staff list a ledger's pages by label; each party's owners are granted their contracts'
pages by name only (they may not list ConfigMaps), so a refusal to list falls back to reading the
pages by name, as the operator's own reader does (kubectl_tds.pages holds the rules).
"""

from __future__ import annotations

import os
from typing import Any

from kubectl_tds.failures import Failure
from kubectl_tds.kubectl import Connection, forbidden, get_json
from kubectl_tds.ledger import VerifyResult, verify_encoded
from kubectl_tds.pages import ledgers_by_uid, merged, page_selector, readable_page_names

CONTRACTS = "datacontracts.tds.io"
Manifest = dict[str, Any]


def ledger_namespace(given: str | None) -> str:
    """Where the operator keeps the ledgers: --ledger-namespace, else $TDS_NAMESPACE or
    tds-system."""
    return given or os.environ.get("TDS_NAMESPACE") or "tds-system"


def contract(connection: Connection, name: str) -> Manifest | None:
    """The DataContract, or None if there is none by that name."""
    body = get_json(connection, [CONTRACTS, name, "--ignore-not-found"], f"DataContract {name}")
    return body or None


def _pages(connection: Connection, ledgers: str, name: str, uid: str | None) -> list[Manifest]:
    """A ledger's pages by label (every contract object's under the name, unless `uid`)."""
    listed = get_json(
        connection,
        ["configmaps", "-n", ledgers, "-l", page_selector(name, uid)],
        f"the ledger of DataContract {name} (namespace {ledgers})",
    )
    return list(listed.get("items") or [])


def stored_data(connection: Connection, ledgers: str, body: Manifest) -> dict[str, str]:
    """The raw stored entries of a live contract's ledger, all pages merged."""
    name, uid = body["metadata"]["name"], body["metadata"].get("uid") or ""
    try:
        return merged(_pages(connection, ledgers, name, uid))
    except Failure as failure:
        if not forbidden(failure):
            raise
    pages = []
    for page in readable_page_names(body):
        what = f"ConfigMap {ledgers}/{page} (a page of the ledger of DataContract {name})"
        found = get_json(connection, ["configmap", page, "-n", ledgers, "--ignore-not-found"], what)
        if found:
            pages.append(found)
    return merged(pages)


def checked_data(
    connection: Connection, ledgers: str, body: Manifest
) -> tuple[dict[str, str], VerifyResult]:
    """The contract's stored ledger, and its verification against the head and the number of
    entries its status reports."""
    audit = (body.get("status") or {}).get("audit") or {}
    data = stored_data(connection, ledgers, body)
    return data, verify_encoded(data, audit.get("head"), audit.get("entries"))


def all_ledgers(connection: Connection, ledgers: str, name: str) -> dict[str, dict[str, str]]:
    """Every ledger kept under a contract name (of live and deleted objects), by uid."""
    return ledgers_by_uid(_pages(connection, ledgers, name, None))
