"""What the tests of the parties' evidence share: the checkpoints the operator publishes, and a
checkpoint saved as a party does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kubernetes import client

from bench.hubkit.hub import Contracts, owner_of, space_namespace, tds
from bench.hubkit.waiting import wait_until
from tds_operator.audit.published import CHECKPOINT_FIELD, checkpoint_configmap
from tds_operator.connection import EXIT_OK


def published(core: client.CoreV1Api, contract: str, space: str) -> dict[str, Any] | None:
    """The checkpoint the operator published in a party's namespace, or None."""
    try:
        page = core.read_namespaced_config_map(
            checkpoint_configmap(contract), space_namespace(space)
        )
    except client.ApiException as error:
        if error.status == 404:
            return None
        raise
    document: dict[str, Any] = json.loads((page.data or {})[CHECKPOINT_FIELD])
    return document


def settled(contracts: Contracts, core: client.CoreV1Api, name: str) -> dict[str, Any]:
    """The checkpoint both parties hold once it is of the head status.audit records."""
    body = contracts.get(name) or {}
    parties = [body["spec"]["provider"]["space"], body["spec"]["consumer"]["space"]]

    def both() -> dict[str, Any] | None:
        head = (contracts.status(name).get("audit") or {}).get("head")
        documents = [published(core, name, space) for space in parties]
        heads = {(d or {}).get("checkpoint", {}).get("head") for d in documents}
        return documents[0] if heads == {head} and head else None

    return wait_until(both, timeout=30, what=f"the checkpoint of {name}'s head in both parties")


def save(tmp_path: Path, space: str, name: str, *extra: str) -> Path:
    """`kubectl tds audit checkpoint NAME > file` as an owner of `space`."""
    saved = tds(owner_of(space), "audit", "checkpoint", name, *extra)
    assert saved.returncode == EXIT_OK, saved.stderr
    path = tmp_path / f"{name}-{len(list(tmp_path.iterdir()))}.json"
    path.write_text(saved.stdout)
    return path
