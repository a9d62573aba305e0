"""Canonical JSON and sha256 digests: one byte form per value, so digests are reproducible."""

from __future__ import annotations

import hashlib
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
