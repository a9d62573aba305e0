"""Unit tests of the DataSpace model: defaults, dataset rules, name rules."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bench.hubkit.manifests import example
from tds_operator.api import DataSpace, space_namespace

pytestmark = pytest.mark.unit


def minimal_space() -> dict[str, Any]:
    """The smallest DataSpace a platform team can write."""
    return {
        "apiVersion": "tds.io/v1alpha1",
        "kind": "DataSpace",
        "metadata": {"name": "tiny"},
        "spec": {
            "organization": "Tiny Org",
            "owners": [{"kind": "Group", "name": "tiny-admins"}],
            "quota": {"cpu": "1", "memory": "1Gi"},
        },
    }


def rejection(manifest: dict[str, Any]) -> str:
    """The validation error text for a manifest the model must reject."""
    with pytest.raises(ValidationError) as caught:
        DataSpace.model_validate(manifest)
    return str(caught.value)


def test_example_spaces_parse() -> None:
    space = DataSpace.model_validate(example("sgcc"))
    assert space.spec.organization == "State Grid Corporation of China"
    assert space.namespace_name == "tds-sgcc"
    dataset = space.spec.dataset("grid-load-2025")
    assert dataset is not None
    assert dataset.source.service is not None
    assert dataset.source.service.port == 8443
    assert space.spec.dataset("nothing") is None


def test_defaults() -> None:
    spec = DataSpace.model_validate(minimal_space()).spec
    assert spec.members == []
    assert spec.datasets == []
    assert (spec.quota.gpu, spec.quota.pods) == (0, 100)


def test_round_trip_keeps_the_manifest() -> None:
    manifest = example("cma")
    written = DataSpace.model_validate(manifest).to_manifest()
    assert written["spec"]["datasets"] == manifest["spec"]["datasets"]
    assert written["spec"]["quota"] == {"cpu": "64", "memory": "256Gi", "gpu": 0, "pods": 100}


@pytest.mark.parametrize(
    "source",
    [
        {},
        {
            "service": {"name": "gateway", "port": 443},
            "volume": {"claimName": "data"},
        },
    ],
)
def test_dataset_source_is_exactly_one_of_service_or_volume(source: dict[str, Any]) -> None:
    manifest = example("sgcc")
    manifest["spec"]["datasets"][0]["source"] = source
    assert "exactly one of service or volume must be set" in rejection(manifest)


def test_dataset_names_are_unique() -> None:
    manifest = example("sgcc")
    manifest["spec"]["datasets"][1]["name"] = "grid-load-2025"
    assert "dataset names must be unique" in rejection(manifest)


def test_classification_has_no_default() -> None:
    manifest = example("cma")
    del manifest["spec"]["datasets"][0]["classification"]
    assert "classification" in rejection(manifest)


@pytest.mark.parametrize("sub_path", ["/etc", "../other", "a/../b", "a//b", ".hidden"])
def test_volume_sub_path_stays_inside_the_volume(sub_path: str) -> None:
    manifest = example("cma")
    manifest["spec"]["datasets"][0]["source"]["volume"]["subPath"] = sub_path
    assert "subPath" in rejection(manifest)


def test_a_space_needs_an_owner() -> None:
    manifest = minimal_space()
    manifest["spec"]["owners"] = []
    assert "owners" in rejection(manifest)


def test_subjects_are_users_or_groups() -> None:
    manifest = minimal_space()
    manifest["spec"]["owners"] = [{"kind": "ServiceAccount", "name": "robot"}]
    assert "owners.0.kind" in rejection(manifest)


@pytest.mark.parametrize("name", ["a" * 60, "grid.sgcc", "Sgcc", "-sgcc"])
def test_space_name_must_fit_its_namespace(name: str) -> None:
    manifest = minimal_space()
    manifest["metadata"]["name"] = name
    assert "metadata.name of a DataSpace must be at most 59" in rejection(manifest)


def test_space_namespace() -> None:
    assert space_namespace("cmcc") == "tds-cmcc"
    assert DataSpace.model_validate(minimal_space()).namespace_name == "tds-tiny"


def test_status_parses_what_the_operator_writes() -> None:
    manifest = minimal_space()
    manifest["status"] = {
        "namespace": "tds-tiny",
        "datasets": 0,
        "observedGeneration": 2,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Provisioned",
                "message": "namespace, quota, policies and RBAC in place",
                "lastTransitionTime": "2026-11-28T10:00:00Z",
                "observedGeneration": 2,
            }
        ],
    }
    status = DataSpace.model_validate(manifest).status
    assert status is not None
    assert status.conditions[0].reason == "Provisioned"


@pytest.mark.parametrize("name", ["cr-rail", "cr-1", "system"])
def test_names_of_the_operators_own_namespaces_are_reserved(name: str) -> None:
    manifest = minimal_space()
    manifest["metadata"]["name"] = name
    assert "metadata.name of a DataSpace may not start with cr-" in rejection(manifest)


@pytest.mark.parametrize("name", ["crrail", "rail-cr-x", "systems", "acr-x"])
def test_names_merely_resembling_reserved_ones_are_fine(name: str) -> None:
    manifest = minimal_space()
    manifest["metadata"]["name"] = name
    assert DataSpace.model_validate(manifest).metadata.name == name
