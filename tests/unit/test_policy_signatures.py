"""Which consents count: only those an owner signed, for these very terms. Pure, no cluster."""

from __future__ import annotations

import json

import pytest

from bench.hubkit.manifests import consented, contract_spec, with_consent
from tds_operator.policy.contract import spec_digest
from tds_operator.policy.signatures import (
    SIGNATURES_ANNOTATION,
    consent_stamps,
    seal,
    signatures_annotation,
    signatures_of,
    signed_spec,
    unsigned_consents,
    verified_stamps,
)

pytestmark = pytest.mark.unit


def signature(party: str, digest: str) -> dict[str, str]:
    return {"party": party, "user": "alice", "at": "2026-11-20T00:00:00Z", "specDigest": digest}


def test_signatures_are_read_from_the_annotation() -> None:
    stamped = [signature("provider", "sha256:" + "a" * 64)]
    annotations = {SIGNATURES_ANNOTATION: signatures_annotation(stamped) or ""}
    assert signatures_of(annotations) == stamped


@pytest.mark.parametrize(
    "raw",
    [None, "", "not json", json.dumps({"party": "provider"}), json.dumps(["text", 3])],
)
def test_an_unreadable_annotation_holds_no_signature(raw: str | None) -> None:
    annotations = {} if raw is None else {SIGNATURES_ANNOTATION: raw}
    assert signatures_of(annotations) == []
    assert signatures_of(None) == []


def test_no_signatures_remove_the_annotation() -> None:
    assert signatures_annotation([]) is None


def test_a_consent_counts_only_with_a_signature_of_these_terms() -> None:
    spec = consented(contract_spec())
    digest = spec_digest(spec)
    both = [signature("provider", digest), signature("consumer", digest)]
    assert signed_spec(spec, both).consent == spec.consent
    assert unsigned_consents(spec, both) == []
    only_provider = signed_spec(spec, both[:1]).consent
    assert (only_provider.provider.approved, only_provider.consumer.approved) == (True, False)
    assert unsigned_consents(spec, both[:1]) == ["consumer"]


def test_a_signature_of_other_terms_does_not_count() -> None:
    spec = consented(contract_spec())
    other = [
        signature("provider", "sha256:" + "b" * 64),
        signature("consumer", "sha256:" + "b" * 64),
    ]
    assert unsigned_consents(spec, other) == ["provider", "consumer"]


def test_a_consent_not_given_is_never_unsigned() -> None:
    spec = with_consent(contract_spec(), provider=True, consumer=False)
    assert unsigned_consents(spec, []) == ["provider"]
    assert unsigned_consents(contract_spec(), []) == []


KEY = b"k" * 32


def test_only_stamps_sealed_with_the_operators_key_for_this_contract_are_believed() -> None:
    digest = "sha256:" + "a" * 64
    sealed = seal(KEY, "c1", signature("provider", digest))
    assert sealed["mac"].startswith("hmac-sha256:")
    assert verified_stamps([sealed], KEY, "c1") == [sealed]
    forged_without_key = seal(b"x" * 32, "c1", signature("provider", digest))
    unsealed = signature("consumer", digest)
    altered = {**sealed, "user": "mallory"}
    carried_over = sealed  # sealed for c1, presented on c2
    assert verified_stamps([forged_without_key, unsealed, altered], KEY, "c1") == []
    assert verified_stamps([carried_over], KEY, "c2") == []


def test_a_withdrawal_makes_an_earlier_consent_to_the_same_terms_void() -> None:
    spec = consented(contract_spec())
    digest = spec_digest(spec)
    withdrawn = [
        signature("provider", digest),
        signature("consumer", digest),
        {**signature("consumer", digest), "action": "withdraw"},
    ]
    # Approved again in the spec, past the webhook, without a new consent stamp: it does not count.
    assert unsigned_consents(spec, withdrawn) == ["consumer"]
    consented_again = [*withdrawn, signature("consumer", digest)]
    assert unsigned_consents(spec, consented_again) == []
    assert [s.get("action", "consent") for s in consent_stamps(consented_again)] == ["consent"] * 3
