"""Hub rules come from TDS_* variables, with defaults a hub can run on."""

from __future__ import annotations

import pytest

from tds_operator.policy.rules import HubRules

pytestmark = pytest.mark.unit


def test_defaults() -> None:
    rules = HubRules.from_environment({})
    assert rules == HubRules()
    assert rules.max_contract_days == 365
    assert rules.gpu_node_selector == {"hub.tds.io/pool": "gpu"}
    assert rules.gpu_toleration_key == "nvidia.com/gpu"
    assert rules.max_gpu_hours_per_contract is None
    assert rules.max_concurrent_gpus_per_contract is None
    assert rules.suspended_spaces == frozenset()
    assert rules.scratch_size_limit == "10Gi"
    assert rules.simulation_hub is False


def test_every_rule_is_read_from_the_environment() -> None:
    rules = HubRules.from_environment(
        {
            "TDS_MAX_CONTRACT_DAYS": "90",
            "TDS_GPU_NODE_SELECTOR": "hub.tds.io/pool=h100, topology.kubernetes.io/zone=b",
            "TDS_GPU_TOLERATION_KEY": "hub.tds.io/gpu",
            "TDS_MAX_GPU_HOURS_PER_CONTRACT": "2500.5",
            "TDS_MAX_CONCURRENT_GPUS_PER_CONTRACT": "64",
            "TDS_SUSPENDED_SPACES": " sgcc, ,cma ",
            "TDS_SCRATCH_SIZE_LIMIT": "500M",
            "TDS_SIMULATION_HUB": "True",
            "TDS_OPERATOR_IMAGE": " registry.example/tds-operator:1.2 ",
            "UNRELATED": "x",
        }
    )
    assert rules == HubRules(
        max_contract_days=90,
        gpu_node_selector={"hub.tds.io/pool": "h100", "topology.kubernetes.io/zone": "b"},
        gpu_toleration_key="hub.tds.io/gpu",
        max_gpu_hours_per_contract=2500.5,
        max_concurrent_gpus_per_contract=64,
        suspended_spaces=frozenset({"sgcc", "cma"}),
        scratch_size_limit="500M",
        operator_image="registry.example/tds-operator:1.2",
        simulation_hub=True,
    )


def test_empty_values_keep_the_defaults() -> None:
    names = [
        "TDS_MAX_CONTRACT_DAYS",
        "TDS_GPU_NODE_SELECTOR",
        "TDS_GPU_TOLERATION_KEY",
        "TDS_MAX_GPU_HOURS_PER_CONTRACT",
        "TDS_MAX_CONCURRENT_GPUS_PER_CONTRACT",
        "TDS_SUSPENDED_SPACES",
        "TDS_SCRATCH_SIZE_LIMIT",
        "TDS_SIMULATION_HUB",
        "TDS_POD_CIDRS",
        "TDS_SERVICE_CIDRS",
        "TDS_API_SERVER_CIDRS",
        "TDS_ALLOW_ANY_EGRESS_DESTINATION",
        "TDS_FAIR_SHARING_WEIGHT",
        "TDS_FAIR_SHARING_WEIGHTS",
        "TDS_GPU_BORROWING_LIMIT",
        "TDS_GPU_BORROWING_LIMITS",
    ]
    assert HubRules.from_environment(dict.fromkeys(names, " ")) == HubRules()


def test_the_default_node_selector_is_not_shared_between_instances() -> None:
    HubRules().gpu_node_selector["x"] = "y"
    assert HubRules().gpu_node_selector == {"hub.tds.io/pool": "gpu"}


@pytest.mark.parametrize(
    ("name", "value", "hint"),
    [
        ("TDS_MAX_CONTRACT_DAYS", "a year", "positive whole number"),
        ("TDS_MAX_CONTRACT_DAYS", "0", "positive whole number"),
        ("TDS_MAX_CONCURRENT_GPUS_PER_CONTRACT", "-8", "positive whole number"),
        ("TDS_MAX_GPU_HOURS_PER_CONTRACT", "lots", "positive number"),
        ("TDS_MAX_GPU_HOURS_PER_CONTRACT", "nan", "positive number"),
        ("TDS_MAX_GPU_HOURS_PER_CONTRACT", "inf", "positive number"),
        ("TDS_GPU_NODE_SELECTOR", "gpu", "key=value"),
        ("TDS_GPU_NODE_SELECTOR", "=gpu", "key=value"),
        ("TDS_SCRATCH_SIZE_LIMIT", "0", "positive size"),
        ("TDS_SCRATCH_SIZE_LIMIT", "10GB", "positive size"),
        ("TDS_SCRATCH_SIZE_LIMIT", "1.5Gi", "positive size"),
        ("TDS_SIMULATION_HUB", "maybe", "true or false"),
        ("TDS_POD_CIDRS", "10.244.0.1/16", "comma-separated CIDRs"),  # host bits set
        ("TDS_SERVICE_CIDRS", "ten", "comma-separated CIDRs"),
        ("TDS_ALLOW_ANY_EGRESS_DESTINATION", "always", "true or false"),
        ("TDS_FAIR_SHARING_WEIGHT", "-1", "whole number, 0 or more"),
        ("TDS_FAIR_SHARING_WEIGHT", "1.5", "whole number, 0 or more"),
        ("TDS_FAIR_SHARING_WEIGHTS", "cmcc", "space=number pairs"),
        ("TDS_FAIR_SHARING_WEIGHTS", "=2", "space=number pairs"),
        ("TDS_FAIR_SHARING_WEIGHTS", "cmcc=heavy", "space=number pairs"),
        ("TDS_FAIR_SHARING_WEIGHTS", "cmcc=none", "space=number pairs"),
        ("TDS_GPU_BORROWING_LIMIT", "eight", "whole number, 0 or more"),
        ("TDS_GPU_BORROWING_LIMITS", "cmcc=", "space=number pairs"),
        ("TDS_GPU_BORROWING_LIMITS", "cmcc=-8", "space=number pairs"),
    ],
)
def test_a_bad_value_names_the_variable_and_the_expected_form(
    name: str, value: str, hint: str
) -> None:
    with pytest.raises(ValueError, match=name) as raised:
        HubRules.from_environment({name: value})
    assert hint in str(raised.value)
    assert repr(value) in str(raised.value)


@pytest.mark.parametrize(("value", "simulation"), [("false", False), ("0", False), ("yes", True)])
def test_the_simulation_hub_is_a_switch(value: str, simulation: bool) -> None:
    assert HubRules.from_environment({"TDS_SIMULATION_HUB": value}).simulation_hub is simulation


def test_the_clusters_own_ranges_are_read_as_networks() -> None:
    rules = HubRules.from_environment(
        {
            "TDS_POD_CIDRS": "10.244.0.0/16, fd00:10:244::/56",
            "TDS_SERVICE_CIDRS": "10.96.0.0/12",
            "TDS_API_SERVER_CIDRS": "192.168.10.5,fd00::1",
            "TDS_ALLOW_ANY_EGRESS_DESTINATION": "true",
        }
    )
    assert [str(n) for n in rules.pod_cidrs] == ["10.244.0.0/16", "fd00:10:244::/56"]
    assert [str(n) for n in rules.service_cidrs] == ["10.96.0.0/12"]
    assert [str(n) for n in rules.api_server_cidrs] == ["192.168.10.5/32", "fd00::1/128"]
    assert rules.allow_any_egress_destination is True


def test_every_organisation_shares_the_gpu_pool_by_weight_one_and_borrows_without_limit() -> None:
    rules = HubRules.from_environment({})
    assert rules.fair_sharing_weight_of("cmcc") == 1
    assert rules.gpu_borrowing_limit_of("cmcc") is None


def test_the_hub_rules_weigh_and_limit_organisations_by_default_and_by_name() -> None:
    rules = HubRules.from_environment(
        {
            "TDS_FAIR_SHARING_WEIGHT": "3",
            "TDS_FAIR_SHARING_WEIGHTS": " cmcc=2, sgcc=0 ",
            "TDS_GPU_BORROWING_LIMIT": "8",
            "TDS_GPU_BORROWING_LIMITS": "cmcc=0, sgcc=None",
        }
    )
    assert [rules.fair_sharing_weight_of(s) for s in ("cmcc", "sgcc", "cma")] == [2, 0, 3]
    assert [rules.gpu_borrowing_limit_of(s) for s in ("cmcc", "sgcc", "cma")] == [0, None, 8]
