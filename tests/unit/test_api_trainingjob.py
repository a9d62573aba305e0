"""Unit tests of the TrainingJob model: defaults, GPU counts, environment and name rules."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bench.hubkit.manifests import example
from tds_operator.api import TrainingJob
from tds_operator.api.trainingjob import RESERVED_ENV_NAMES, of_contract

pytestmark = pytest.mark.unit


def minimal_job() -> dict[str, Any]:
    """The smallest TrainingJob a consumer can submit."""
    return {
        "apiVersion": "tds.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": "tiny", "namespace": "tds-b"},
        "spec": {"contract": "a-to-b", "image": "registry.local/b/train:1"},
    }


def rejection(manifest: dict[str, Any]) -> str:
    """The validation error text for a manifest the model must reject."""
    with pytest.raises(ValidationError) as caught:
        TrainingJob.model_validate(manifest)
    return str(caught.value)


def test_example_job_parses() -> None:
    job = TrainingJob.model_validate(example("load-forecast-v1"))
    assert job.metadata.namespace == "tds-cmcc"
    assert job.spec.total_gpus == 16
    assert job.spec.command == ["torchrun", "train.py"]
    assert job.spec.env[0].name == "HF_HUB_OFFLINE"


def test_defaults() -> None:
    spec = TrainingJob.model_validate(minimal_job()).spec
    assert spec.purpose == "model-training"
    assert spec.datasets is None
    assert (spec.workers, spec.gpus_per_worker, spec.total_gpus) == (1, 1, 1)
    assert spec.max_duration_seconds == 86400
    assert spec.command is None
    assert spec.env == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("workers", 0),
        ("gpusPerWorker", 0),
        ("gpusPerWorker", -1),
        ("gpusPerWorker", 17),
        ("workers", 1025),
        ("workers", 2.0),
        ("maxDurationSeconds", 59),
        ("maxDurationSeconds", 2_592_001),
    ],
)
def test_counts_and_durations_are_bounded(field: str, value: Any) -> None:
    manifest = example("load-forecast-v1")
    manifest["spec"][field] = value
    assert field in rejection(manifest)


@pytest.mark.parametrize("name", [*RESERVED_ENV_NAMES, "TDS_CONTRACT"])
def test_rendezvous_variables_are_reserved(name: str) -> None:
    manifest = example("load-forecast-v1")
    manifest["spec"]["env"].append({"name": name, "value": "x"})
    assert "name is reserved for the operator's rendezvous settings" in rejection(manifest)


def test_env_names_are_unique_and_well_formed() -> None:
    manifest = example("load-forecast-v1")
    manifest["spec"]["env"].append({"name": "HF_HUB_OFFLINE", "value": "0"})
    assert "env names must be unique" in rejection(manifest)
    manifest = example("load-forecast-v1")
    manifest["spec"]["env"] = [{"name": "1BAD"}]
    assert "env.0.name" in rejection(manifest)


def test_datasets_are_unique_and_not_empty_when_given() -> None:
    manifest = example("load-forecast-v1")
    manifest["spec"]["datasets"] = ["grid-load-2025", "grid-load-2025"]
    assert "dataset names must be unique" in rejection(manifest)
    manifest["spec"]["datasets"] = []
    assert "datasets" in rejection(manifest)


@pytest.mark.parametrize("image", ["", "registry.local/forecast 1.0", "a\tb"])
def test_image_is_one_reference(image: str) -> None:
    manifest = example("load-forecast-v1")
    manifest["spec"]["image"] = image
    assert "image" in rejection(manifest)


def test_contract_is_required() -> None:
    manifest = example("load-forecast-v1")
    del manifest["spec"]["contract"]
    assert "contract" in rejection(manifest)


@pytest.mark.parametrize("name", ["a" * 53, "1st-run", "load.forecast", "Load"])
def test_job_name_leaves_room_for_worker_hostnames(name: str) -> None:
    manifest = example("load-forecast-v1")
    manifest["metadata"]["name"] = name
    assert "metadata.name of a TrainingJob must be at most 52" in rejection(manifest)


def test_status_parses_what_the_operator_writes() -> None:
    manifest = example("load-forecast-v1")
    manifest["status"] = {
        "phase": "Running",
        "gpuSeconds": 1234,
        "startTime": "2026-11-28T10:00:00Z",
        "job": "load-forecast-v1",
        "cleanRoom": "tds-cr-sgcc-to-cmcc-load",
        "observedGeneration": 1,
        "conditions": [
            {
                "type": "Admitted",
                "status": "True",
                "reason": "ContractActive",
                "message": "contract sgcc-to-cmcc-load is Active; 16 of 16 GPUs",
                "lastTransitionTime": "2026-11-28T09:59:58Z",
            }
        ],
    }
    status = TrainingJob.model_validate(manifest).status
    assert status is not None
    assert (status.phase, status.gpu_seconds, status.clean_room) == (
        "Running",
        1234,
        "tds-cr-sgcc-to-cmcc-load",
    )


def test_a_contracts_jobs_are_selected_by_a_field_the_crd_makes_selectable() -> None:
    field, value = of_contract("c-1").split("=")
    assert value == "c-1"
    assert "." + field in TrainingJob.SELECTABLE_FIELDS
