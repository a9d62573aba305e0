"""Who speaks for a DataSpace: its owners, by user name or group, never an anonymous caller."""

from __future__ import annotations

import pytest

from tds_operator.api.common import Subject
from tds_operator.policy.identity import UserInfo, speaks_for

pytestmark = pytest.mark.unit

OWNERS = [Subject(kind="Group", name="sgcc-admins"), Subject(kind="User", name="wang.fang")]


@pytest.mark.parametrize(
    ("requester", "owner"),
    [
        (UserInfo("alice", ("sgcc-admins",)), True),
        (UserInfo("wang.fang"), True),
        (UserInfo("sgcc-admins"), False),  # a user named like the group is not in it
        (UserInfo("li.wei", ("wang.fang",)), False),  # a group named like the user is not them
        (UserInfo("Wang.Fang"), False),  # names are exact, as in RBAC
        (UserInfo("dave", ("cma-data-office",)), False),
        (UserInfo("system:anonymous", ("system:unauthenticated",)), False),
    ],
)
def test_owners_by_user_name_or_group(requester: UserInfo, owner: bool) -> None:
    assert speaks_for(OWNERS, requester) is owner


@pytest.mark.parametrize(
    "listed",
    [
        Subject(kind="Group", name="system:authenticated"),
        Subject(kind="Group", name="system:unauthenticated"),
        Subject(kind="Group", name="system:serviceaccounts"),
        Subject(kind="User", name="system:anonymous"),
    ],
)
def test_catch_all_identities_never_own_a_space(listed: Subject) -> None:
    everyone = UserInfo(
        "system:anonymous",
        ("system:unauthenticated", "system:authenticated", "system:serviceaccounts"),
    )
    assert not speaks_for([listed], everyone)
    assert not speaks_for([listed], UserInfo("li.wei", ("system:authenticated",)))


def test_a_service_account_group_of_one_namespace_may_own_a_space() -> None:
    robot = UserInfo(
        "system:serviceaccount:tds-sgcc:contracts",
        ("system:serviceaccounts", "system:serviceaccounts:tds-sgcc", "system:authenticated"),
    )
    assert speaks_for([Subject(kind="Group", name="system:serviceaccounts:tds-sgcc")], robot)


@pytest.mark.parametrize(
    "user_info", [{}, {"username": ""}, {"username": "x", "groups": ["system:unauthenticated"]}]
)
def test_requests_without_an_identity_are_anonymous(user_info: dict[str, object]) -> None:
    assert UserInfo.from_admission(user_info).is_anonymous


def test_user_info_from_an_admission_review() -> None:
    requester = UserInfo.from_admission(
        {"username": "alice", "uid": "42", "groups": ["sgcc-admins", "system:authenticated"]}
    )
    assert requester == UserInfo("alice", ("sgcc-admins", "system:authenticated"))
    assert not requester.is_anonymous
    assert requester.describe() == "user alice (groups: sgcc-admins, system:authenticated)"
    assert UserInfo("bob").describe() == "user bob (groups: none)"
