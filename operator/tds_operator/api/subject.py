"""Who a space names: a Kubernetes user or group, never a catch-all or a component identity."""

from __future__ import annotations

import re
from typing import Final, Literal, Self

from pydantic import ConfigDict, Field, StrictStr, model_validator

from tds_operator.api.common import KubeModel
from tds_operator.api.validation import CelRule, cel_rules

SYSTEM_PREFIX: Final = "system:"
SERVICE_ACCOUNT_USER_PREFIX: Final = "system:serviceaccount:"

SUBJECT_NAMES_A_PARTICIPANT = CelRule(
    rule=(
        f"!self.name.startsWith('{SYSTEM_PREFIX}') || (self.kind == 'User' && "
        f"self.name.matches('^{SERVICE_ACCOUNT_USER_PREFIX}[a-z0-9-]+:[a-z0-9.-]+$'))"
    ),
    message=(
        "a system: group (system:authenticated, system:unauthenticated, system:serviceaccounts, "
        "system:serviceaccounts:<namespace>, system:masters, ...) or system: user "
        "(system:anonymous, a node or a control-plane component) stands for a whole class of "
        "callers, not for a participant: list the participant's own users and groups, or one "
        "ServiceAccount as the User system:serviceaccount:<namespace>:<name>"
    ),
    field_path=".name",
)


def names_a_participant(kind: str, name: str) -> bool:
    """The Python side of SUBJECT_NAMES_A_PARTICIPANT: no catch-all or component identity."""
    if not name.startswith(SYSTEM_PREFIX):
        return True
    return kind == "User" and (
        re.fullmatch(rf"{SERVICE_ACCOUNT_USER_PREFIX}[a-z0-9-]+:[a-z0-9.-]+", name) is not None
    )


class Subject(KubeModel):
    """A Kubernetes user or group, as the API server authenticates it."""

    # Never a catch-all: a system: group or user would grant a space to a whole class of callers
    # (every authenticated user, every ServiceAccount, anonymous requests, nodes); the only
    # system: name allowed is one ServiceAccount's user name.
    model_config = ConfigDict(json_schema_extra=cel_rules(SUBJECT_NAMES_A_PARTICIPANT))

    kind: Literal["User", "Group"] = Field(
        description="User or Group, exactly as in RBAC subjects.",
    )
    name: StrictStr = Field(
        min_length=1,
        max_length=256,
        description=(
            "The user name or group name the API server authenticates; never a system: group "
            "or user, except one ServiceAccount's user system:serviceaccount:<namespace>:<name>."
        ),
    )

    @model_validator(mode="after")
    def _names_a_participant(self) -> Self:
        if not names_a_participant(self.kind, self.name):
            raise ValueError(f"{self.kind} {self.name}: {SUBJECT_NAMES_A_PARTICIPANT.message}")
        return self
