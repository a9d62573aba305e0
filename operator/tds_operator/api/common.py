"""Shared building blocks of the four kinds: base model, CEL rules, names, conditions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, Final, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    StrictStr,
    model_validator,
)
from pydantic.alias_generators import to_camel

from tds_operator import API_VERSION
from tds_operator.api.rfc3339 import format_precise
from tds_operator.api.validation import (
    CONDITION_REASON,
    CONDITION_TYPE,
    DNS_LABEL,
    QUANTITY,
    RFC3339,
    CelRule,
    cel_rules,
    name_follows_rule,
)

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
class PrinterColumn:
    """One `additionalPrinterColumns` entry: a column of `kubectl get`."""

    name: str
    json_path: str
    type: str
    description: str

    def to_schema(self) -> dict[str, str]:
        """The column as it appears in the CRD."""
        return {
            "name": self.name,
            "type": self.type,
            "jsonPath": self.json_path,
            "description": self.description,
        }


AGE_COLUMN = PrinterColumn(
    "Age", ".metadata.creationTimestamp", "date", "Time since the object was created."
)
"""The last column of every kind, as kubectl shows for built-in kinds."""


def _parse_rfc3339(value: Any) -> Any:
    """Accept datetimes and RFC 3339 strings only, as the API server's date-time format does."""
    if isinstance(value, str) and not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time with a zone, such as 2027-03-01T00:00:00Z")
    if not isinstance(value, str | datetime):
        raise ValueError("must be an RFC 3339 date-time string")
    return value


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_parse_rfc3339),
    PlainSerializer(format_precise, return_type=str),
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


class ObjectMeta(KubeModel):
    """The metadata fields the operator reads; everything else is ignored."""

    # No descriptions: the CRDs declare the API server's own metadata schema, not this model's.

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    creation_timestamp: Timestamp | None = None
    deletion_timestamp: Timestamp | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


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


def _place_observed_fields(schema: dict[str, Any], model: type[Any]) -> None:
    """Describe `conditions` for the kind and put both observed fields where the kind wants them.

    pydantic lists inherited fields first; the CRDs list a kind's own status fields first, then
    these two, then the kind's `OBSERVED_BEFORE` field and those after it.
    """
    properties: dict[str, Any] = schema["properties"]
    observed = {key: properties.pop(key) for key in list(properties) if key in _OBSERVED_KEYS}
    observed["conditions"]["description"] = model.CONDITIONS_DESCRIPTION
    keys = list(properties)
    before = model.OBSERVED_BEFORE
    at = len(keys)
    if before is not None:
        field = model.model_fields[before]
        at = keys.index(field.alias if field.alias in properties else before)
    ordered = {key: properties[key] for key in keys[:at]}
    ordered.update(observed)
    ordered.update({key: properties[key] for key in keys[at:]})
    schema["properties"] = ordered


class ObservedStatus(KubeModel):
    """Base of every kind's status: its conditions and the generation they were computed from."""

    model_config = ConfigDict(json_schema_extra=_place_observed_fields)

    CONDITIONS_DESCRIPTION: ClassVar[str] = "Conditions of the object, one per type."
    """What the kind's conditions are; the CRD's description of status.conditions."""
    OBSERVED_BEFORE: ClassVar[str | None] = None
    """The kind's own status field that the observed fields precede in the CRD (None: last)."""

    conditions: Conditions = Field(default_factory=list, description=CONDITIONS_DESCRIPTION)
    observed_generation: ObservedGeneration = Field(
        None, description="The metadata.generation this status was computed from."
    )


_OBSERVED_KEYS = {
    key for name, info in ObservedStatus.model_fields.items() for key in (name, info.alias)
}


def _name_rule_schema(schema: dict[str, Any], model: type[Any]) -> None:
    """Attach the kind's metadata.name rules at the root, where the API server evaluates them."""
    reserved = (model.RESERVED_NAME_RULE,) if model.RESERVED_NAME_RULE else ()
    schema.update(cel_rules(model.NAME_RULE, *reserved))


class CustomResource(KubeModel):
    """Base of the three kinds' root models: type, metadata, and what the kind asks of its name.

    Each kind sets the ClassVars: how long and in which grammar its metadata.name may be (checked
    here, and by the API server through NAME_RULE) and what `kubectl get` shows of it.
    """

    model_config = ConfigDict(json_schema_extra=_name_rule_schema)

    NAME_MAX_LENGTH: ClassVar[int]
    NAME_PATTERN: ClassVar[str] = DNS_LABEL
    NAME_RULE: ClassVar[CelRule]
    RESERVED_NAME_RULE: ClassVar[CelRule | None] = None
    """Names the kind may not take (its CEL rule; `name_is_reserved` is the Python side)."""
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]]
    SELECTABLE_FIELDS: ClassVar[tuple[str, ...]] = ()
    """JSON paths clients may filter a list by (`kubectl get --field-selector`)."""
    STATUS_SUBRESOURCE: ClassVar[bool] = True
    """Whether status is a subresource (False: whoever writes the object writes its status)."""

    # No descriptions: the CRDs declare the API server's own apiVersion, kind and metadata.
    api_version: StrictStr = Field(API_VERSION, pattern=f"^{re.escape(API_VERSION)}$")
    kind: StrictStr
    metadata: ObjectMeta

    @model_validator(mode="after")
    def _name_follows_rule(self) -> Self:
        name = self.metadata.name
        if not name_follows_rule(name, self.NAME_MAX_LENGTH, self.NAME_PATTERN):
            raise ValueError(self.NAME_RULE.message)
        if self.RESERVED_NAME_RULE and name is not None and self.name_is_reserved(name):
            raise ValueError(self.RESERVED_NAME_RULE.message)
        return self

    @classmethod
    def name_is_reserved(cls, name: str) -> bool:
        """Whether the operator keeps this name for itself (none by default)."""
        return False


# Reasons every kind may report.
INVALID_SPEC: Final = "InvalidSpec"
"""The object does not parse as its model (a spec the schema let through, or a schema skew)."""
