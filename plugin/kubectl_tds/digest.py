"""Canonical JSON and sha256 digests: one byte form per value, so digests are reproducible.

The operator records with these and whoever verifies recomputes with them: pure, stdlib only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

DIGEST_PREFIX = "sha256:"


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no whitespace and UTF-8 text; NaN and infinities are refused."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def sha256_digest(value: Any) -> str:
    """`sha256:<64 hex>` of the canonical JSON of a value."""
    return DIGEST_PREFIX + hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


MAC_PREFIX = "hmac-sha256:"


def keyed_digest(key: bytes, value: Any) -> str:
    """`hmac-sha256:<64 hex>` of the canonical JSON of a value: only a holder of `key` can make
    it, so it proves the operator wrote the value."""
    data = canonical_json(value).encode("utf-8")
    return MAC_PREFIX + hmac.new(key, data, hashlib.sha256).hexdigest()


def keyed_digest_matches(key: bytes, value: Any, mac: object) -> bool:
    """Whether `mac` is the keyed digest of the value (compared in constant time)."""
    return isinstance(mac, str) and hmac.compare_digest(keyed_digest(key, value), mac)
