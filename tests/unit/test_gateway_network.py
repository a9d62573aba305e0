"""The dataset gateway's way to the API server: from the EndpointSlice the API server publishes."""

from __future__ import annotations

import pytest

from tds_operator.desired.gateway_network import api_server_egress

pytestmark = pytest.mark.unit

SLICE = {
    "addressType": "IPv4",
    "endpoints": [
        {"addresses": ["172.18.0.3"], "conditions": {"ready": True}},
        {"addresses": ["172.18.0.2"]},
        {"addresses": ["172.18.0.9"], "conditions": {"ready": False}},
    ],
    "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
}


def test_every_ready_address_of_the_api_server_on_its_published_port() -> None:
    assert api_server_egress(SLICE) == [
        {
            "to": [{"ipBlock": {"cidr": "172.18.0.2/32"}}, {"ipBlock": {"cidr": "172.18.0.3/32"}}],
            "ports": [{"protocol": "TCP", "port": 6443}],
        }
    ]


def test_ipv6_addresses_are_single_hosts_too() -> None:
    slice_ = {**SLICE, "addressType": "IPv6", "endpoints": [{"addresses": ["fd00::1"]}]}
    [rule] = api_server_egress(slice_)
    assert rule["to"] == [{"ipBlock": {"cidr": "fd00::1/128"}}]


def test_nothing_published_opens_nothing() -> None:
    assert api_server_egress(None) == []
    assert api_server_egress({**SLICE, "endpoints": []}) == []
    assert api_server_egress({**SLICE, "ports": []}) == []
    not_ready = {
        **SLICE,
        "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": False}}],
    }
    assert api_server_egress(not_ready) == []
