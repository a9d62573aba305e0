"""Decisions about a DataSpace: may its namespace be taken, may it be deleted."""

from __future__ import annotations

from typing import Any

from tds_operator.policy.decision import Decision

# A contract in one of these phases still grants (or may again grant) access to a space's data.
BINDING_CONTRACT_PHASES = frozenset({"Active", "Suspended"})


def namespace_is_ours(live_namespace: dict[str, Any] | None, space_uid: str) -> Decision:
    """The space may use its namespace if it does not exist yet or is already owned by it."""
    if live_namespace is None:
        return Decision.allow("NamespaceAvailable", "the namespace does not exist yet")
    owners = live_namespace.get("metadata", {}).get("ownerReferences") or []
    if any(owner.get("uid") == space_uid for owner in owners):
        return Decision.allow("NamespaceOwned", "the namespace belongs to this space")
    name = live_namespace["metadata"]["name"]
    return Decision.deny(
        "NamespaceConflict",
        f"namespace {name} already exists and does not belong to this DataSpace; "
        f"delete or rename it, or choose another DataSpace name",
    )


def space_may_be_deleted(space: str, contracts: list[dict[str, Any]]) -> Decision:
    """A space that is party to an Active or Suspended contract cannot be deleted."""
    binding = sorted(
        contract["metadata"]["name"]
        for contract in contracts
        if (contract.get("status") or {}).get("phase") in BINDING_CONTRACT_PHASES
        and space
        in (
            contract.get("spec", {}).get("provider", {}).get("space"),
            contract.get("spec", {}).get("consumer", {}).get("space"),
        )
    )
    if binding:
        return Decision.deny(
            "ActiveContracts",
            f"DataSpace {space} is party to active contracts {', '.join(binding)}: "
            "revoke them (spec.revoked: true) or wait until they end, then delete the space",
        )
    return Decision.allow("NoActiveContracts", "no active contract involves this space")
