"""Unit tests of the shared API building blocks: timestamps, quantities, conditions, resources."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from pydantic import Field, ValidationError

from tds_operator import API_VERSION
from tds_operator.api import (
    RESOURCES,
    Condition,
    CustomResource,
    DataContract,
    DataSpace,
    KubeModel,
    ObservedStatus,
    TrainingJob,
    resource_for,
)
from tds_operator.api.common import AGE_COLUMN, Timestamp
from tds_operator.api.dataspace import SpaceQuota
from tds_operator.api.validation import (
    DNS_1035_LABEL,
    LABEL_1035_GRAMMAR,
    CelRule,
    name_follows_rule,
    object_name_rule,
    unique,
    unique_values_rule,
)

pytestmark = pytest.mark.unit


class Stamped(KubeModel):
    """A model with one timestamp, to test the Timestamp type alone."""

    at: Timestamp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-03-01T00:00:00Z", datetime(2027, 3, 1, tzinfo=UTC)),
        ("2027-03-01T08:00:00+08:00", datetime(2027, 3, 1, tzinfo=UTC)),
        ("2027-03-01T00:00:00.5Z", datetime(2027, 3, 1, 0, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_timestamp_accepts_rfc3339_with_zone(text: str, expected: datetime) -> None:
    assert Stamped.model_validate({"at": text}).at == expected


@pytest.mark.parametrize(
    "value",
    [
        "2027-03-01",
        "2027-03-01T00:00:00",
        "2027-03-01 00:00:00Z",
        "2027-03-01T00:00:60Z",
        "2027-03-01T00:00:00.1234567Z",
        "2027-02-30T00:00:00Z",
        "tomorrow",
        1_800_000_000,
        True,
    ],
)
def test_timestamp_rejects_what_the_api_server_rejects(value: Any) -> None:
    with pytest.raises(ValidationError):
        Stamped.model_validate({"at": value})


def test_timestamp_is_written_in_utc_with_z() -> None:
    stamped = Stamped.model_validate({"at": "2027-03-01T08:00:00+08:00"})
    assert stamped.to_manifest() == {"at": "2027-03-01T00:00:00Z"}


@pytest.mark.parametrize("value", ["256", 256, 0, "1Ti", "500m", "1.5", "64Gi", "1e3", ".5"])
def test_quantity_accepts_non_negative_quantities(value: int | str) -> None:
    assert SpaceQuota.model_validate({"cpu": value, "memory": value}).cpu == value


@pytest.mark.parametrize("value", [-1, "-1", "1TB", "", "one", True, 1.5, None])
def test_quantity_rejects_negative_and_malformed_values(value: Any) -> None:
    with pytest.raises(ValidationError):
        SpaceQuota.model_validate({"cpu": value, "memory": "1Gi"})


def test_condition_follows_api_conventions() -> None:
    condition = Condition.model_validate(
        {
            "type": "Ready",
            "status": "True",
            "reason": "NamespaceReady",
            "lastTransitionTime": "2026-11-28T10:00:00Z",
            "observedGeneration": 3,
        }
    )
    assert condition.message == ""
    assert condition.to_manifest()["observedGeneration"] == 3


@pytest.mark.parametrize(
    ("field", "value"),
    [("status", "Maybe"), ("reason", "not a reason"), ("reason", ""), ("type", "-Ready")],
)
def test_condition_rejects_malformed_fields(field: str, value: str) -> None:
    manifest = {
        "type": "Ready",
        "status": "True",
        "reason": "NamespaceReady",
        "lastTransitionTime": "2026-11-28T10:00:00Z",
        field: value,
    }
    with pytest.raises(ValidationError):
        Condition.model_validate(manifest)


def test_unknown_fields_are_ignored_on_parse() -> None:
    quota = SpaceQuota.model_validate({"cpu": "1", "memory": "1Gi", "storage": "1Ti"})
    assert "storage" not in quota.to_manifest()


def test_models_accept_python_names_and_write_camel_case() -> None:
    condition = Condition(
        type="Ready",
        status="False",
        reason="Pending",
        last_transition_time=datetime(2026, 11, 28, tzinfo=UTC),
    )
    assert "lastTransitionTime" in condition.to_manifest()
    assert "observedGeneration" not in condition.to_manifest()


def test_cel_rule_renders_only_what_is_set() -> None:
    assert CelRule("self > 0", "must be positive").to_schema() == {
        "rule": "self > 0",
        "message": "must be positive",
    }
    assert CelRule("x", "m", field_path=".a", reason="FieldValueInvalid").to_schema() == {
        "rule": "x",
        "message": "m",
        "fieldPath": ".a",
        "reason": "FieldValueInvalid",
    }


def test_unique_values_rule_compares_the_key_field() -> None:
    rule = unique_values_rule("dataset names", key="name")
    assert rule.rule == "self.all(x, self.exists_one(y, y.name == x.name))"
    assert rule.message == "dataset names must be unique"
    assert unique(["a", "b"])
    assert not unique(["a", "b", "a"])


@pytest.mark.parametrize(
    ("name", "follows"),
    [(None, True), ("sgcc", True), ("a" * 59, True), ("a" * 60, False), ("a.b", False)],
)
def test_name_rule(name: str | None, follows: bool) -> None:
    assert name_follows_rule(name, 59) is follows


def test_resources_name_every_kind() -> None:
    assert {kind: (r.plural, r.short_name, r.namespaced) for kind, r in RESOURCES.items()} == {
        "DataSpace": ("dataspaces", "space", False),
        "DataContract": ("datacontracts", "dc", False),
        "TrainingJob": ("trainingjobs", "tj", True),
        "ModelRelease": ("modelreleases", "mrel", True),
        "Contract": ("contracts", "ctr", True),
        "ContractProposal": ("contractproposals", "cprop", True),
    }
    job = resource_for("TrainingJob")
    assert (job.group, job.version, job.api_version) == ("tds.io", "v1alpha1", "tds.io/v1alpha1")
    assert job.crd_name == "trainingjobs.tds.io"
    assert job.singular == "trainingjob"
    with pytest.raises(KeyError):
        resource_for("Pod")


KUBECTL_BUILTIN_NAMES = frozenset(
    [
        "cs",
        "cm",
        "ds",
        "deploy",
        "ep",
        "ev",
        "hpa",
        "ing",
        "limits",
        "ns",
        "no",
        "pvc",
        "pv",
        "po",
        "pdb",
        "pc",
        "psp",
        "rs",
        "rc",
        "quota",
        "sa",
        "svc",
        "csr",
        "crd",
        "netpol",
        "sc",
        "sts",
        "cj",
        "ingclass",
        "csidrivers",
        "csinodes",
        "mutatingwebhookconfigurations",
        "pods",
        "services",
        "events",
        "nodes",
        "jobs",
        "secrets",
    ]
)
"""Short names (and a few plurals) that kubectl resolves to a built-in resource first."""


def test_short_names_are_not_taken_by_kubectl_builtins() -> None:
    for resource in RESOURCES.values():
        assert resource.short_name not in KUBECTL_BUILTIN_NAMES, resource.kind


class Widget(CustomResource):
    """A made-up kind whose names are short DNS-1035 labels."""

    NAME_MAX_LENGTH = 8
    NAME_PATTERN = DNS_1035_LABEL
    NAME_RULE = object_name_rule(
        "Widget", 8, "it is short", pattern=DNS_1035_LABEL, grammar=LABEL_1035_GRAMMAR
    )
    PRINTER_COLUMNS = (AGE_COLUMN,)

    kind: Literal["Widget"] = "Widget"


@pytest.mark.parametrize(
    ("name", "follows"),
    [(None, True), ("abc", True), ("a" * 8, True), ("a" * 9, False), ("1a", False)],
)
def test_the_name_rule_comes_from_the_kind_s_class_vars(name: str | None, follows: bool) -> None:
    body = {"metadata": {"name": name}}
    if follows:
        assert Widget.model_validate(body).metadata.name == name
    else:
        with pytest.raises(ValidationError, match=r"metadata\.name of a Widget must be at most 8"):
            Widget.model_validate(body)


def test_a_custom_resource_knows_its_type_and_refuses_another() -> None:
    widget = Widget.model_validate({"metadata": {"name": "w"}})
    assert (widget.api_version, widget.kind) == (API_VERSION, "Widget")
    assert widget.to_manifest()["apiVersion"] == API_VERSION
    for wrong in ({"apiVersion": "tds.io/v1"}, {"kind": "Gadget"}):
        with pytest.raises(ValidationError):
            Widget.model_validate({"metadata": {"name": "w"}, **wrong})


def test_the_name_rule_is_attached_at_the_root_of_the_schema() -> None:
    rules = Widget.model_json_schema()["x-kubernetes-validations"]
    assert rules == [Widget.NAME_RULE.to_schema()]


@pytest.mark.parametrize("model", [DataSpace, DataContract, TrainingJob])
def test_each_kind_s_cel_name_rule_says_what_python_checks(model: type[CustomResource]) -> None:
    rule = model.NAME_RULE.rule
    assert f"size() <= {model.NAME_MAX_LENGTH}" in rule
    assert f"matches('{model.NAME_PATTERN}')" in rule


class GadgetStatus(ObservedStatus):
    """Conditions after the kind's own fields (the default)."""

    CONDITIONS_DESCRIPTION = "Gadget conditions."

    phase: str | None = Field(None, description="Phase.")


class GizmoStatus(ObservedStatus):
    """Conditions placed before a named field of the kind's own."""

    OBSERVED_BEFORE = "since"

    phase: str | None = Field(None, description="Phase.")
    since: str | None = Field(None, description="Since.")
    until: str | None = Field(None, description="Until.")


def test_observed_fields_follow_the_kind_s_own_status_fields_in_the_schema() -> None:
    schema = GadgetStatus.model_json_schema()
    assert list(schema["properties"]) == ["phase", "conditions", "observedGeneration"]
    assert schema["properties"]["conditions"]["description"] == "Gadget conditions."
    snake = GadgetStatus.model_json_schema(by_alias=False)
    assert list(snake["properties"]) == ["phase", "conditions", "observed_generation"]


def test_observed_fields_can_precede_a_named_field() -> None:
    schema = GizmoStatus.model_json_schema()
    assert list(schema["properties"]) == [
        "phase",
        "conditions",
        "observedGeneration",
        "since",
        "until",
    ]
    assert (
        schema["properties"]["conditions"]["description"] == ObservedStatus.CONDITIONS_DESCRIPTION
    )


def test_observed_status_parses_conditions_and_generation() -> None:
    status = GadgetStatus.model_validate(
        {
            "phase": "Ready",
            "observedGeneration": 3,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Provisioned",
                    "lastTransitionTime": "2027-01-01T00:00:00Z",
                }
            ],
        }
    )
    assert status.observed_generation == 3
    assert [condition.type for condition in status.conditions] == ["Ready"]
    assert GadgetStatus().conditions == []
    with pytest.raises(ValidationError):
        GadgetStatus.model_validate({"observedGeneration": -1})
