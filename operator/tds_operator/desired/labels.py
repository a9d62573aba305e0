"""Labels and names the operator puts on what it owns."""

from __future__ import annotations

from typing import Any

from kubectl_tds.pages import CONTRACT_LABEL, CONTRACT_UID_LABEL
from tds_operator import API_VERSION, FIELD_MANAGER

MANAGED_BY = "app.kubernetes.io/managed-by"
SPACE_LABEL = "tds.io/space"
# The contract labels are the ledger pages' too, which the plugin finds by them.
__all__ = ["CONTRACT_LABEL", "CONTRACT_UID_LABEL"]

# Pod Security `restricted`, enforced and also warned about and audited, at the newest version.
RESTRICTED_POD_SECURITY = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
}


def managed_labels(**extra: str) -> dict[str, str]:
    """Labels marking an object as owned by the operator, plus the domain labels given."""
    return {MANAGED_BY: FIELD_MANAGER, **extra}


def owner_reference(kind: str, name: str, uid: str) -> dict[str, Any]:
    """A controller owner reference to one of the operator's custom resources."""
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controlled_by(live: dict[str, Any] | None, uid: str) -> bool:
    """Whether a live object's controller is the custom resource with this uid.

    Only the operator (and cluster admins) set owner references on what it makes, so this is how
    it knows an object is the one it made for that very resource, not one that shares the name.
    """
    if live is None or not uid:
        return False
    references = (live.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid and ref.get("controller") for ref in references)
