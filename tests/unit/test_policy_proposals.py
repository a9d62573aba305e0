"""Proposals: the derived contract name, the sealed proposer stamp, and what the relay does."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tds_operator.policy.identity import UserInfo
from tds_operator.policy.proposals import (
    EDITED_AFTER_CREATION,
    NAME_TAKEN,
    PROPOSAL_ANNOTATION,
    PROPOSER_ANNOTATION,
    UNSTAMPED,
    contract_name,
    decide_proposal,
    name_is_reserved,
    proposer_stamp,
    stamp_fits,
    verified_proposer,
)

pytestmark = pytest.mark.unit

KEY = b"k" * 32
NOW = datetime(2026, 12, 1, tzinfo=UTC)
OWNER = UserInfo("alice", ("sgcc-admins",))
SPEC = {"provider": {"space": "sgcc", "datasets": ["d"]}, "consumer": {"space": "cmcc"}}


def test_the_name_is_the_spaces_own_and_kept_for_proposals() -> None:
    name = contract_name("sgcc", "load")
    assert name.startswith("sgcc-load-")
    assert len(name) == len("sgcc-load-p") + 16
    assert name_is_reserved(name)
    # The same text split differently between space and proposal is another name.
    assert contract_name("sgcc-load", "x") != contract_name("sgcc", "load-x")
    assert not name_is_reserved("sgcc-to-cmcc-load")
    # A shortened clean-room name (`-<16 hex>`) is not kept: only `-p<16 hex>` is.
    assert not name_is_reserved("c0123456789-xxxx-0123456789abcdef")


def test_a_long_name_fits_a_label() -> None:
    name = contract_name("s" * 59, "p" * 40)
    assert len(name) <= 63
    assert name != contract_name("s" * 59, "p" * 39 + "q")
    assert not contract_name("ab", "-").endswith("--")


def test_a_stamp_verifies_only_unaltered_and_for_its_proposal_and_terms() -> None:
    value = proposer_stamp(KEY, OWNER, "tds-sgcc", "load", SPEC, NOW)
    proposer = verified_proposer(KEY, value)
    assert proposer is not None
    assert proposer.user == OWNER
    assert stamp_fits(proposer, "tds-sgcc", "load", SPEC)
    assert not stamp_fits(proposer, "tds-cmcc", "load", SPEC)
    assert not stamp_fits(proposer, "tds-sgcc", "other", SPEC)
    assert not stamp_fits(proposer, "tds-sgcc", "load", {**SPEC, "purpose": "analytics"})
    forged = json.loads(value)
    forged["user"] = "mallory"
    assert verified_proposer(KEY, json.dumps(forged)) is None
    assert verified_proposer(b"x" * 32, value) is None
    assert verified_proposer(KEY, "not json") is None
    assert verified_proposer(KEY, None) is None


def test_the_relay_creates_once_and_only_with_a_stamp() -> None:
    name = contract_name("sgcc", "load")
    assert decide_proposal(name, True, None, "tds-sgcc/load", SPEC).create
    unstamped = decide_proposal(name, False, None, "tds-sgcc/load", SPEC)
    assert not unstamped.create
    assert unstamped.reason == UNSTAMPED
    stamp = proposer_stamp(KEY, OWNER, "tds-sgcc", "load", SPEC, NOW)
    annotations = {PROPOSAL_ANNOTATION: "tds-sgcc/load", PROPOSER_ANNOTATION: stamp}
    ours = {"metadata": {"annotations": annotations}, "spec": SPEC}
    made = decide_proposal(name, False, ours, "tds-sgcc/load", SPEC)
    assert (made.create, made.phase, made.reason) == (False, "Created", "Created")
    # The status before and after the create is the same: a converged proposal writes nothing.
    creating = decide_proposal(name, True, None, "tds-sgcc/load", SPEC)
    assert (creating.phase, creating.reason, creating.message) == (
        made.phase, made.reason, made.message,
    )  # fmt: skip
    # Any edit of the proposal's spec after creation, consent included, is reported ignored.
    for edited_spec in ({**SPEC, "maxJobs": 3}, {**SPEC, "consent": {"provider": {}}}):
        edited = decide_proposal(name, True, ours, "tds-sgcc/load", edited_spec)
        assert (edited.create, edited.phase) == (False, "Created")
        assert edited.reason == EDITED_AFTER_CREATION
    earlier = {"metadata": {"annotations": {PROPOSAL_ANNOTATION: "tds-sgcc/load"}}}
    again = decide_proposal(name, True, earlier, "tds-sgcc/load2", SPEC)
    assert (again.create, again.phase, again.reason) == (False, "Refused", NAME_TAKEN)
