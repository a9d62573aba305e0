"""Shared building blocks of the three kinds: base model, CEL rules, names, conditions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    StrictStr,
)
from pydantic.alias_generators import to_camel

# Kubernetes name grammars (k8s.io/apimachinery/pkg/util/validation), written for RE2 and Rust
# regex alike so that the API server and pydantic read them the same way.
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_1035_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# A non-negative resource.Quantity ("500m", "1.5", "64Gi", "1e3"); negative quotas make no sense.
QUANTITY = (
    r"^(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
# RFC 3339 with an explicit zone, at most microseconds: CEL compares these as timestamps, and
# pydantic would silently drop nanoseconds. The digit ranges keep pydantic from accepting what
# the API server's date-time format refuses (e.g. a leap second).
RFC3339 = (
    r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
CONDITION_TYPE = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
SHA256_DIGEST = r"^sha256:[0-9a-f]{64}$"

_RFC3339 = re.compile(RFC3339)


class KubeModel(BaseModel):
    """Base of every API model: camelCase on the wire, unknown fields ignored on parse."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        extra="ignore",
        frozen=True,
    )

    def to_manifest(self) -> dict[str, Any]:
        """The object as the API server stores it: camelCase keys, no unset optionals."""
        return self.model_dump(mode="json", exclude_none=True)


@dataclass(frozen=True)
class CelRule:
    """One `x-kubernetes-validations` entry, evaluated by the API server."""

    rule: str
    message: str
    field_path: str | None = None
    reason: str | None = None

    def to_schema(self) -> dict[str, str]:
        """The rule as it appears in the CRD schema."""
        entry = {"rule": self.rule, "message": self.message}
        if self.field_path is not None:
            entry["fieldPath"] = self.field_path
        if self.reason is not None:
            entry["reason"] = self.reason
        return entry


def cel_rules(*rules: CelRule, **extra: Any) -> dict[str, Any]:
    """`json_schema_extra` attaching CEL rules (and other schema keys) to a model or field."""
    return {"x-kubernetes-validations": [rule.to_schema() for rule in rules], **extra}


def unique(items: list[str]) -> bool:
    """Whether no value occurs twice (the Python side of the `exists_one` CEL rules)."""
    return len(set(items)) == len(items)


def unique_values_rule(what: str, key: str = "") -> CelRule:
    """CEL rule for a list whose values (or whose `key` field) must be unique."""
    value = f"x.{key}" if key else "x"
    other = f"y.{key}" if key else "y"
    # No reason=FieldValueDuplicate: the API server would replace the message with the value.
    return CelRule(
        rule=f"self.all(x, self.exists_one(y, {other} == {value}))",
        message=f"{what} must be unique",
    )


def _parse_rfc3339(value: Any) -> Any:
    """Accept datetimes and RFC 3339 strings only, as the API server's date-time format does."""
    if isinstance(value, str) and not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time with a zone, such as 2027-03-01T00:00:00Z")
    if not isinstance(value, str | datetime):
        raise ValueError("must be an RFC 3339 date-time string")
    return value


def _format_rfc3339(value: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, the form Kubernetes writes."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_parse_rfc3339),
    PlainSerializer(_format_rfc3339, return_type=str),
    Field(json_schema_extra={"pattern": RFC3339}),
]
"""A point in time: RFC 3339 with an explicit zone."""

SpaceName = Annotated[StrictStr, Field(min_length=1, max_length=59, pattern=DNS_LABEL)]
"""A DataSpace name; at most 59 characters so that its namespace `tds-<name>` is a DNS label."""

ObjectName = Annotated[StrictStr, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]
"""A name that is a DNS label: a dataset, a contract, anything used as a label value."""

Quantity = Annotated[
    Annotated[StrictInt, Field(ge=0)]
    | Annotated[StrictStr, Field(max_length=64, pattern=QUANTITY)],
    Field(json_schema_extra={"x-kubernetes-int-or-string": True}),
]
"""A non-negative Kubernetes quantity: an integer or a string such as `500m`, `64Gi`."""

Port = Annotated[StrictInt, Field(ge=1, le=65535)]
"""A TCP port number."""


class Subject(KubeModel):
    """A Kubernetes user or group, as the API server authenticates it."""

    kind: Literal["User", "Group"] = Field(
        description="User or Group, exactly as in RBAC subjects.",
    )
    name: StrictStr = Field(
        min_length=1,
        max_length=256,
        description="The user name or group name the API server authenticates.",
    )


class ObjectMeta(KubeModel):
    """The metadata fields the operator reads; everything else is ignored."""

    name: str | None = Field(None, description="Name of the object.")
    generate_name: str | None = Field(None, description="Prefix for a server-generated name.")
    namespace: str | None = Field(None, description="Namespace of a namespaced object.")
    uid: str | None = Field(None, description="Server-assigned unique id.")
    generation: int | None = Field(None, description="Sequence number of spec changes.")
    resource_version: str | None = Field(None, description="Version for optimistic updates.")
    creation_timestamp: Timestamp | None = Field(None, description="When the object was created.")
    deletion_timestamp: Timestamp | None = Field(None, description="When deletion was requested.")
    labels: dict[str, str] = Field(default_factory=dict, description="Labels of the object.")
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations of the object."
    )


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(KubeModel):
    """One aspect of the object's state, per the Kubernetes API conventions."""

    type: StrictStr = Field(
        max_length=316,
        pattern=CONDITION_TYPE,
        description="Type of condition in CamelCase, e.g. Ready.",
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: StrictStr = Field(
        min_length=1,
        max_length=1024,
        pattern=CONDITION_REASON,
        description="Machine-readable CamelCase reason for the last transition.",
    )
    message: StrictStr = Field(
        "", max_length=32768, description="Human-readable details of the last transition."
    )
    last_transition_time: Timestamp = Field(
        description="When the condition last changed from one status to another.",
    )
    observed_generation: StrictInt | None = Field(
        None,
        ge=0,
        description="The metadata.generation the condition was computed from.",
    )


Conditions = Annotated[
    list[Condition],
    Field(
        max_length=32,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    ),
]
"""The conditions of an object, one per type."""

ObservedGeneration = Annotated[StrictInt | None, Field(ge=0)]
"""The metadata.generation that the status was last computed from."""


LABEL_GRAMMAR = "lowercase letters, digits and '-', starting and ending with a letter or digit"
LABEL_1035_GRAMMAR = (
    "lowercase letters, digits and '-', starting with a letter and ending with a letter or digit"
)


def object_name_rule(
    kind: str, max_length: int, why: str, pattern: str = DNS_LABEL, grammar: str = LABEL_GRAMMAR
) -> CelRule:
    """Root-level CEL rule restricting metadata.name beyond what Kubernetes itself requires."""
    return CelRule(
        rule=(
            f"self.metadata.name.size() <= {max_length} && self.metadata.name.matches('{pattern}')"
        ),
        message=f"metadata.name of a {kind} must be at most {max_length} {grammar}: {why}",
        field_path=".metadata.name",
    )


def name_follows_rule(name: str | None, max_length: int, pattern: str = DNS_LABEL) -> bool:
    """The Python side of `object_name_rule` (a name not yet assigned passes)."""
    return name is None or (len(name) <= max_length and re.fullmatch(pattern, name) is not None)


# Reasons every kind may report.
INVALID_SPEC: Final = "InvalidSpec"
"""The object does not parse as its model (a spec the schema let through, or a schema skew)."""
