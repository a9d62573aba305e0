"""Unit tests of the CRD generator: structural schemas, CRD shape, determinism, --check."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, Field

from tds_operator.api import KINDS, crdgen

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
CRDS = ROOT / "crds"

# What a structural schema node may hold (apiextensions.k8s.io/v1 JSONSchemaProps we use).
ALLOWED_KEYS = set(crdgen._KEY_ORDER)


def nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node below (and including) `schema`, with its path."""
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from nodes(child, f"{path}.{name}")
    if "items" in schema:
        yield from nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from nodes(schema["additionalProperties"], f"{path}{{}}")


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """Each kind in turn."""
    return str(request.param)


@pytest.fixture
def schema(kind: str) -> dict[str, Any]:
    """The openAPIV3Schema of the kind."""
    return crdgen.openapi_schema(kind)


def test_every_field_has_a_description_and_a_type(schema: dict[str, Any]) -> None:
    for path, node in nodes(schema["properties"]["spec"], "spec"):
        assert node.get("description") or path.endswith("[]"), path
        assert "type" in node or node.get("x-kubernetes-int-or-string"), path
    for path, node in nodes(schema["properties"]["status"], "status"):
        assert node.get("description") or path.endswith("[]"), path


def test_schema_is_structural(schema: dict[str, Any]) -> None:
    for path, node in nodes(schema):
        assert set(node) <= ALLOWED_KEYS, path
        assert "$ref" not in node, path
        assert node.get("additionalProperties") is not False, path
        if "anyOf" in node:
            assert node.get("x-kubernetes-int-or-string"), path
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
        if node.get("type") == "object" and "properties" in node:
            assert set(node.get("required", [])) <= set(node["properties"]), path


def test_everything_cel_walks_is_bounded(schema: dict[str, Any]) -> None:
    for path, node in nodes(schema["properties"]["spec"], "spec"):
        if "x-kubernetes-validations" not in node:
            continue
        for inner_path, inner in nodes(node, path):
            if inner.get("type") == "string" and "format" not in inner and "enum" not in inner:
                assert "maxLength" in inner, f"{inner_path} is walked by a rule at {path}"
            if inner.get("type") == "array":
                assert "maxItems" in inner, f"{inner_path} is walked by a rule at {path}"


def test_root_holds_standard_fields_and_requires_spec(schema: dict[str, Any]) -> None:
    assert list(schema["properties"]) == ["apiVersion", "kind", "metadata", "spec", "status"]
    assert schema["properties"]["metadata"] == {
        "type": "object",
        "properties": {"name": {"type": "string"}},
    }
    assert schema["required"] == ["spec"]
    assert schema["x-kubernetes-validations"][0]["fieldPath"] == ".metadata.name"


def test_defaults_users_rely_on() -> None:
    spec = crdgen.openapi_schema("DataContract")["properties"]["spec"]["properties"]
    assert spec["purpose"]["default"] == "model-training"
    assert spec["egress"]["default"] == []
    assert spec["outputs"]["default"] == {}
    assert spec["outputs"]["properties"]["modelExport"]["default"] == "review"
    assert spec["consent"]["properties"]["provider"]["properties"]["approved"]["default"] is False
    assert spec["revoked"]["default"] is False
    job = crdgen.openapi_schema("TrainingJob")["properties"]["spec"]["properties"]
    assert (job["workers"]["default"], job["gpusPerWorker"]["default"]) == (1, 1)
    assert "default" not in job["datasets"]


def test_quantities_are_int_or_string() -> None:
    quota = crdgen.openapi_schema("DataSpace")["properties"]["spec"]["properties"]["quota"]
    cpu = quota["properties"]["cpu"]
    assert cpu["x-kubernetes-int-or-string"] is True
    assert cpu["minimum"] == 0
    assert cpu["pattern"].startswith("^")


def test_rules_users_see() -> None:
    spec = crdgen.openapi_schema("DataContract")["properties"]["spec"]
    messages = [rule["message"] for rule in spec["x-kubernetes-validations"]]
    assert any("consumer.space must differ" in message for message in messages)
    assert any("immutable once either party has consented" in message for message in messages)
    revoked = spec["properties"]["revoked"]["x-kubernetes-validations"]
    assert revoked[0]["rule"] == "!oldSelf || self"


@pytest.mark.parametrize(
    ("kind", "scope", "short_name", "columns"),
    [
        ("DataSpace", "Cluster", "space", ["Organization", "Namespace", "Ready", "Age"]),
        (
            "DataContract",
            "Cluster",
            "dc",
            ["Provider", "Consumer", "Phase", "GPU-Hours", "Budget", "Expires", "Age"],
        ),
        (
            "TrainingJob",
            "Namespaced",
            "tj",
            [
                "Contract",
                "Workers",
                "GPUs/Worker",
                "Phase",
                "Reason",
                "GPU-Hours",
                "Position",
                "Output",
                "Age",
            ],
        ),
        (
            "ModelRelease",
            "Namespaced",
            "mrel",
            ["Job", "Clause", "Review", "Phase", "Claim", "Age"],
        ),
    ],
)
def test_crd_names_scope_and_columns(
    kind: str, scope: str, short_name: str, columns: list[str]
) -> None:
    crd = crdgen.custom_resource_definition(kind)
    assert crd["spec"]["scope"] == scope
    assert crd["spec"]["group"] == "tds.io"
    assert crd["spec"]["names"]["shortNames"] == [short_name]
    assert crd["spec"]["names"]["categories"] == ["tds"]
    (version,) = crd["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    assert [column["name"] for column in version["additionalPrinterColumns"]] == columns


def test_selectable_fields() -> None:
    contract = crdgen.custom_resource_definition("DataContract")["spec"]["versions"][0]
    assert contract["selectableFields"] == [
        {"jsonPath": ".spec.provider.space"},
        {"jsonPath": ".spec.consumer.space"},
    ]
    space = crdgen.custom_resource_definition("DataSpace")["spec"]["versions"][0]
    assert "selectableFields" not in space


def test_columns_and_selectable_fields_are_the_models_own(kind: str) -> None:
    model = crdgen.MODELS[kind]
    (version,) = crdgen.custom_resource_definition(kind)["spec"]["versions"]
    assert version["additionalPrinterColumns"] == [c.to_schema() for c in model.PRINTER_COLUMNS]
    selectable = [{"jsonPath": path} for path in model.SELECTABLE_FIELDS]
    assert version.get("selectableFields", []) == selectable


def test_replaced_properties_keep_the_model_s_order_and_skip_its_checks() -> None:
    replaced = {"count": {"type": "integer"}}
    schema = crdgen.structural_schema(Undocumented, replaced=replaced)
    assert schema["properties"] == {"count": {"type": "integer"}}
    toy = crdgen.structural_schema(Toy, replaced={"count": {"type": "string"}})
    assert list(toy["properties"]) == ["count", "size"]
    assert toy["properties"]["count"] == {"type": "string"}


class Toy(BaseModel):
    """A toy model."""

    count: int | None = Field(None, description="optional count")
    size: int | str = Field(description="a quantity")


class Undocumented(BaseModel):
    """A model with a field lacking a description."""

    count: int


class Ambiguous(BaseModel):
    """A union the API server cannot represent."""

    value: int | list[int] = Field(description="either")


def test_optional_becomes_not_required_and_int_or_string_is_marked() -> None:
    schema = crdgen.structural_schema(Toy)
    assert schema["required"] == ["size"]
    assert schema["properties"]["count"] == {"description": "optional count", "type": "integer"}
    assert schema["properties"]["size"]["x-kubernetes-int-or-string"] is True


@pytest.mark.parametrize(
    ("model", "problem"), [(Undocumented, "no description"), (Ambiguous, "not structural")]
)
def test_generator_refuses_what_it_cannot_express(model: type[BaseModel], problem: str) -> None:
    with pytest.raises(crdgen.SchemaError, match=problem):
        crdgen.structural_schema(model)


def test_rendering_is_deterministic() -> None:
    assert crdgen.rendered_files() == crdgen.rendered_files()
    for text in crdgen.rendered_files().values():
        assert text.startswith(crdgen.HEADER)
        assert "&id" not in text
        assert yaml.safe_load(text)["kind"] == "CustomResourceDefinition"


def test_output_does_not_depend_on_the_process(tmp_path: Path) -> None:
    for seed in ("0", "12345"):
        subprocess.run(
            [sys.executable, "-m", "tds_operator.api.crdgen", str(tmp_path / seed)],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
    first, second = (sorted((tmp_path / seed).iterdir()) for seed in ("0", "12345"))
    assert [path.name for path in first] == [path.name for path in second]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()


def test_committed_crds_are_fresh() -> None:
    assert not crdgen.drift(CRDS), crdgen.drift(CRDS).report(CRDS)


def test_only_the_parties_copies_of_contracts_have_no_status_subresource() -> None:
    """The operator writes a Contract whole, in one apply; every other kind's status is its
    own subresource."""
    for kind in KINDS:
        version = crdgen.custom_resource_definition(kind)["spec"]["versions"][0]
        assert ("subresources" in version) == (kind != "Contract"), kind
    contract = crdgen.custom_resource_definition("Contract")
    assert contract["spec"]["scope"] == "Namespaced"
    assert contract["spec"]["names"]["plural"] == "contracts"


def test_write_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert crdgen.main([str(tmp_path)]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "tds.io_contractproposals.yaml",
        "tds.io_contracts.yaml",
        "tds.io_datacontracts.yaml",
        "tds.io_dataspaces.yaml",
        "tds.io_modelreleases.yaml",
        "tds.io_trainingjobs.yaml",
    ]
    assert crdgen.write(tmp_path) == []
    assert crdgen.main(["--check", str(tmp_path)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_check_lists_stale_missing_and_extra_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crdgen.write(tmp_path)
    (tmp_path / "tds.io_dataspaces.yaml").write_text("# edited by hand\n")
    (tmp_path / "tds.io_trainingjobs.yaml").unlink()
    (tmp_path / "tds.io_widgets.yaml").write_text("kind: CustomResourceDefinition\n")
    (tmp_path / "README.md").write_text("not a manifest\n")
    assert crdgen.main(["--check", str(tmp_path)]) == 1
    message = capsys.readouterr().err
    assert f"stale: {tmp_path / 'tds.io_dataspaces.yaml'}" in message
    assert f"missing: {tmp_path / 'tds.io_trainingjobs.yaml'}" in message
    assert f"extra (not generated): {tmp_path / 'tds.io_widgets.yaml'}" in message
    assert "README.md" not in message
    assert "make crds" in message


def test_check_of_a_missing_directory(tmp_path: Path) -> None:
    found = crdgen.drift(tmp_path / "absent")
    assert found.missing == sorted(crdgen.rendered_files())
    assert crdgen.main(["--check", str(tmp_path / "absent")]) == 1
