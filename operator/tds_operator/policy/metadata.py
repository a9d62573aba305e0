"""Who may change a DataContract's metadata: labels, annotations, finalizers, owner references.

The spec has its own rules (policy/consent.py); these guard what the spec rules never see. A
finalizer can block a contract's deletion forever, a dangling ownerReference makes the garbage
collector delete it, and `tds.io/` keys are the operator's record (e.g. the consent signatures).
So:

- the operator (its own authenticated user name) may change anything;
- the Kubernetes garbage collector may only take away what it manages on a deletion: the
  `orphan` and `foregroundDeletion` finalizers and owner references;
- an owner of a party's space may change labels and annotations outside `tds.io/`;
- nobody else changes any of it, hub staff included: they intervene through the operator's
  spec rules or by removing its webhook configuration, which the audit trail then shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from tds_operator.api.subject import Subject
from tds_operator.policy.decision import Decision
from tds_operator.policy.identity import UserInfo, speaks_for

RESERVED_DOMAIN: Final = "tds.io"
GARBAGE_COLLECTORS: Final = frozenset(
    {
        # kube-controller-manager with --use-service-account-credentials (the default setup)...
        "system:serviceaccount:kube-system:generic-garbage-collector",
        # ...and without it.
        "system:kube-controller-manager",
    }
)
GARBAGE_COLLECTOR_FINALIZERS: Final = frozenset({"orphan", "foregroundDeletion"})

METADATA_RESERVED: Final = "MetadataReserved"
NOT_A_PARTY_OWNER: Final = "NotAPartyOwner"
METADATA_CHANGE_ALLOWED: Final = "MetadataChangeAllowed"


@dataclass(frozen=True)
class Metadata:
    """The parts of an object's metadata that these rules guard (absent fields read as empty)."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    finalizers: tuple[str, ...]
    owner_references: tuple[str, ...]
    """Each reference, every field of it, as canonical JSON."""

    @classmethod
    def of(cls, metadata: Mapping[str, Any] | None) -> Metadata:
        """From an object's `metadata` (None: an object that does not exist yet)."""
        metadata = metadata or {}
        references = metadata.get("ownerReferences") or []
        return cls(
            labels=dict(metadata.get("labels") or {}),
            annotations=dict(metadata.get("annotations") or {}),
            finalizers=tuple(metadata.get("finalizers") or ()),
            owner_references=tuple(json.dumps(ref, sort_keys=True) for ref in references),
        )


def is_reserved_key(key: str) -> bool:
    """Whether a label or annotation key is in the operator's domain (`tds.io/`, `*.tds.io/`)."""
    prefix, slash, _ = key.rpartition("/")
    return bool(slash) and (prefix == RESERVED_DOMAIN or prefix.endswith(f".{RESERVED_DOMAIN}"))


def _changed_keys(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def _only_taken_away(before: Iterable[str], after: Iterable[str], allowed: Iterable[str]) -> bool:
    """Whether `after` is `before` minus some of the `allowed` values."""
    kept, removed = set(after), set(before) - set(after)
    return kept <= set(before) and removed <= set(allowed)


def _garbage_collection(old: Metadata, new: Metadata) -> bool:
    """Whether the change only removes garbage-collector finalizers and owner references."""
    return (
        old.labels == new.labels
        and old.annotations == new.annotations
        and _only_taken_away(old.finalizers, new.finalizers, GARBAGE_COLLECTOR_FINALIZERS)
        and _only_taken_away(old.owner_references, new.owner_references, old.owner_references)
    )


def reserved_changes(old: Metadata, new: Metadata) -> list[str]:
    """The metadata fields and keys of this change that only the operator may make."""
    changes = []
    if set(old.finalizers) != set(new.finalizers):
        changes.append("metadata.finalizers")
    if set(old.owner_references) != set(new.owner_references):
        changes.append("metadata.ownerReferences")
    for field, before, after in (
        ("labels", old.labels, new.labels),
        ("annotations", old.annotations, new.annotations),
    ):
        changes += [
            f"metadata.{field}[{key}]"
            for key in _changed_keys(before, after)
            if is_reserved_key(key)
        ]
    return changes


def admit_metadata_change(
    old: Metadata,
    new: Metadata,
    requester: UserInfo,
    party_owners: Iterable[Subject],
    operator: str,
) -> Decision:
    """Whether the requester may make this metadata change to a contract (see the module)."""
    if operator and requester.username == operator:
        return Decision.allow(METADATA_CHANGE_ALLOWED, "the operator manages the contract")
    if new == old:
        return Decision.allow(METADATA_CHANGE_ALLOWED, "the metadata is unchanged")
    if requester.username in GARBAGE_COLLECTORS and _garbage_collection(old, new):
        return Decision.allow(METADATA_CHANGE_ALLOWED, "the garbage collector lets it go")
    reserved = reserved_changes(old, new)
    if reserved:
        return Decision.deny(
            METADATA_RESERVED,
            f"{', '.join(reserved)} of a DataContract may be changed only by the operator; "
            f"{requester.describe()} is not it. Parties end a contract with spec.revoked",
        )
    if not speaks_for(party_owners, requester):
        return Decision.deny(
            NOT_A_PARTY_OWNER,
            "only an owner of the contract's provider or consumer space may change its labels "
            f"or annotations; {requester.describe()} is not",
        )
    return Decision.allow(METADATA_CHANGE_ALLOWED, "a party owner changes labels or annotations")
