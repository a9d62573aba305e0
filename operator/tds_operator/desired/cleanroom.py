"""The clean room of an Active contract: an operator-owned namespace next to the provider's data.

Clean-room pods may reach exactly the contract's datasets (and the contract's egress entries)
and each other (for rendezvous); nothing else, not even the cluster DNS: a resolver that forwards
external names would carry data out in the names it is asked for. Pods are handed every address
they need as an IP. The provider space accepts that traffic only from this clean room. The
consumer has no RBAC here.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import DataSpace, space_namespace
from tds_operator.api.resources import Manifest
from tds_operator.desired.isolation import (
    GPU_RESOURCE,
    Owner,
    isolation_policies,
    limit_range,
    namespace_manifest,
    namespace_selector,
    network_policy,
    resource_quota,
)
from tds_operator.desired.labels import CONTRACT_LABEL, CONTRACT_UID_LABEL
from tds_operator.policy.egress import egress_exceptions
from tds_operator.policy.rules import HubRules

CLEAN_ROOM_LABEL = "tds.io/clean-room"
WORKERS_POLICY = "tds-allow-workers"
DATASETS_POLICY = "tds-allow-datasets"
EGRESS_POLICY = "tds-allow-egress"
WORKER_SERVICE_ACCOUNT = "tds-worker"
"""The clean room's identity: the ServiceAccount its workers run as (desired/grants.py)."""


@dataclass(frozen=True)
class DatasetEndpoint:
    """Where the pods serving one dataset listen: their port and, if known, their labels; and
    the address (the Service's cluster IP and port) that clean-room pods connect to, if it has
    one."""

    port: int
    pod_labels: dict[str, str] = field(default_factory=dict)
    address: str | None = None


def dataset_endpoint(service: Manifest | None, port: int) -> DatasetEndpoint:
    """The pods' port and labels behind a dataset's Service port (the port itself if unknown),
    and the Service's cluster IP and port."""
    if service is None:
        return DatasetEndpoint(port)
    spec = service.get("spec") or {}
    target = port
    for entry in spec.get("ports") or []:
        if entry.get("port") == port and isinstance(entry.get("targetPort"), int):
            target = entry["targetPort"]
    ip = cluster_ip(service)
    address = None if ip is None else f"{ip}:{port}" if ip.version == 4 else f"[{ip}]:{port}"
    return DatasetEndpoint(target, dict(spec.get("selector") or {}), address)


def cluster_ip(service: Manifest | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A Service's cluster IP; None if it has none (headless, or not yet allocated)."""
    text = ((service or {}).get("spec") or {}).get("clusterIP")
    try:
        return ipaddress.ip_address(text) if isinstance(text, str) else None
    except ValueError:
        return None


def dataset_endpoints(
    contract: DataContract, provider: DataSpace, services: Mapping[str, Manifest | None]
) -> dict[str, DatasetEndpoint]:
    """Each contracted dataset served over the network, by where it is served: `services` holds
    the live Service (or None) of each such dataset."""
    endpoints: dict[str, DatasetEndpoint] = {}
    for name in contract.spec.provider.datasets:
        dataset = provider.spec.dataset(name)
        if dataset is not None and dataset.source.service is not None:
            endpoints[name] = dataset_endpoint(services.get(name), dataset.source.service.port)
    return endpoints


NAME_DIGEST_LENGTH = 16
"""Hex digits of the digest that ends a shortened name: 64 bits, so that nobody can grind a
contract name whose shortened name takes another contract's."""


def bounded_name(prefix: str, contract: str) -> str:
    """`<prefix><contract>`, or a shortened contract name plus a digest of the whole if over 63
    characters. A fixed prefix and one name: two contracts (whose names differ) never share it."""
    name = f"{prefix}{contract}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(contract.encode()).hexdigest()[:NAME_DIGEST_LENGTH]
    return f"{prefix}{contract[: 63 - len(prefix) - NAME_DIGEST_LENGTH - 1].rstrip('-')}-{digest}"


CLEAN_ROOM_PREFIX = "tds-cr-"


def clean_room_namespace(contract: str) -> str:
    """The clean room's namespace: `tds-cr-<contract>`, shortened with a digest if too long."""
    return bounded_name(CLEAN_ROOM_PREFIX, contract)


JOINT_ROOM_PREFIX = "tds-jr-"


def joint_room_namespace(job_uid: str) -> str:
    """A joint job's own clean room (desired/joint_room.py): `tds-jr-<job uid>`, 43 characters
    for a Kubernetes uid, never more than 63."""
    return f"{JOINT_ROOM_PREFIX}{job_uid}"[:63].rstrip("-")


def job_room(contracts: Sequence[str], job_uid: str) -> str:
    """Where a TrainingJob naming `contracts` runs: its contract's clean room, or, for a joint
    job, its own joint room."""
    if len(contracts) > 1:
        return joint_room_namespace(job_uid)
    return clean_room_namespace(contracts[0] if contracts else "")


def provider_policy_name(contract: str) -> str:
    """The NetworkPolicy in the provider's namespace that admits this contract's clean room."""
    return bounded_name("tds-allow-tds-cr-", contract)


def contract_owner(contract: DataContract) -> Owner:
    """The contract as the owner of what its clean room consists of."""
    name = contract.metadata.name or ""
    return Owner("DataContract", name, contract.metadata.uid or "", CONTRACT_LABEL)


def worker_service_account(contract: DataContract) -> Manifest:
    """The clean room's ServiceAccount; no API token is ever mounted from it."""
    owner = contract_owner(contract)
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": owner.metadata(WORKER_SERVICE_ACCOUNT, clean_room_namespace(owner.name)),
        "automountServiceAccountToken": False,
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


def _datasets_policy(
    contract: DataContract, namespace: str, endpoints: dict[str, DatasetEndpoint]
) -> Manifest:
    provider_namespace = space_namespace(contract.spec.provider.space)
    spec = {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": _dataset_rules(provider_namespace, endpoints),
    }
    return network_policy(contract_owner(contract), DATASETS_POLICY, namespace, spec)


def _ip_block(cidr: str, rules: HubRules) -> Manifest:
    """The destination with the ranges no clean room may reach cut out (defence in depth: the
    terms refuse an overlap, but a wide network the hub allows still never includes them)."""
    block: Manifest = {"cidr": cidr}
    exceptions = egress_exceptions(cidr, rules)
    if exceptions:
        block["except"] = exceptions
    return block


def _egress_policy(contract: DataContract, namespace: str, rules: HubRules) -> Manifest:
    egress = [
        {
            "to": [{"ipBlock": _ip_block(rule.cidr, rules)}],
            "ports": [{"protocol": "TCP", "port": port} for port in rule.ports],
        }
        for rule in contract.spec.egress
    ]
    spec = {"podSelector": {}, "policyTypes": ["Egress"], "egress": egress}
    return network_policy(contract_owner(contract), EGRESS_POLICY, namespace, spec)


def clean_room_children(
    contract: DataContract,
    endpoints: dict[str, DatasetEndpoint],
    rules: HubRules = HubRules(),  # noqa: B008 (frozen)
) -> list[Manifest]:
    """Everything the clean room of an Active contract consists of, namespace first.

    `endpoints` maps each contracted dataset served over the network to its pods' port; `rules`
    name the ranges cut out of every egress destination.
    """
    owner = contract_owner(contract)
    namespace = clean_room_namespace(owner.name)
    children = [
        namespace_manifest(
            owner, namespace, **{CLEAN_ROOM_LABEL: "true", CONTRACT_UID_LABEL: owner.uid}
        ),
        # Before the policies, which a job waits for: its pods find their account.
        worker_service_account(contract),
        *isolation_policies(owner, namespace, WORKERS_POLICY, cluster_dns=False),
    ]
    if endpoints:
        children.append(_datasets_policy(contract, namespace, endpoints))
    if contract.spec.egress:
        children.append(_egress_policy(contract, namespace, rules))
    gpus = str(contract.spec.compute.max_concurrent_gpus)
    children += [
        resource_quota(owner, namespace, {f"requests.{GPU_RESOURCE}": gpus}),
        limit_range(owner, namespace),
    ]
    if endpoints:
        children.append(provider_ingress_policy(contract, endpoints))
    return children


def clean_room_policies(
    contract: DataContract, endpoints: dict[str, DatasetEndpoint]
) -> list[Manifest]:
    """The NetworkPolicies that seal the clean room (the provider's ingress policy among them):
    a job may start only once each is in place as built here."""
    return [
        child
        for child in clean_room_children(contract, endpoints)
        if child["kind"] == "NetworkPolicy"
    ]


def provider_ingress_policy(
    contract: DataContract, endpoints: dict[str, DatasetEndpoint]
) -> Manifest:
    """In the provider's namespace: the dataset pods accept this clean room on their ports."""
    name = contract.metadata.name or ""
    provider_namespace = space_namespace(contract.spec.provider.space)
    ports = sorted({endpoint.port for endpoint in endpoints.values()})
    return network_policy(
        contract_owner(contract),
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
