"""Who is asking (the AdmissionReview's userInfo) and whether they speak for a DataSpace."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tds_operator.api.subject import Subject, names_a_participant

ANONYMOUS_USER = "system:anonymous"


@dataclass(frozen=True)
class UserInfo:
    """The requester, as the API server authenticated it."""

    username: str
    groups: tuple[str, ...] = ()

    @classmethod
    def from_admission(cls, user_info: Mapping[str, Any]) -> UserInfo:
        """From `request.userInfo` of an AdmissionReview (missing fields read as empty)."""
        groups = user_info.get("groups") or []
        return cls(
            username=str(user_info.get("username") or ""),
            groups=tuple(str(group) for group in groups),
        )

    @property
    def is_anonymous(self) -> bool:
        """Whether the request carries no authenticated identity."""
        return (
            not self.username
            or self.username == ANONYMOUS_USER
            or "system:unauthenticated" in self.groups
        )

    def describe(self) -> str:
        """`user alice (groups: a, b)`, for messages that say who was refused."""
        groups = ", ".join(self.groups) if self.groups else "none"
        return f"user {self.username or '<empty>'} (groups: {groups})"


def speaks_for(owners: Iterable[Subject], requester: UserInfo) -> bool:
    """Whether the requester is one of the owners, by user name or group membership.

    A catch-all owner (`system:authenticated`, ...) never counts, even if stored before the API
    refused it: it would hand the participant's voice to a whole class of callers.
    """
    if requester.is_anonymous:
        return False
    for owner in owners:
        if not names_a_participant(owner.kind, owner.name):
            continue
        if owner.kind == "User" and owner.name == requester.username:
            return True
        if owner.kind == "Group" and owner.name in requester.groups:
            return True
    return False
