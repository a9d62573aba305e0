"""How a dataset gateway reaches the API server through its provider's default-deny.

The gateway's proxy asks the API server a TokenReview for every read (desired/gateway.py). The
provider's namespace denies all traffic by default, so each gateway has a NetworkPolicy of its
own, named like the gateway, that lets its pod and no other reach the API server, at the
addresses and ports the API server publishes in the EndpointSlice `default/kubernetes`: a CNI
sees the connection after the `kubernetes` Service's address was translated to one of those.
Without a published address there is no such policy, and the gateway, unable to authenticate
anyone, refuses every read: closed, never open.
"""

from __future__ import annotations

from typing import Final

from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import DataSpace, space_namespace
from tds_operator.api.resources import Manifest
from tds_operator.desired.gateway import (
    GATEWAY_LABEL,
    gateway_metadata,
    gateway_name,
    volume_datasets,
)

API_SERVER_SLICE: Final = ("discovery.k8s.io/v1", "EndpointSlice", "kubernetes", "default")
"""Where the API server publishes its own addresses: apiVersion, kind, name, namespace."""


def api_server_egress(endpoint_slice: Manifest | None) -> list[Manifest]:
    """NetworkPolicy egress rules to the API server's published, ready addresses and ports;
    none if it publishes none."""
    if not endpoint_slice:
        return []
    suffix = "/128" if endpoint_slice.get("addressType") == "IPv6" else "/32"
    addresses = sorted(
        {
            address
            for endpoint in endpoint_slice.get("endpoints") or []
            if (endpoint.get("conditions") or {}).get("ready") is not False
            for address in endpoint.get("addresses") or []
        }
    )
    ports = sorted(
        {
            (str(port.get("protocol") or "TCP"), int(port["port"]))
            for port in endpoint_slice.get("ports") or []
            if port.get("port")
        }
    )
    if not addresses or not ports:
        return []
    return [
        {
            "to": [{"ipBlock": {"cidr": address + suffix}} for address in addresses],
            "ports": [{"protocol": protocol, "port": port} for protocol, port in ports],
        }
    ]


def gateway_policy(metadata: Manifest, api_server: list[Manifest]) -> Manifest:
    """The policy of the gateway `metadata` names (and owns): its pod, selected by its
    GATEWAY_LABEL, may reach the API server (`api_server`, from api_server_egress), nothing
    else by this policy."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata,
        "spec": {
            "podSelector": {"matchLabels": {GATEWAY_LABEL: metadata["name"]}},
            "policyTypes": ["Egress"],
            "egress": api_server,
        },
    }


def gateway_policies(
    contract: DataContract, provider: DataSpace, api_server: list[Manifest]
) -> list[Manifest]:
    """One policy per volume dataset's gateway (gateway_policy). None without `api_server`."""
    if not api_server:
        return []
    namespace = space_namespace(contract.spec.provider.space)
    return [
        gateway_policy(
            gateway_metadata(
                contract, gateway_name(contract.metadata.uid or "", dataset), namespace
            ),
            api_server,
        )
        for dataset in sorted(volume_datasets(contract, provider))
    ]
