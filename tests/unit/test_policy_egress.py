"""A contract's egress never leads into the cluster, to link-local addresses, or (unless the hub
allows it) everywhere; overlapping a forbidden range counts as reaching it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bench.hubkit.manifests import cmcc, contract_spec, sgcc
from tds_operator.policy.egress import egress_exceptions, egress_violation
from tds_operator.policy.rules import HubRules
from tds_operator.policy.terms import validate_contract_terms

pytestmark = pytest.mark.unit

CLUSTER = HubRules.from_environment(
    {
        "TDS_POD_CIDRS": "10.244.0.0/16,fd00:10:244::/56",
        "TDS_SERVICE_CIDRS": "10.96.0.0/12",
        "TDS_API_SERVER_CIDRS": "192.168.10.5",
    }
)
OPEN = HubRules(allow_any_egress_destination=True, pod_cidrs=CLUSTER.pod_cidrs)


@pytest.mark.parametrize(
    ("cidr", "forbidden"),
    [
        ("169.254.169.254/32", "169.254.0.0/16, link-local and metadata addresses"),
        ("169.0.0.0/8", "169.254.0.0/16, link-local"),  # contains the metadata range
        ("fe80::1/128", "fe80::/10, IPv6 link-local"),
        ("10.244.3.0/24", "10.244.0.0/16, the pod network (hubRules.podCidrs)"),
        ("10.0.0.0/8", "10.244.0.0/16, the pod network"),  # contains the pod network
        ("10.100.0.1/32", "10.96.0.0/12, the service network (hubRules.serviceCidrs)"),
        ("192.168.10.5/32", "192.168.10.5/32, the API server (hubRules.apiServerCidrs)"),
        ("192.168.0.0/16", "192.168.10.5/32, the API server"),
        ("fd00:10:244::/48", "fd00:10:244::/56, the pod network"),
    ],
)
def test_a_destination_overlapping_a_forbidden_range_is_refused_naming_it(
    cidr: str, forbidden: str
) -> None:
    violation = egress_violation(cidr, CLUSTER)
    assert violation is not None
    assert f"{cidr} overlaps {forbidden}" in violation


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0"])
def test_every_address_needs_the_hub_switch(cidr: str) -> None:
    violation = egress_violation(cidr, CLUSTER)
    assert violation is not None
    assert "hubRules.allowAnyEgressDestination" in violation
    assert egress_violation(cidr, OPEN) is None


@pytest.mark.parametrize("cidr", ["10.20.30.0/24", "203.0.113.7/32", "2001:db8::/32"])
def test_other_networks_are_allowed(cidr: str) -> None:
    assert egress_violation(cidr, CLUSTER) is None


def test_host_bits_do_not_hide_an_overlap() -> None:
    assert egress_violation("169.254.169.254/16", CLUSTER) is not None


def test_forbidden_ranges_are_cut_out_of_a_wide_destination() -> None:
    assert egress_exceptions("0.0.0.0/0", OPEN) == ["169.254.0.0/16", "10.244.0.0/16"]
    assert egress_exceptions("::/0", OPEN) == ["fe80::/10", "fd00:10:244::/56"]
    assert egress_exceptions("10.20.30.0/24", OPEN) == []


def test_the_terms_refuse_a_forbidden_destination_naming_the_entry() -> None:
    spec = contract_spec(
        egress=[
            {"cidr": "10.20.30.0/24", "ports": [443]},
            {"cidr": "169.254.169.254/32", "ports": [80]},
        ]
    )
    decision = validate_contract_terms(
        spec, sgcc(), cmcc(), CLUSTER, datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert (decision.allowed, decision.reason) == (False, "EgressForbidden")
    assert decision.message.startswith("spec.egress[1].cidr: 169.254.169.254/32 overlaps")


def test_the_terms_allow_harmless_destinations() -> None:
    spec = contract_spec(egress=[{"cidr": "10.20.30.0/24", "ports": [443]}])
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert validate_contract_terms(spec, sgcc(), cmcc(), CLUSTER, now).allowed
