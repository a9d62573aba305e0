"""Where a contract's egress may lead: never into the cluster itself or to link-local addresses.

A clean room that could reach the API server, other pods, Services or a cloud's metadata address
(169.254.169.254 hands out node credentials) would undo its isolation. A destination that merely
overlaps such a range is refused too: a wide network includes what it contains. The catch-all
networks are allowed only by a hub rule, and even then the forbidden ranges are cut out of them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

from tds_operator.policy.rules import HubRules, Network

ALLOW_ANY_RULE: Final = "hubRules.allowAnyEgressDestination (TDS_ALLOW_ANY_EGRESS_DESTINATION)"


@dataclass(frozen=True)
class ForbiddenRange:
    """A network no egress entry may reach, and what it is, for the message."""

    network: Network
    what: str


LINK_LOCAL: Final = (
    ForbiddenRange(ipaddress.ip_network("169.254.0.0/16"), "link-local and metadata addresses"),
    ForbiddenRange(ipaddress.ip_network("fe80::/10"), "IPv6 link-local addresses"),
)


def forbidden_ranges(rules: HubRules) -> list[ForbiddenRange]:
    """Link-local addresses, then the cluster's own ranges that the hub rules name."""
    cluster = (
        (rules.api_server_cidrs, "the API server (hubRules.apiServerCidrs)"),
        (rules.pod_cidrs, "the pod network (hubRules.podCidrs)"),
        (rules.service_cidrs, "the service network (hubRules.serviceCidrs)"),
    )
    return [
        *LINK_LOCAL,
        *(ForbiddenRange(network, what) for networks, what in cluster for network in networks),
    ]


def destination(cidr: str) -> Network:
    """The network an egress CIDR names (host bits, which the API server accepts, cleared)."""
    return ipaddress.ip_network(cidr, strict=False)


def egress_violation(cidr: str, rules: HubRules) -> str | None:
    """Why a destination is refused, or None if the hub allows it."""
    network = destination(cidr)
    if network.prefixlen == 0:
        if rules.allow_any_egress_destination:
            return None
        return f"{cidr} is every address, which the hub allows only with {ALLOW_ANY_RULE}"
    for forbidden in forbidden_ranges(rules):
        if network.version == forbidden.network.version and network.overlaps(forbidden.network):
            return f"{cidr} overlaps {forbidden.network}, {forbidden.what}"
    return None


def egress_exceptions(cidr: str, rules: HubRules) -> list[str]:
    """The forbidden ranges inside a destination, for its NetworkPolicy ipBlock `except`."""
    network = destination(cidr)
    return [
        str(forbidden.network)
        for forbidden in forbidden_ranges(rules)
        if forbidden.network.version == network.version
        and forbidden.network != network
        and forbidden.network.subnet_of(network)  # type: ignore[arg-type]
    ]
