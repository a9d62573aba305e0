"""Who speaks for a DataSpace: its owners, by user name or group, never an anonymous caller."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tds_operator.api.subject import Subject
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
        Subject.model_construct(kind="Group", name="system:authenticated"),
        Subject.model_construct(kind="Group", name="system:unauthenticated"),
        Subject.model_construct(kind="Group", name="system:serviceaccounts"),
        Subject.model_construct(kind="Group", name="system:serviceaccounts:tds-sgcc"),
        Subject.model_construct(kind="User", name="system:anonymous"),
    ],
)
def test_catch_all_identities_stored_before_the_rule_never_own_a_space(listed: Subject) -> None:
    everyone = UserInfo(
        "system:anonymous",
        ("system:unauthenticated", "system:authenticated", "system:serviceaccounts"),
    )
    assert not speaks_for([listed], everyone)
    assert not speaks_for([listed], UserInfo("li.wei", ("system:authenticated",)))


def test_one_service_account_may_own_a_space_by_its_user_name() -> None:
    robot = UserInfo(
        "system:serviceaccount:tds-sgcc:contracts",
        ("system:serviceaccounts", "system:serviceaccounts:tds-sgcc", "system:authenticated"),
    )
    assert speaks_for(
        [Subject(kind="User", name="system:serviceaccount:tds-sgcc:contracts")], robot
    )


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("Group", "system:authenticated"),
        ("Group", "system:unauthenticated"),
        ("Group", "system:serviceaccounts"),
        ("Group", "system:serviceaccounts:tds-sgcc"),
        ("Group", "system:masters"),
        ("Group", "system:nodes"),
        ("User", "system:anonymous"),
        ("User", "system:kube-controller-manager"),
        ("User", "system:node:gpu-0"),
        ("User", "system:serviceaccount:tds-sgcc"),
    ],
)
def test_a_catch_all_or_component_identity_is_refused_as_a_subject(kind: str, name: str) -> None:
    with pytest.raises(ValidationError, match="stands for a whole class of callers"):
        Subject.model_validate({"kind": kind, "name": name})


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
