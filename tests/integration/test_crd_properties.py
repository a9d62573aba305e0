"""Property: on manifests generated from the models, the API server and the models agree."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ValidationError

from bench.hubkit.manifests import API_VERSION
from tds_operator.api import crdgen
from tds_operator.api.common import DNS_LABEL, RFC3339
from tests.integration.crds import create

pytestmark = pytest.mark.integration

Json = Any
Schema = dict[str, Any]

# A few names that collide often, so uniqueness and "provider differs from consumer" get exercised.
NAMES = st.sampled_from(["a", "b", "grid-load", "d-2025", "x9"])
CIDRS = st.sampled_from(
    [
        "10.20.30.0/24",
        "10.20.30.7/24",
        "0.0.0.0/0",
        "fd00::/8",
        "::1.2.3.4/128",
        "::ffff:10.0.0.0/104",
        "10.0.0.0/33",
        "256.0.0.0/8",
        "1.2.3/24",
        "fd00::1::/64",
    ]
)
QUANTITIES = st.one_of(
    st.integers(0, 4096),
    st.sampled_from(["1", "500m", "64Gi", "1.5", "2Ti", "1e3", ".5", "1Ki"]),
)
ENV_NAMES = st.one_of(
    st.sampled_from(["HF_HOME", "EPOCHS", "MASTER_ADDR", "RANK", "TDS_TOKEN", "a.b-c"]),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True),
)
LETTERS = st.characters(codec="utf-8", categories=("L", "N", "P", "Zs"))


def timestamps() -> st.SearchStrategy[str]:
    """RFC 3339 instants, in UTC or at +08:00, between 2025 and 2028."""
    seconds = st.integers(1_735_689_600, 1_830_297_600)
    utc = seconds.map(lambda s: _format(s, "Z"))
    beijing = seconds.map(lambda s: _format(s, "+08:00"))
    return st.one_of(utc, beijing)


def _format(epoch: int, zone: str) -> str:
    """An epoch second written as RFC 3339 in the given zone."""
    moment = datetime.fromtimestamp(epoch, UTC)
    if zone != "Z":
        moment = moment + timedelta(hours=8)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + zone


def from_schema(node: Schema, name: str = "") -> st.SearchStrategy[Json]:
    """Values that mostly satisfy a structural schema node (CEL rules are left to chance)."""
    if node.get("x-kubernetes-int-or-string"):
        return QUANTITIES
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        low = node.get("minimum", 0)
        return st.integers(low, min(node.get("maximum", low + 10_000), low + 100))
    if kind == "string":
        return _strings(node, name)
    if kind == "array":
        return st.lists(
            from_schema(node["items"], name),
            min_size=node.get("minItems", 0),
            max_size=min(node.get("maxItems", 3), 3),
        )
    return _objects(node)


def _strings(node: Schema, name: str) -> st.SearchStrategy[str]:
    """Strings for a schema node, with realistic values for the patterns we know."""
    pattern = node.get("pattern")
    if node.get("format") == "date-time" or pattern == RFC3339:
        return timestamps()
    if name == "cidr":
        return CIDRS
    if name == "name" and "A-Z" in str(pattern):
        return ENV_NAMES
    if pattern == DNS_LABEL:
        return NAMES
    if pattern is None:
        return st.text(LETTERS, min_size=node.get("minLength", 0), max_size=12)
    return st.from_regex(str(pattern), fullmatch=True).filter(
        lambda s: node.get("minLength", 0) <= len(s) <= node.get("maxLength", 64)
    )


def _objects(node: Schema) -> st.SearchStrategy[dict[str, Json]]:
    """Objects with every required property and a random choice of the optional ones."""
    required = set(node.get("required", []))
    properties = node.get("properties", {})
    return st.fixed_dictionaries(
        {key: from_schema(child, key) for key, child in properties.items() if key in required},
        optional={
            key: from_schema(child, key) for key, child in properties.items() if key not in required
        },
    )


def _locations(value: Json, node: Schema, path: tuple[Any, ...] = ()) -> list[Any]:
    """Every (path, value, schema node) in a generated value, for choosing what to mutate."""
    found = [(path, value, node)]
    if isinstance(value, dict):
        for key, child in value.items():
            if key in node.get("properties", {}):
                found += _locations(child, node["properties"][key], (*path, key))
    elif isinstance(value, list) and "items" in node:
        for index, child in enumerate(value):
            found += _locations(child, node["items"], (*path, index))
    return found


def _wrong_values(value: Json, node: Schema) -> list[Json]:
    """Values that break the node's schema in one way or another (or, for unknown fields, not)."""
    wrong: list[Json] = []
    kind = node.get("type")
    if kind == "integer" or node.get("x-kubernetes-int-or-string"):
        wrong += [node.get("minimum", 0) - 1, 1.5, True]
        if "maximum" in node:
            wrong.append(node["maximum"] + 1)
    if kind == "integer":
        wrong.append(str(value))
    if kind == "string":
        wrong += [42, "", "Not Valid!", "x" * (node.get("maxLength", 300) + 1)]
    if kind == "boolean":
        wrong += ["true", 1]
    if kind == "array":
        wrong += [{}, [*value, *value[:1]]]
        if value and "maxItems" in node:
            wrong.append(value * (node["maxItems"] // len(value) + 1))
    if kind == "object":
        wrong += [[], "object"]
        wrong += [
            {k: v for k, v in value.items() if k != gone} for gone in node.get("required", [])
        ]
        wrong.append({**value, "unknownField": 1})
    if "enum" in node:
        wrong.append("bogus")
    return wrong


@st.composite
def manifests(draw: st.DrawFn, kind: str) -> dict[str, Json]:
    """A manifest of a kind generated from its model's schema, mutated at one place or not."""
    spec_schema = crdgen.openapi_schema(kind)["properties"]["spec"]
    spec = draw(from_schema(spec_schema))
    if draw(st.booleans()):
        locations = _locations(spec, spec_schema)
        path, value, node = draw(st.sampled_from(locations))
        wrong = _wrong_values(value, node)
        if wrong:
            replacement = draw(st.sampled_from(wrong))
            if path:
                target = spec
                for part in path[:-1]:
                    target = target[part]
                target[path[-1]] = replacement
            else:
                spec = replacement
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": f"p-{uuid.uuid4().hex[:12]}"},
        "spec": spec,
    }


def _verdicts(
    objects: client.CustomObjectsApi, model: type[BaseModel], manifest: dict[str, Json]
) -> tuple[BaseModel | str, dict[str, Json] | str]:
    """What pydantic and the API server make of a manifest: the object, or the error."""
    try:
        parsed: BaseModel | str = model.model_validate(manifest)
    except ValidationError as error:
        parsed = str(error)
    try:
        served: dict[str, Json] | str = create(objects, manifest, field_validation="Ignore")
    except ApiException as error:
        if error.status != 422:
            raise
        served = str(json.loads(error.body or "{}").get("message"))
    return parsed, served


def _check_agreement(
    objects: client.CustomObjectsApi, kind: str, manifest: dict[str, Json]
) -> None:
    """The API server and the model both accept (with the same result) or both reject."""
    model = crdgen.MODELS[kind]
    parsed, served = _verdicts(objects, model, manifest)
    shown = json.dumps(manifest, indent=1)
    event("API server " + ("rejected" if isinstance(served, str) else "accepted"))
    if isinstance(parsed, str) or isinstance(served, str):
        assert isinstance(parsed, str) == isinstance(served, str), (
            f"disagreement on {shown}\nmodel: {parsed}\nAPI server: {served}"
        )
        return
    served_spec = getattr(model.model_validate(served), "spec", None)
    assert served_spec == getattr(parsed, "spec", None), (
        f"defaults differ on {shown}\nserver made: {json.dumps(served['spec'])}"
    )


PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("TDS_PROPERTY_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@PROPERTY_SETTINGS
@given(manifest=manifests("DataSpace"))
def test_data_space_model_and_server_agree(
    objects: client.CustomObjectsApi, manifest: dict[str, Json]
) -> None:
    _check_agreement(objects, "DataSpace", manifest)


@PROPERTY_SETTINGS
@given(manifest=manifests("DataContract"))
def test_data_contract_model_and_server_agree(
    objects: client.CustomObjectsApi, manifest: dict[str, Json]
) -> None:
    _check_agreement(objects, "DataContract", manifest)


@PROPERTY_SETTINGS
@given(manifest=manifests("TrainingJob"))
def test_training_job_model_and_server_agree(
    objects: client.CustomObjectsApi, job_namespace: str, manifest: dict[str, Json]
) -> None:
    manifest["metadata"]["namespace"] = job_namespace
    _check_agreement(objects, "TrainingJob", manifest)
