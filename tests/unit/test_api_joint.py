"""Unit tests of the joint-training API: a TrainingJob naming several contracts, and the
contract term that says whether (and with whom) a provider's data may be trained together."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bench.hubkit.manifests import example
from tds_operator.api import DataContract, TrainingJob
from tds_operator.api.jobcontracts import MAX_JOINT_CONTRACTS, contracts_of
from tds_operator.api.terms import JointTraining
from tds_operator.policy.contract import spec_digest

pytestmark = pytest.mark.unit


def job(**spec: Any) -> dict[str, Any]:
    """A TrainingJob manifest with the given contract fields."""
    return {
        "apiVersion": "tds.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": "joint", "namespace": "tds-b"},
        "spec": {"image": "registry.local/b/train:1", **spec},
    }


def rejection(manifest: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        TrainingJob.model_validate(manifest)
    return str(caught.value)


def test_one_contract_keeps_working() -> None:
    spec = TrainingJob.model_validate(job(contract="a-to-b")).spec
    assert spec.contract_names == ("a-to-b",)
    assert spec.contract == "a-to-b"
    assert not spec.joint
    assert spec.to_manifest()["contract"] == "a-to-b"
    assert "contracts" not in spec.to_manifest()


def test_several_contracts_make_a_joint_job() -> None:
    spec = TrainingJob.model_validate(job(contracts=["a-to-b", "c-to-b"])).spec
    assert spec.contract_names == ("a-to-b", "c-to-b")
    assert spec.joint
    assert spec.to_manifest()["contracts"] == ["a-to-b", "c-to-b"]
    assert "contract" not in spec.to_manifest()


@pytest.mark.parametrize(
    "fields",
    [{}, {"contract": "a-to-b", "contracts": ["c-to-b", "d-to-b"]}],
    ids=["neither", "both"],
)
def test_exactly_one_way_to_name_contracts(fields: dict[str, Any]) -> None:
    assert "exactly one of contract" in rejection(job(**fields))


def test_a_joint_job_names_at_least_two_contracts() -> None:
    assert "at least 2" in rejection(job(contracts=["a-to-b"]))


def test_duplicate_contracts_refused() -> None:
    assert "contract names must be unique" in rejection(job(contracts=["a-to-b", "a-to-b"]))


def test_too_many_contracts_refused() -> None:
    names = [f"c{index}" for index in range(MAX_JOINT_CONTRACTS + 1)]
    assert f"at most {MAX_JOINT_CONTRACTS}" in rejection(job(contracts=names))
    assert TrainingJob.model_validate(job(contracts=names[:-1])).spec.joint


def test_contracts_of_a_manifest() -> None:
    assert contracts_of({"contract": "a"}) == ("a",)
    assert contracts_of({"contracts": ["a", "b"]}) == ("a", "b")
    assert contracts_of({}) == ()


def test_joint_training_absent_means_not_allowed() -> None:
    contract = DataContract.model_validate(example("sgcc-to-cmcc-load"))
    assert contract.spec.joint_training is None
    assert not JointTraining().allows("anyone")


def test_joint_training_with_names_the_only_partners() -> None:
    term = JointTraining.model_validate({"allowed": True, "with": ["weather"]})
    assert term.allows("weather")
    assert not term.allows("bank")
    assert term.to_manifest() == {"allowed": True, "with": ["weather"]}
    assert JointTraining.model_validate({"allowed": True, "with": []}).allows("bank")
    assert JointTraining.model_validate({"allowed": True}).allows("bank")
    assert not JointTraining.model_validate({"allowed": False, "with": ["bank"]}).allows("bank")


def test_joint_training_partners_unique() -> None:
    with pytest.raises(ValidationError, match="spaces must be unique"):
        JointTraining.model_validate({"allowed": True, "with": ["a", "a"]})


def test_joint_training_is_in_the_consented_terms() -> None:
    manifest = example("sgcc-to-cmcc-load")
    before = DataContract.model_validate(manifest).spec
    manifest["spec"]["jointTraining"] = {"allowed": True}
    allowed = DataContract.model_validate(manifest).spec
    manifest["spec"]["jointTraining"] = {"allowed": True, "with": ["weather"]}
    narrowed = DataContract.model_validate(manifest).spec
    digests = {spec_digest(before), spec_digest(allowed), spec_digest(narrowed)}
    assert len(digests) == 3
    assert allowed.contract_terms()["jointTraining"] == {"allowed": True}
