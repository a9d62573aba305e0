"""The operator's signing key: what seals consent stamps and audit entries as its own.

A random 256-bit key in the Secret `tds-operator-signing-key` of the operator's namespace, made by
the Helm chart (or, on a local run, by the operator on its first start) and read once at startup.
Whoever cannot read that Secret cannot forge a stamp or an entry. Replacing the key voids every
stamp made with the old one: keep the Secret with the operator's namespace.

The checkpoint key, in the Secret `tds-operator-checkpoint-key`, is made the same way: 32 random
bytes, the seed of the Ed25519 key that signs ledger checkpoints (audit/checkpoint.py). Its public
half is published; replacing it is a rotation, since the old public key stays published.
"""

from __future__ import annotations

import base64
import secrets
from typing import Final

from tds_operator.desired.labels import managed_labels
from tds_operator.kube import Kube, KubeError

SIGNING_KEY_SECRET: Final = "tds-operator-signing-key"
CHECKPOINT_KEY_SECRET: Final = "tds-operator-checkpoint-key"
SIGNING_KEY_FIELD: Final = "key"
KEY_BYTES: Final = 32


class SigningKeyUnusable(Exception):
    """The Secret exists but holds no usable key; the operator cannot vouch for anything."""


def decode_key(secret: dict[str, object], namespace: str, name: str = SIGNING_KEY_SECRET) -> bytes:
    """The key from the Secret's data; SigningKeyUnusable says what is wrong with it."""
    data = secret.get("data") or {}
    raw = data.get(SIGNING_KEY_FIELD) if isinstance(data, dict) else None
    try:
        key = base64.b64decode(str(raw or ""), validate=True)
    except ValueError:
        key = b""
    if len(key) < KEY_BYTES:
        raise SigningKeyUnusable(
            f"Secret {namespace}/{name} must hold at least {KEY_BYTES} random bytes "
            f"under data.{SIGNING_KEY_FIELD}; delete it to let the operator make one ("
            + (
                "this voids every consent stamped so far)"
                if name == SIGNING_KEY_SECRET
                else "checkpoints signed so far still verify with the published old key)"
            )
        )
    return key


async def ensure_signing_key(kube: Kube, namespace: str) -> bytes:
    """The operator's key, made and stored on the first start."""
    return await ensure_key(kube, namespace, SIGNING_KEY_SECRET)


async def ensure_checkpoint_key(kube: Kube, namespace: str) -> bytes:
    """The seed of the key that signs ledger checkpoints, made and stored on the first start
    (exactly 32 bytes: an Ed25519 seed)."""
    return (await ensure_key(kube, namespace, CHECKPOINT_KEY_SECRET))[:KEY_BYTES]


async def ensure_key(kube: Kube, namespace: str, name: str) -> bytes:
    """The key in Secret `name`, made and stored on the first start."""
    live = await kube.get("v1", "Secret", name, namespace)
    if live is None:
        key = secrets.token_bytes(KEY_BYTES)
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": managed_labels(),
            },
            "type": "Opaque",
            "data": {SIGNING_KEY_FIELD: base64.b64encode(key).decode()},
        }
        try:
            await kube.create(secret)
            return key
        except KubeError as error:
            if error.status == 403:
                raise SigningKeyUnusable(
                    f"Secret {namespace}/{name} is missing and the operator may "
                    "not create it: install or upgrade the tds-operator chart, which makes it"
                ) from None
            if error.status != 409:
                raise
        # Another replica made it first: use theirs.
        live = await kube.get("v1", "Secret", name, namespace)
    return decode_key(live or {}, namespace, name)
