"""The spaces' admission policies: bound to space namespaces, with the hub rules' GPU pool."""

from __future__ import annotations

import json

import pytest

from tds_operator.api.resources import Manifest
from tds_operator.desired.admission import (
    CLAIMS_POLICY,
    JOB_FINALIZER_POLICY,
    OPERATOR_FINALIZER,
    PODS_POLICY,
    RELEASES_POLICY,
    SERVICES_POLICY,
    space_admission_policies,
)
from tds_operator.desired.labels import SPACE_LABEL
from tds_operator.handlers.objects import FINALIZER
from tds_operator.policy.rules import HubRules

pytestmark = pytest.mark.unit


def by_kind_and_name(manifests: list[Manifest]) -> dict[tuple[str, str], Manifest]:
    return {(m["kind"], m["metadata"]["name"]): m for m in manifests}


def test_each_policy_is_bound_to_every_space_namespace_and_denies() -> None:
    objects = by_kind_and_name(space_admission_policies(HubRules()))
    names = (SERVICES_POLICY, CLAIMS_POLICY, PODS_POLICY, RELEASES_POLICY, JOB_FINALIZER_POLICY)
    for name in names:
        assert ("ValidatingAdmissionPolicy", name) in objects
        binding = objects[("ValidatingAdmissionPolicyBinding", name)]["spec"]
        assert binding["policyName"] == name
        assert binding["validationActions"] == ["Deny"]
        selector = binding["matchResources"]["namespaceSelector"]
        assert selector == {"matchExpressions": [{"key": SPACE_LABEL, "operator": "Exists"}]}


def test_every_policy_comes_before_its_binding() -> None:
    kinds = [m["kind"] for m in space_admission_policies(HubRules())]
    assert kinds == ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"] * 5


def gpu_pool(rules: HubRules) -> dict[str, object]:
    objects = by_kind_and_name(space_admission_policies(rules))
    variables = objects[("ValidatingAdmissionPolicy", PODS_POLICY)]["spec"]["variables"]
    return {
        v["name"]: json.loads(v["expression"]) for v in variables if v["name"].startswith("gpu")
    }


def test_the_gpu_pool_is_the_hub_rules_one() -> None:
    rules = HubRules(
        gpu_node_selector={"zone": "east", "hub.tds.io/pool": "h100"},
        gpu_toleration_key="gpu.example.com/dedicated",
    )
    assert gpu_pool(rules) == {
        "gpuTolerationKey": "gpu.example.com/dedicated",
        "gpuNodeSelector": {"hub.tds.io/pool": "h100", "zone": "east"},
    }


def test_the_gpu_pool_is_written_as_helm_writes_it() -> None:
    """Sorted keys and no spaces: what the chart's `toJson` makes of the same values."""
    objects = by_kind_and_name(
        space_admission_policies(HubRules(gpu_node_selector={"b": "2", "a": "1"}))
    )
    variables = objects[("ValidatingAdmissionPolicy", PODS_POLICY)]["spec"]["variables"]
    selector = next(v for v in variables if v["name"] == "gpuNodeSelector")
    assert selector["expression"] == '{"a":"1","b":"2"}'


def test_the_job_finalizer_policy_guards_the_operators_own_finalizer() -> None:
    assert OPERATOR_FINALIZER == FINALIZER
    objects = by_kind_and_name(space_admission_policies(HubRules()))
    spec = objects[("ValidatingAdmissionPolicy", JOB_FINALIZER_POLICY)]["spec"]
    (rule,) = spec["matchConstraints"]["resourceRules"]
    assert rule["resources"] == ["trainingjobs"]
    assert rule["operations"] == ["UPDATE"]
    (validation,) = spec["validations"]
    assert f"'{FINALIZER}' in oldObject.metadata" in validation["expression"]
    assert ".subresource('finalizers')" in validation["expression"]
