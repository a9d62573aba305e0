"""Who may propose, consent to, change and revoke a contract; which consents get stamped."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from bench.hubkit.manifests import (
    ALICE,
    ANONYMOUS,
    BEFORE_WINDOW,
    BOB,
    CAROL,
    DAVE,
    LI,
    NOT_AFTER,
    WANG,
    ZHANG,
    cmcc,
    consented,
    contract_spec,
    revoked,
    sgcc,
    space,
    with_consent,
)
from tds_operator.api.datacontract import DataContractSpec, Signature
from tds_operator.api.subject import Subject
from tds_operator.policy.consent import (
    admit_contract_change,
    authorize_contract_change,
    changed_terms,
    needs_terms_check,
)
from tds_operator.policy.contract import spec_digest
from tds_operator.policy.decision import Decision
from tds_operator.policy.identity import UserInfo
from tds_operator.policy.rules import HubRules
from tds_operator.policy.signatures import new_signatures

pytestmark = pytest.mark.unit

PROPOSAL = contract_spec()
PROVIDER_SIGNED = with_consent(PROPOSAL, provider=True)
CONSUMER_SIGNED = with_consent(PROPOSAL, consumer=True)
BOTH_SIGNED = consented(PROPOSAL)


def authorize(old: DataContractSpec | None, new: DataContractSpec, requester: UserInfo) -> Decision:
    return authorize_contract_change(old, new, requester, sgcc(), cmcc())


# Who may do what. Provider owners: alice (through her group), wang.fang (by name). Consumer
# owners: bob (group), zhang.min (name). carol owns both spaces. Outsiders: li.wei (a member, not
# an owner), dave (owner of another space), and an unauthenticated request.
ROLES: dict[str, tuple[UserInfo, ...]] = {
    "provider owner": (ALICE, WANG),
    "consumer owner": (BOB, ZHANG),
    "owner of both": (CAROL,),
    "outsider": (LI, DAVE, ANONYMOUS),
}
OK = None
NOT_PROVIDER = "NotProviderOwner"
NOT_CONSUMER = "NotConsumerOwner"
NOT_A_PARTY = "NotAPartyOwner"

# action: (old spec or None on create, new spec), then the outcome per role in ROLES' order.
AUTHORIZATION_TABLE: dict[
    str, tuple[DataContractSpec | None, DataContractSpec, tuple[str | None, ...]]
] = {
    "propose": (None, PROPOSAL, (OK, OK, OK, NOT_A_PARTY)),
    "propose signed as provider": (None, PROVIDER_SIGNED, (OK, NOT_PROVIDER, OK, NOT_A_PARTY)),
    "propose signed as consumer": (None, CONSUMER_SIGNED, (NOT_CONSUMER, OK, OK, NOT_A_PARTY)),
    "propose signed by both": (None, BOTH_SIGNED, (NOT_CONSUMER, NOT_PROVIDER, OK, NOT_A_PARTY)),
    "consent as provider": (CONSUMER_SIGNED, BOTH_SIGNED, (OK, NOT_PROVIDER, OK, NOT_PROVIDER)),
    "consent as consumer": (PROVIDER_SIGNED, BOTH_SIGNED, (NOT_CONSUMER, OK, OK, NOT_CONSUMER)),
    "withdraw as provider": (BOTH_SIGNED, CONSUMER_SIGNED, (OK, NOT_PROVIDER, OK, NOT_PROVIDER)),
    "withdraw as consumer": (BOTH_SIGNED, PROVIDER_SIGNED, (NOT_CONSUMER, OK, OK, NOT_CONSUMER)),
    "revoke": (BOTH_SIGNED, revoked(BOTH_SIGNED), (OK, OK, OK, NOT_A_PARTY)),
    "change terms before consent": (PROPOSAL, contract_spec(maxJobs=30), (OK, OK, OK, NOT_A_PARTY)),
}


def authorization_cases() -> list[Any]:
    return [
        pytest.param(action, requester, outcome, id=f"{action}, {role} {requester.username}")
        for action, (_, _, outcomes) in AUTHORIZATION_TABLE.items()
        for (role, requesters), outcome in zip(ROLES.items(), outcomes, strict=True)
        for requester in requesters
    ]


@pytest.mark.parametrize(("action", "requester", "reason"), authorization_cases())
def test_who_may_do_what(action: str, requester: UserInfo, reason: str | None) -> None:
    old, new, _ = AUTHORIZATION_TABLE[action]
    decision = authorize(old, new, requester)
    assert decision.allowed is (reason is None), decision.message
    if reason is not None:
        assert decision.reason == reason
        assert f"user {requester.username} " in decision.message


def test_the_refusal_names_the_rule_the_space_and_the_requester() -> None:
    mallory = UserInfo("mallory", ("cmcc-ai-lab-leads", "system:authenticated"))
    decision = authorize(CONSUMER_SIGNED, BOTH_SIGNED, mallory)
    assert decision.message == (
        "only an owner of DataSpace sgcc may set spec.consent.provider; "
        "user mallory (groups: cmcc-ai-lab-leads, system:authenticated) is not"
    )


def test_a_proposal_by_an_outsider_names_both_spaces() -> None:
    decision = authorize(None, PROPOSAL, DAVE)
    assert "only an owner of DataSpace sgcc or DataSpace cmcc may propose" in decision.message


def test_an_anonymous_request_never_speaks_for_a_space_even_if_listed() -> None:
    # The API refuses such owners now; a space stored before that rule still grants them nothing.
    careless = space([{"kind": "User", "name": "wang.fang"}]).model_copy(
        update={
            "owners": [
                Subject.model_construct(kind="User", name="system:anonymous"),
                Subject.model_construct(kind="Group", name="system:authenticated"),
            ]
        }
    )
    for requester in (ANONYMOUS, LI):
        decision = authorize_contract_change(PROPOSAL, PROVIDER_SIGNED, requester, careless, cmcc())
        assert decision.reason == "NotProviderOwner"


def test_a_missing_space_has_no_owners() -> None:
    decision = authorize_contract_change(PROPOSAL, PROVIDER_SIGNED, ALICE, None, cmcc())
    assert decision.reason == "NotProviderOwner"
    # The other side still speaks for itself, e.g. to revoke.
    assert authorize_contract_change(BOTH_SIGNED, revoked(BOTH_SIGNED), BOB, None, cmcc()).allowed


def test_metadata_only_updates_are_not_this_policys_business() -> None:
    assert authorize(BOTH_SIGNED, BOTH_SIGNED, DAVE).allowed


@pytest.mark.parametrize("old", [PROVIDER_SIGNED, CONSUMER_SIGNED, BOTH_SIGNED])
def test_terms_are_frozen_once_either_party_consented(old: DataContractSpec) -> None:
    new = old.model_copy(update={"purpose": "analytics", "max_jobs": 30})
    decision = authorize(old, new, CAROL)
    assert (decision.allowed, decision.reason) == (False, "TermsFrozen")
    assert decision.message.startswith("spec.maxJobs, spec.purpose cannot change")
    assert "create a new DataContract" in decision.message


def test_terms_and_consent_may_change_together_before_anyone_consented() -> None:
    new = with_consent(contract_spec(maxJobs=30), provider=True)
    assert authorize(PROPOSAL, new, ALICE).allowed


def test_the_parties_are_fixed_at_creation() -> None:
    moved = contract_spec(consumer={"space": "cma"})
    decision = authorize(PROPOSAL, moved, CAROL)
    assert (decision.allowed, decision.reason) == (False, "PartiesImmutable")
    assert "spec.consumer.space cannot change from cmcc to cma" in decision.message


def test_revocation_is_final() -> None:
    decision = authorize(revoked(BOTH_SIGNED), BOTH_SIGNED, CAROL)
    assert (decision.allowed, decision.reason) == (False, "RevocationIsFinal")


def test_nothing_changes_on_a_revoked_contract() -> None:
    old = revoked(BOTH_SIGNED)
    decision = authorize(old, revoked(CONSUMER_SIGNED), ALICE)
    assert (decision.allowed, decision.reason) == (False, "ContractRevoked")
    assert authorize(old, old, ALICE).allowed


@pytest.mark.parametrize("who", [ALICE, BOB])
def test_either_party_may_revoke_even_before_consenting(who: UserInfo) -> None:
    assert authorize(PROPOSAL, revoked(PROPOSAL), who).allowed


def test_changed_terms_lists_top_level_fields() -> None:
    assert changed_terms(PROPOSAL, BOTH_SIGNED) == []
    assert changed_terms(PROPOSAL, contract_spec(maxJobs=None)) == ["maxJobs"]


# --- Admission: authorization, then terms when they matter ---------------------------------------


def admit(
    old: DataContractSpec | None,
    new: DataContractSpec,
    requester: UserInfo,
    *,
    provider: bool = True,
    now: datetime = BEFORE_WINDOW,
) -> Decision:
    return admit_contract_change(
        old, new, requester, sgcc() if provider else None, cmcc(), HubRules(), now
    )


def test_a_valid_proposal_is_admitted_with_the_terms_reason() -> None:
    assert admit(None, PROVIDER_SIGNED, ALICE).reason == "TermsValid"


def test_authorization_is_decided_before_terms() -> None:
    core = contract_spec(provider={"space": "sgcc", "datasets": ["grid-topology"]})
    assert admit(None, core, DAVE).reason == "NotAPartyOwner"
    assert admit(None, core, ALICE).reason == "CoreDataNotShareable"


def test_consent_is_refused_when_the_terms_no_longer_fit() -> None:
    # After the proposal, the provider reclassified the dataset as core.
    reclassified = space(
        [{"kind": "Group", "name": "sgcc-admins"}],
        datasets=[
            {
                "name": "grid-load-2025",
                "classification": "core",
                "source": {"service": {"name": "grid-load-gateway", "port": 8443}},
            }
        ],
    )
    decision = admit_contract_change(
        PROVIDER_SIGNED, BOTH_SIGNED, BOB, reclassified, cmcc(), HubRules(), BEFORE_WINDOW
    )
    assert decision.reason == "CoreDataNotShareable"


def test_revocation_and_withdrawal_work_even_when_the_provider_space_is_gone() -> None:
    assert admit(BOTH_SIGNED, revoked(BOTH_SIGNED), BOB, provider=False).allowed
    assert admit(BOTH_SIGNED, PROVIDER_SIGNED, BOB, provider=False).allowed


def test_a_contract_cannot_be_proposed_after_its_end() -> None:
    decision = admit(None, PROPOSAL, ALICE, now=NOT_AFTER)
    assert (decision.allowed, decision.reason) == (False, "ValidityEnded")


@pytest.mark.parametrize(
    ("old", "new", "checked"),
    [
        (None, PROPOSAL, True),
        (PROPOSAL, contract_spec(maxJobs=3), True),
        (PROPOSAL, PROVIDER_SIGNED, True),
        (BOTH_SIGNED, PROVIDER_SIGNED, False),
        (BOTH_SIGNED, revoked(BOTH_SIGNED), False),
        (BOTH_SIGNED, BOTH_SIGNED, False),
    ],
)
def test_when_terms_are_checked(
    old: DataContractSpec | None, new: DataContractSpec, checked: bool
) -> None:
    assert needs_terms_check(old, new) is checked


# --- Signatures -------------------------------------------------------------------------------


def test_a_consent_is_stamped_with_who_when_and_which_terms() -> None:
    [signature] = new_signatures(PROVIDER_SIGNED, BOTH_SIGNED, BOB, BEFORE_WINDOW, [])
    assert signature == {
        "action": "consent",
        "party": "consumer",
        "user": "bob",
        "groups": ["cmcc-ai-lab-leads", "system:authenticated"],
        "at": "2026-11-20T00:00:00Z",
        "specDigest": spec_digest(PROPOSAL),
    }
    assert Signature.model_validate(signature).party == "consumer"


def test_a_proposal_signed_by_an_owner_of_both_stamps_both_sides() -> None:
    signatures = new_signatures(None, BOTH_SIGNED, CAROL, BEFORE_WINDOW, [])
    assert [signature["party"] for signature in signatures] == ["provider", "consumer"]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (None, PROPOSAL),
        (BOTH_SIGNED, revoked(BOTH_SIGNED)),  # a revocation by nobody's owner stamps nothing
        (PROVIDER_SIGNED, PROVIDER_SIGNED),
    ],
)
def test_nothing_is_stamped_without_a_step_by_an_owner(
    old: DataContractSpec | None, new: DataContractSpec
) -> None:
    assert new_signatures(old, new, CAROL, BEFORE_WINDOW, []) == []


def test_replaying_a_consent_stamps_nothing_twice() -> None:
    first = new_signatures(PROVIDER_SIGNED, BOTH_SIGNED, BOB, BEFORE_WINDOW, [])
    assert new_signatures(PROVIDER_SIGNED, BOTH_SIGNED, BOB, NOT_AFTER, first) == []


def test_a_withdrawal_and_a_revocation_are_stamped_with_who_and_when() -> None:
    [withdrawal] = new_signatures(BOTH_SIGNED, PROVIDER_SIGNED, BOB, NOT_AFTER, [])
    assert (withdrawal["action"], withdrawal["party"], withdrawal["user"]) == (
        "withdraw",
        "consumer",
        "bob",
    )
    [revocation] = new_signatures(
        BOTH_SIGNED, revoked(BOTH_SIGNED), BOB, NOT_AFTER, [], speaks_for=["consumer"]
    )
    assert (revocation["action"], revocation["party"], revocation["user"]) == (
        "revoke",
        "consumer",
        "bob",
    )
    assert revocation["at"] == "2027-03-01T00:00:00Z"


def test_a_consent_after_a_withdrawal_is_stamped_again() -> None:
    consent = new_signatures(PROVIDER_SIGNED, BOTH_SIGNED, BOB, BEFORE_WINDOW, [])
    withdrawal = new_signatures(BOTH_SIGNED, PROVIDER_SIGNED, BOB, BEFORE_WINDOW, consent)
    [again] = new_signatures(PROVIDER_SIGNED, BOTH_SIGNED, BOB, NOT_AFTER, consent + withdrawal)
    assert (again["action"], again["at"]) == ("consent", "2027-03-01T00:00:00Z")
