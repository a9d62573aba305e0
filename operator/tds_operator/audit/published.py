"""Where checkpoints and their keys are published.

- ConfigMap `tds-audit-keys` in the operator's namespace: every public key that ever signed a
  checkpoint, by key id (the operator adds its key at each start and never removes one, so a
  checkpoint signed before a rotation still verifies). Every space's owners read it by name.
- ConfigMap `tds-checkpoint-<contract>` in each party's space namespace: the latest signed
  checkpoint of the contract's ledger, `checkpoint.json`, which the parties' owners read.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, Final

from kubectl_tds.pages import CHECKPOINT_FIELD, KEYS_CONFIGMAP, checkpoint_configmap
from tds_operator.api.dataspace import space_namespace
from tds_operator.api.resources import Manifest
from tds_operator.audit.chain import AuditEntry
from tds_operator.audit.checkpoint import encode_public, key_id, private_key, sign_checkpoint
from tds_operator.desired.labels import CONTRACT_LABEL, managed_labels
from tds_operator.kube import Kube, KubeError

logger = logging.getLogger(__name__)

CURRENT_KEY_ANNOTATION: Final = "tds.io/current-key"

# Where the keys and checkpoints are published is the plugin's to know too (kubectl_tds.pages).
__all__ = [
    "CHECKPOINT_FIELD",
    "CURRENT_KEY_ANNOTATION",
    "KEYS_CONFIGMAP",
    "Checkpoints",
    "checkpoint_configmap",
    "checkpoint_manifest",
    "read_checkpoint",
    "read_published_keys",
]


def checkpoint_manifest(contract: str, namespace: str, document: Manifest) -> Manifest:
    """The ConfigMap that publishes a signed checkpoint in one party's namespace."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": checkpoint_configmap(contract),
            "namespace": namespace,
            "labels": managed_labels(**{CONTRACT_LABEL: contract}),
        },
        "data": {CHECKPOINT_FIELD: json.dumps(document, sort_keys=True, indent=2) + "\n"},
    }


async def read_published_keys(kube: Kube, namespace: str) -> dict[str, str]:
    """The published keys' data (key id -> base64 public key); empty if none is published."""
    live = await kube.get("v1", "ConfigMap", KEYS_CONFIGMAP, namespace)
    return dict((live or {}).get("data") or {})


async def read_checkpoint(kube: Kube, contract: str, namespace: str) -> dict[str, Any] | None:
    """The signed checkpoint published in `namespace`, or None if there is none."""
    live = await kube.get("v1", "ConfigMap", checkpoint_configmap(contract), namespace)
    text = ((live or {}).get("data") or {}).get(CHECKPOINT_FIELD)
    if not text:
        return None
    document = json.loads(text)
    return document if isinstance(document, dict) else None


class Checkpoints:
    """Signs the operator's checkpoints and publishes them and its public key."""

    def __init__(self, kube: Kube, namespace: str, seed: bytes) -> None:
        self.kube = kube
        self.namespace = namespace
        self.key = private_key(seed)
        self.key_id = key_id(self.key.public_key())
        self._published: dict[tuple[str, str], str] = {}
        """(namespace, contract) -> the head last published there by this process."""

    async def publish_key(self) -> None:
        """Add this key to the published ones (keeping every older one) and mark it current."""
        public = encode_public(self.key.public_key())
        live = await self.kube.get("v1", "ConfigMap", KEYS_CONFIGMAP, self.namespace)
        metadata = {
            "name": KEYS_CONFIGMAP,
            "namespace": self.namespace,
            "labels": managed_labels(),
            "annotations": {CURRENT_KEY_ANNOTATION: self.key_id},
        }
        if live is None:
            body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}
            try:
                await self.kube.create({**body, "data": {self.key_id: public}})
                return
            except KubeError as error:
                if error.status != 409:
                    raise
            live = await self.kube.get("v1", "ConfigMap", KEYS_CONFIGMAP, self.namespace) or {}
        current = (live.get("metadata", {}).get("annotations") or {}).get(CURRENT_KEY_ANNOTATION)
        if (live.get("data") or {}).get(self.key_id) == public and current == self.key_id:
            return
        await self.kube.merge_patch(
            "v1",
            "ConfigMap",
            KEYS_CONFIGMAP,
            {
                "metadata": {"annotations": metadata["annotations"]},
                "data": {self.key_id: public},
            },
            self.namespace,
        )

    async def publish(
        self, contract: str, uid: str, parties: list[str], chain: list[AuditEntry], at: datetime
    ) -> None:
        """Sign the ledger's head and write it into each party's namespace, unless this process
        wrote that head there already. A party whose namespace cannot take it now (not there
        yet, terminating) gets it at a later reconcile."""
        if not chain:
            return
        head = chain[-1]
        document: Manifest | None = None
        for space in sorted(set(parties)):
            namespace = space_namespace(space)
            if self._published.get((namespace, contract)) == head.hash:
                continue
            document = document or sign_checkpoint(self.key, contract, uid, head, at)
            try:
                await self.kube.apply(checkpoint_manifest(contract, namespace, document))
            except KubeError as error:
                # A namespace not there yet, or going: the next reconcile tries again. The
                # contract's reconcile never fails for a checkpoint it could not hand out.
                logger.warning(
                    "DataContract %s: checkpoint not published in %s: %s %s",
                    contract, namespace, error.status, error.message,
                )  # fmt: skip
                continue
            self._published[(namespace, contract)] = head.hash

    def forget(self, contract: str) -> None:
        """Drop what this process remembers of a contract's published checkpoints."""
        for key in [key for key in self._published if key[1] == contract]:
            del self._published[key]
