"""Where a local run's webhook configuration sends admission requests. Pure.

A local run (TDS_WEBHOOK_MODE=local) serves its webhooks on its own address with a certificate
of its own, and kopf points the webhook configuration at the last replica that started. A replica
that finds it pointing at an address nobody answers on points it at itself (see
process/local_webhooks.py), so that a crashed replica does not leave the API refusing every write.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

WEBHOOK_CONFIGURATION = "tds-operator.tds.io"
"""The name of the webhook configurations a local run manages (kopf's `admission.managed`)."""


def addresses(webhooks: Sequence[Mapping[str, Any]]) -> set[tuple[str, int]]:
    """The host and port each webhook sends its requests to."""
    found: set[tuple[str, int]] = set()
    for webhook in webhooks:
        url = urlsplit(str((webhook.get("clientConfig") or {}).get("url") or ""))
        if url.hostname:
            found.add((url.hostname, url.port or 443))
    return found


def pointed_at(
    webhooks: Sequence[Mapping[str, Any]], base_url: str, ca_pem: bytes
) -> list[dict[str, Any]]:
    """The same webhooks (rules, paths) sending their requests to `base_url`, trusting `ca_pem`."""
    base = urlsplit(base_url)
    bundle = base64.b64encode(ca_pem).decode()
    moved: list[dict[str, Any]] = []
    for webhook in webhooks:
        client = dict(webhook.get("clientConfig") or {})
        url = urlsplit(str(client.get("url") or ""))
        client["url"] = urlunsplit((base.scheme, base.netloc, url.path, url.query, ""))
        client["caBundle"] = bundle
        moved.append({**webhook, "clientConfig": client})
    return moved
