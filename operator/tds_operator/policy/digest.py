"""Canonical JSON and sha256 digests, as the operator records them.

They are the kubectl plugin's (kubectl_tds.digest): whoever verifies a ledger or a signed consent
computes the very same bytes, from the one copy of the code both share.
"""

from __future__ import annotations

from kubectl_tds.digest import (
    DIGEST_PREFIX,
    MAC_PREFIX,
    canonical_json,
    keyed_digest,
    keyed_digest_matches,
    sha256_digest,
)

__all__ = [
    "DIGEST_PREFIX",
    "MAC_PREFIX",
    "canonical_json",
    "keyed_digest",
    "keyed_digest_matches",
    "sha256_digest",
]
