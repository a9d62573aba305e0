"""Who may propose, consent to, change and revoke a DataContract, and the consents to stamp.

The admission webhook feeds these policies the old and new spec and the requester's userInfo;
they never look anything up themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from tds_operator.api.datacontract import DataContractSpec, Party
from tds_operator.api.dataspace import DataSpaceSpec
from tds_operator.api.subject import Subject
from tds_operator.policy.conditions import timestamp
from tds_operator.policy.contract import (
    PARTIES,
    approved_by,
    party_space,
)
from tds_operator.policy.decision import Decision, first_failing
from tds_operator.policy.identity import UserInfo, speaks_for
from tds_operator.policy.rules import HubRules
from tds_operator.policy.terms import validate_contract_terms


@dataclass(frozen=True)
class ContractChange:
    """One create (old is None) or update of a contract's spec, and who asks for it."""

    old: DataContractSpec | None
    new: DataContractSpec
    requester: UserInfo
    provider_owners: tuple[Subject, ...]
    consumer_owners: tuple[Subject, ...]

    def speaks_for(self, party: Party) -> bool:
        """Whether the requester is an owner of that party's space."""
        owners = self.provider_owners if party == "provider" else self.consumer_owners
        return speaks_for(owners, self.requester)

    def space(self, party: Party) -> str:
        """The name of that party's space in the new spec."""
        return party_space(self.new, party)

    def approved_before(self, party: Party) -> bool:
        """Whether that party had approved before the change (never, on create)."""
        return self.old is not None and approved_by(self.old, party)

    def approved_after(self, party: Party) -> bool:
        """Whether that party approves after the change."""
        return approved_by(self.new, party)


def _not_owner(change: ContractChange, parties: Sequence[Party], action: str) -> Decision:
    spaces = " or ".join(f"DataSpace {change.space(party)}" for party in parties)
    reason = f"Not{parties[0].capitalize()}Owner" if len(parties) == 1 else "NotAPartyOwner"
    return Decision.deny(
        reason, f"only an owner of {spaces} may {action}; {change.requester.describe()} is not"
    )


# --- Policies, in the order the webhook applies them -------------------------------------------


def revocation_is_final(change: ContractChange) -> Decision:
    """spec.revoked never goes back to false, and nothing else changes on a revoked contract."""
    old = change.old
    if old is not None and old.revoked:
        if not change.new.revoked:
            return Decision.deny(
                "RevocationIsFinal", "spec.revoked cannot be set back to false: revocation is final"
            )
        if old != change.new:
            return Decision.deny(
                "ContractRevoked",
                "the contract is revoked: its spec can no longer change; "
                "create a new DataContract instead",
            )
    return Decision.allow("NotRevoked", "the change does not undo a revocation")


def parties_unchanged(change: ContractChange) -> Decision:
    """spec.provider.space and spec.consumer.space are fixed when the contract is created."""
    if change.old is None:
        return Decision.allow("NewContract", "a new contract names its parties")
    for party in PARTIES:
        before = party_space(change.old, party)
        if before != change.space(party):
            return Decision.deny(
                "PartiesImmutable",
                f"spec.{party}.space cannot change from {before} to {change.space(party)}: "
                "the parties are fixed when a contract is created; create a new DataContract",
            )
    return Decision.allow("PartiesUnchanged", "the parties are unchanged")


def terms_frozen_after_consent(change: ContractChange) -> Decision:
    """Once either party has consented, only spec.consent and spec.revoked may change."""
    old = change.old
    if old is None or not old.has_any_consent():
        return Decision.allow("TermsOpen", "no party has consented yet")
    changed = changed_terms(old, change.new)
    if changed:
        return Decision.deny(
            "TermsFrozen",
            f"{', '.join(f'spec.{name}' for name in changed)} cannot change: the terms are "
            "immutable once either party has consented; create a new DataContract for new terms",
        )
    return Decision.allow("TermsUnchanged", "the terms are unchanged")


def proposer_is_a_party(change: ContractChange) -> Decision:
    """Proposing a contract, or changing its terms before consent, takes an owner of a party."""
    proposing = change.old is None or bool(changed_terms(change.old, change.new))
    if proposing and not any(change.speaks_for(party) for party in PARTIES):
        action = "propose a contract between them" if change.old is None else "change its terms"
        return _not_owner(change, PARTIES, action)
    return Decision.allow("ProposerIsAParty", "the requester speaks for a party")


def consent_by_own_party(change: ContractChange) -> Decision:
    """Only an owner of a party's space sets (or withdraws) spec.consent.<party>."""
    for party in PARTIES:
        moved = change.approved_before(party) != change.approved_after(party)
        if moved and not change.speaks_for(party):
            return _not_owner(change, [party], f"set spec.consent.{party}")
    return Decision.allow("ConsentByOwnParty", "each consent changed was set by its own party")


def revocation_by_a_party(change: ContractChange) -> Decision:
    """Either party's owner may revoke; nobody else may."""
    newly_revoked = change.new.revoked and not (change.old is not None and change.old.revoked)
    if newly_revoked and not any(change.speaks_for(party) for party in PARTIES):
        return _not_owner(change, PARTIES, "set spec.revoked")
    return Decision.allow("RevocationByAParty", "no revocation by an outsider")


AUTHORIZATION_POLICIES: Final = (
    revocation_is_final,
    parties_unchanged,
    terms_frozen_after_consent,
    proposer_is_a_party,
    consent_by_own_party,
    revocation_by_a_party,
)


def changed_terms(old: DataContractSpec, new: DataContractSpec) -> list[str]:
    """Top-level spec fields that differ between two specs, apart from consent and revoked."""
    before, after = old.contract_terms(), new.contract_terms()
    return sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )


def authorize_contract_change(
    old: DataContractSpec | None,
    new: DataContractSpec,
    requester: UserInfo,
    provider_space: DataSpaceSpec | None,
    consumer_space: DataSpaceSpec | None,
) -> Decision:
    """Whether the requester may make this change; the first rule it breaks otherwise.

    A space that does not exist has no owners, so nobody speaks for it.
    """
    change = ContractChange(
        old,
        new,
        requester,
        tuple(provider_space.owners) if provider_space else (),
        tuple(consumer_space.owners) if consumer_space else (),
    )
    return first_failing(
        AUTHORIZATION_POLICIES,
        change,
        Decision.allow("ChangeAuthorized", f"{requester.describe()} may make this change"),
    )


def needs_terms_check(old: DataContractSpec | None, new: DataContractSpec) -> bool:
    """Whether this change needs the terms checked: on create, on change and on a new consent.

    Never to block a revocation or a withdrawal, which must work even if a space has gone.
    """
    if old is None or changed_terms(old, new):
        return True
    return any(not approved_by(old, party) and approved_by(new, party) for party in PARTIES)


def admit_contract_change(
    old: DataContractSpec | None,
    new: DataContractSpec,
    requester: UserInfo,
    provider_space: DataSpaceSpec | None,
    consumer_space: DataSpaceSpec | None,
    hub_rules: HubRules,
    now: datetime,
) -> Decision:
    """The webhook's answer: authorization first, then the terms when they matter."""
    authorized = authorize_contract_change(old, new, requester, provider_space, consumer_space)
    if not authorized.allowed or not needs_terms_check(old, new):
        return authorized
    if old is None and now >= new.validity.not_after:
        return Decision.deny(
            "ValidityEnded",
            f"spec.validity.notAfter {timestamp(new.validity.not_after)} is already past; "
            "choose a later end",
        )
    return validate_contract_terms(new, provider_space, consumer_space, hub_rules, now)
