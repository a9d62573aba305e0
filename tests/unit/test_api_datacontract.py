"""Unit tests of the DataContract model: defaults, cross-field rules, contract terms."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bench.hubkit.manifests import example
from tds_operator.api import DataContract
from tds_operator.api.terms import is_cidr

pytestmark = pytest.mark.unit


def minimal_contract() -> dict[str, Any]:
    """The smallest DataContract a provider can propose."""
    return {
        "apiVersion": "tds.io/v1alpha1",
        "kind": "DataContract",
        "metadata": {"name": "a-to-b"},
        "spec": {
            "provider": {"space": "a", "datasets": ["d"]},
            "consumer": {"space": "b"},
            "validity": {"notAfter": "2027-01-01T00:00:00Z"},
            "compute": {"maxGpuHours": 1, "maxConcurrentGpus": 1},
        },
    }


def rejection(manifest: dict[str, Any]) -> str:
    """The validation error text for a manifest the model must reject."""
    with pytest.raises(ValidationError) as caught:
        DataContract.model_validate(manifest)
    return str(caught.value)


def test_example_contract_parses() -> None:
    spec = DataContract.model_validate(example("sgcc-to-cmcc-load")).spec
    assert spec.provider.datasets == ["grid-load-2025", "grid-load-2024"]
    assert spec.compute.max_concurrent_gpus == 16
    assert spec.egress[0].ports == [443]
    assert spec.consent.provider.approved
    assert not spec.consent.consumer.approved


def test_defaults() -> None:
    spec = DataContract.model_validate(minimal_contract()).spec
    assert spec.purpose == "model-training"
    assert spec.validity.not_before is None
    assert spec.max_jobs is None
    assert spec.egress == []
    assert spec.outputs.model_export == "review"
    assert not spec.consent.provider.approved
    assert not spec.consent.consumer.approved
    assert spec.revoked is False
    assert not spec.has_any_consent()


def test_a_space_cannot_contract_with_itself() -> None:
    manifest = example("sgcc-to-cmcc-load")
    manifest["spec"]["consumer"]["space"] = "sgcc"
    assert "consumer.space must differ from provider.space" in rejection(manifest)


@pytest.mark.parametrize("not_after", ["2026-11-15T00:00:00Z", "2026-11-14T23:59:59Z"])
def test_not_after_must_be_after_not_before(not_after: str) -> None:
    manifest = example("sgcc-to-cmcc-load")
    manifest["spec"]["validity"]["notAfter"] = not_after
    assert "notAfter must be after notBefore" in rejection(manifest)


def test_window_compares_instants_not_text() -> None:
    manifest = example("sgcc-to-cmcc-load")
    manifest["spec"]["validity"] = {
        "notBefore": "2027-01-01T08:00:00+08:00",
        "notAfter": "2027-01-01T00:00:01Z",
    }
    assert DataContract.model_validate(manifest).spec.validity.not_after is not None


def test_provider_datasets_are_unique_and_not_empty() -> None:
    manifest = example("sgcc-to-cmcc-load")
    manifest["spec"]["provider"]["datasets"] = ["grid-load-2025", "grid-load-2025"]
    assert "dataset names must be unique" in rejection(manifest)
    manifest["spec"]["provider"]["datasets"] = []
    assert "provider.datasets" in rejection(manifest)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("maxGpuHours", 0),
        ("maxGpuHours", -0.5),
        ("maxConcurrentGpus", 0),
        ("maxConcurrentGpus", -8),
        ("maxConcurrentGpus", 1.5),
        ("maxGpuHours", "500"),
        ("maxConcurrentGpus", True),
    ],
)
def test_compute_budget_is_positive_gpus_whole(field: str, value: Any) -> None:
    manifest = example("sgcc-to-cmcc-load")
    manifest["spec"]["compute"][field] = value
    assert f"compute.{field}" in rejection(manifest)


@pytest.mark.parametrize(
    ("cidr", "valid"),
    [
        ("10.20.30.0/24", True),
        ("10.20.30.1/24", True),
        ("0.0.0.0/0", True),
        ("fd00::/8", True),
        ("::1.2.3.4/128", True),
        ("10.0.0.0", False),
        ("10.0.0.0/33", False),
        ("10.0.0.0/08", False),
        ("010.0.0.0/8", False),
        ("::ffff:10.0.0.0/104", False),
        ("::ffff:a00:0/104", False),
        ("fd00::/129", False),
        ("example.com/24", False),
    ],
)
def test_egress_cidr(cidr: str, valid: bool) -> None:
    assert is_cidr(cidr) is valid
    manifest = example("sgcc-to-cmcc-load")
    manifest["spec"]["egress"][0]["cidr"] = cidr
    if valid:
        DataContract.model_validate(manifest)
    else:
        assert "cidr" in rejection(manifest)


def test_egress_ports_are_unique_and_valid() -> None:
    manifest = example("sgcc-to-cmcc-load")
    manifest["spec"]["egress"][0]["ports"] = [443, 443]
    assert "ports must be unique" in rejection(manifest)
    manifest["spec"]["egress"][0]["ports"] = [0]
    assert "ports.0" in rejection(manifest)
    manifest["spec"]["egress"][0]["ports"] = []
    assert "ports" in rejection(manifest)


def test_enumerations_are_closed() -> None:
    manifest = example("sgcc-to-cmcc-load")
    manifest["spec"]["purpose"] = "marketing"
    assert "purpose" in rejection(manifest)
    manifest = example("sgcc-to-cmcc-load")
    manifest["spec"]["outputs"]["modelExport"] = "sometimes"
    assert "modelExport" in rejection(manifest)


def test_revoked_and_consent_are_booleans() -> None:
    manifest = example("sgcc-to-cmcc-load")
    manifest["spec"]["revoked"] = "yes"
    assert "revoked" in rejection(manifest)
    manifest = example("sgcc-to-cmcc-load")
    manifest["spec"]["consent"]["consumer"]["approved"] = 1
    assert "approved" in rejection(manifest)


def test_contract_terms_leave_out_consent_and_revocation() -> None:
    spec = DataContract.model_validate(example("sgcc-to-cmcc-load")).spec
    terms = spec.contract_terms()
    assert set(terms) == {
        "provider",
        "consumer",
        "purpose",
        "validity",
        "compute",
        "maxJobs",
        "egress",
        "outputs",
    }
    approved = spec.model_copy(update={"revoked": True})
    assert approved.contract_terms() == terms
    assert spec.has_any_consent()


@pytest.mark.parametrize("name", ["a" * 64, "sgcc.to.cmcc", "SGCC"])
def test_contract_name_is_a_label_value(name: str) -> None:
    manifest = example("sgcc-to-cmcc-load")
    manifest["metadata"]["name"] = name
    assert "metadata.name of a DataContract" in rejection(manifest)


def test_status_parses_what_the_operator_writes() -> None:
    manifest = example("sgcc-to-cmcc-load")
    digest = "sha256:" + "ab" * 32
    manifest["status"] = {
        "phase": "Active",
        "usage": {"gpuHours": 12.5, "jobs": 3},
        "signatures": [
            {
                "party": "provider",
                "user": "alice",
                "groups": ["sgcc-admins"],
                "at": "2026-11-20T09:00:00Z",
                "specDigest": digest,
            }
        ],
        "audit": {"head": digest, "entries": 42},
        "activeSince": "2026-11-21T00:00:00Z",
        "expiresAt": "2027-03-15T00:00:00Z",
        "observedGeneration": 1,
    }
    status = DataContract.model_validate(manifest).status
    assert status is not None
    assert status.usage is not None
    assert status.usage.gpu_hours == 12.5
    assert status.signatures[0].spec_digest == digest


def test_gpu_hour_budget_may_be_a_fraction() -> None:
    manifest = example("sgcc-to-cmcc-load")
    manifest["spec"]["compute"]["maxGpuHours"] = 0.25
    assert DataContract.model_validate(manifest).spec.compute.max_gpu_hours == 0.25
