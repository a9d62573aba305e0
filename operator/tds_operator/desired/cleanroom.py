"""The clean room of an Active contract: an operator-owned namespace next to the provider's data.

Clean-room pods may reach exactly the contract's datasets (and the contract's egress entries),
DNS, and each other (for rendezvous); nothing else. The provider space accepts that traffic only
from this clean room. The consumer has no RBAC here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import space_namespace
from tds_operator.desired.labels import (
    CONTRACT_LABEL,
    RESTRICTED_POD_SECURITY,
    Manifest,
    managed_labels,
    owner_reference,
)
from tds_operator.desired.network import (
    default_deny_spec,
    dns_egress_spec,
    namespace_selector,
    same_namespace_spec,
)
from tds_operator.desired.space import (
    CONTAINER_DEFAULT_LIMIT,
    CONTAINER_DEFAULT_REQUEST,
    GPU_RESOURCE,
)

CLEAN_ROOM_LABEL = "tds.io/clean-room"
DEFAULT_DENY_POLICY = "tds-default-deny"
DNS_POLICY = "tds-allow-dns"
WORKERS_POLICY = "tds-allow-workers"
DATASETS_POLICY = "tds-allow-datasets"
EGRESS_POLICY = "tds-allow-egress"
QUOTA = "tds-quota"
LIMIT_RANGE = "tds-defaults"


@dataclass(frozen=True)
class DatasetEndpoint:
    """Where the pods serving one dataset listen: their port and, if known, their labels."""

    port: int
    pod_labels: dict[str, str] = field(default_factory=dict)


def dataset_endpoint(service: Manifest | None, port: int) -> DatasetEndpoint:
    """The pods' port and labels behind a dataset's Service port (the port itself if unknown)."""
    if service is None:
        return DatasetEndpoint(port)
    spec = service.get("spec") or {}
    target = port
    for entry in spec.get("ports") or []:
        if entry.get("port") == port and isinstance(entry.get("targetPort"), int):
            target = entry["targetPort"]
    return DatasetEndpoint(target, dict(spec.get("selector") or {}))


def _label_with_prefix(prefix: str, contract: str) -> str:
    """`<prefix><contract>`, or a shortened contract name plus a digest if over 63 characters."""
    name = f"{prefix}{contract}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(contract.encode()).hexdigest()[:8]
    return f"{prefix}{contract[: 63 - len(prefix) - 9].rstrip('-')}-{digest}"


def clean_room_namespace(contract: str) -> str:
    """The clean room's namespace: `tds-cr-<contract>`, shortened with a digest if too long."""
    return _label_with_prefix("tds-cr-", contract)


def provider_policy_name(contract: str) -> str:
    """The NetworkPolicy in the provider's namespace that admits this contract's clean room."""
    return _label_with_prefix("tds-allow-tds-cr-", contract)


def _metadata(contract: DataContract, name: str, namespace: str | None = None) -> Manifest:
    contract_name = contract.metadata.name or ""
    metadata: Manifest = {
        "name": name,
        "labels": managed_labels(**{CONTRACT_LABEL: contract_name}),
        "ownerReferences": [
            owner_reference("DataContract", contract_name, contract.metadata.uid or "")
        ],
    }
    if namespace is not None:
        metadata["namespace"] = namespace
    return metadata


def _policy(contract: DataContract, name: str, namespace: str, spec: Manifest) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(contract, name, namespace),
        "spec": spec,
    }


def _dataset_rules(
    provider_namespace: str, endpoints: dict[str, DatasetEndpoint]
) -> list[Manifest]:
    rules = []
    for dataset in sorted(endpoints):
        endpoint = endpoints[dataset]
        peer: Manifest = {"namespaceSelector": namespace_selector(provider_namespace)}
        if endpoint.pod_labels:
            peer["podSelector"] = {"matchLabels": dict(sorted(endpoint.pod_labels.items()))}
        rules.append({"to": [peer], "ports": [{"protocol": "TCP", "port": endpoint.port}]})
    return rules


def clean_room_children(
    contract: DataContract, endpoints: dict[str, DatasetEndpoint]
) -> list[Manifest]:
    """Everything the clean room of an Active contract consists of, namespace first.

    `endpoints` maps each contracted dataset served over the network to its pods' port.
    """
    name = contract.metadata.name or ""
    namespace = clean_room_namespace(name)
    spec = contract.spec
    provider_namespace = space_namespace(spec.provider.space)
    ns_metadata = _metadata(contract, namespace)
    ns_metadata["labels"].update({CLEAN_ROOM_LABEL: "true", **RESTRICTED_POD_SECURITY})
    children: list[Manifest] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": ns_metadata},
        _policy(contract, DEFAULT_DENY_POLICY, namespace, default_deny_spec()),
        _policy(contract, DNS_POLICY, namespace, dns_egress_spec()),
        _policy(contract, WORKERS_POLICY, namespace, same_namespace_spec()),
    ]
    if endpoints:
        children.append(
            _policy(
                contract,
                DATASETS_POLICY,
                namespace,
                {
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": _dataset_rules(provider_namespace, endpoints),
                },
            )
        )
    if spec.egress:
        children.append(
            _policy(
                contract,
                EGRESS_POLICY,
                namespace,
                {
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [{"ipBlock": {"cidr": rule.cidr}}],
                            "ports": [{"protocol": "TCP", "port": port} for port in rule.ports],
                        }
                        for rule in spec.egress
                    ],
                },
            )
        )
    children += [
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": _metadata(contract, QUOTA, namespace),
            "spec": {"hard": {f"requests.{GPU_RESOURCE}": str(spec.compute.max_concurrent_gpus)}},
        },
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": _metadata(contract, LIMIT_RANGE, namespace),
            "spec": {
                "limits": [
                    {
                        "type": "Container",
                        "defaultRequest": dict(CONTAINER_DEFAULT_REQUEST),
                        "default": dict(CONTAINER_DEFAULT_LIMIT),
                    }
                ]
            },
        },
    ]
    if endpoints:
        children.append(provider_ingress_policy(contract, endpoints))
    return children


def provider_ingress_policy(
    contract: DataContract, endpoints: dict[str, DatasetEndpoint]
) -> Manifest:
    """In the provider's namespace: the dataset pods accept this clean room on their ports."""
    name = contract.metadata.name or ""
    provider_namespace = space_namespace(contract.spec.provider.space)
    ports = sorted({endpoint.port for endpoint in endpoints.values()})
    return _policy(
        contract,
        provider_policy_name(name),
        provider_namespace,
        {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"namespaceSelector": namespace_selector(clean_room_namespace(name))}],
                    "ports": [{"protocol": "TCP", "port": port} for port in ports],
                }
            ],
        },
    )
