"""The roles the operator names after a space can be no other space's, nor one of its fixed roles:
each family has a fixed prefix and a fixed suffix around the whole space name (never cut), so two
spaces' names in one family differ as their names do, and families differ by their suffixes."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tds_operator.desired.gateway import GATEWAY_PREFIX
from tds_operator.desired.rbac import (
    GATEWAY_ROLE,
    MEMBER_ROLE,
    OBSERVER_ROLE,
    OWNER_ROLE,
    PARTICIPANT_ROLE,
)
from tds_operator.desired.space import contract_members_role, contract_owners_role, ledger_readers

pytestmark = pytest.mark.unit

SPACE_NAMES = st.from_regex(r"\A[a-z]([-a-z0-9]{0,57}[a-z0-9])?\Z")
FIXED_ROLES = {OWNER_ROLE, MEMBER_ROLE, PARTICIPANT_ROLE, OBSERVER_ROLE, GATEWAY_ROLE}


def named_after(space: str) -> set[str]:
    return {contract_owners_role(space), contract_members_role(space), ledger_readers(space)}


@given(SPACE_NAMES, SPACE_NAMES)
def test_two_spaces_never_share_a_role_name(one: str, other: str) -> None:
    assume(one != other)
    assert not named_after(one) & named_after(other)
    assert len(named_after(one)) == 3


@given(SPACE_NAMES)
def test_a_spaces_roles_are_never_a_fixed_role_or_a_gateways(space: str) -> None:
    for name in named_after(space):
        assert name not in FIXED_ROLES
        assert not name.startswith(GATEWAY_PREFIX)
        assert space in name, "a space's role name holds its whole name, never cut"


def test_names_that_look_like_suffixes_do_not_collide() -> None:
    # The shape that made joined gateway names collide: one name ends as another's suffix.
    assert contract_owners_role("a-contract-members") != contract_members_role("a")
    assert contract_owners_role("a") not in named_after("a-contract")
