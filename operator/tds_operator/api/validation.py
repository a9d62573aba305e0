"""What the API server and pydantic both check: name grammars and CEL rules with their Python twins.

The grammars are written for RE2 and Rust regex alike, so that both read them the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Kubernetes name grammars (k8s.io/apimachinery/pkg/util/validation).
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_1035_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# A non-negative resource.Quantity ("500m", "1.5", "64Gi", "1e3"); negative quotas make no sense.
QUANTITY = (
    r"^(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
# A whole, positive number of bytes as a quantity ("10Gi", "500M", "1073741824").
BYTE_QUANTITY = r"^[1-9][0-9]*([KMGTPE]i|[kMGTPE])?$"
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

# The same grammars in words, for messages users read.
LABEL_GRAMMAR = "lowercase letters, digits and '-', starting and ending with a letter or digit"
LABEL_1035_GRAMMAR = (
    "lowercase letters, digits and '-', starting with a letter and ending with a letter or digit"
)


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
