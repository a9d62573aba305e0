"""The read-only gateway the operator runs for a dataset on a volume, while a contract needs it.

A claim cannot be mounted from another namespace, so a `source.volume` dataset is served where
it lies: in the provider's namespace, by a Deployment of one pod that mounts the claim read-only
and serves its files over plain HTTP on the pod's loopback, behind kube-rbac-proxy. The proxy
accepts only tokens for the audience `tds.io/datasets` (a TokenReview) and serves the one
contract's clean-room workers alone, by a rule in its own configuration: it asks the API server
no SubjectAccessReview (whose answers it would keep for five minutes). Access ends with the
gateway: when the contract stops being Active its pod is deleted at once, with no grace period,
before the grant and everything else (handlers/cleanroom.py). One gateway per contract and
dataset, named after the contract's uid: it is the contract's, and goes with its grant. A joint
job's room is served by gateways of its own, built here too (desired/joint_gateway.py).

Only the proxy holds an API token (its own account, bound to `tds-dataset-gateway`: TokenReviews
and nothing else, so a token the provider mints for it asks the API server nothing about other
pairs); the file server has none. Both run under the restricted Pod Security profile with
read-only root filesystems (desired/gateway_pod.py). How the proxy reaches the API server
through the provider's default-deny: desired/gateway_network.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from tds_operator import GROUP
from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import DataSpace, VolumeSource, space_namespace
from tds_operator.api.resources import Manifest
from tds_operator.desired.cleanroom import (
    NAME_DIGEST_LENGTH,
    DatasetEndpoint,
    contract_owner,
    dataset_endpoint,
    dataset_endpoints,
)
from tds_operator.desired.gateway_pod import GATEWAY_PORT, PROXY_CONFIG_ANNOTATION, gateway_pod
from tds_operator.desired.grants import (
    DATASET_READ_VERB,
    DATASET_RESOURCE,
    granted_datasets,
    worker_identity,
)
from tds_operator.desired.rbac import GATEWAY_ROLE
from tds_operator.policy.rules import HubRules

GATEWAY_PREFIX = "tds-gw-"
GATEWAY_LABEL = "tds.io/dataset-gateway"


def gateway_name(contract_uid: str, dataset: str) -> str:
    """Every object of one gateway: `tds-gw-<dataset>-<digest>`, the digest of the contract's
    uid and the dataset's name. Joining names (`a-b` + `c`, `a` + `b-c`) would let one pair's
    gateway take another's name; a uid is no other contract's, not even one of the same name
    made again."""
    digest = hashlib.sha256(f"{contract_uid}/{dataset}".encode()).hexdigest()
    readable = f"{GATEWAY_PREFIX}{dataset}"[: 63 - NAME_DIGEST_LENGTH - 1].rstrip("-")
    return f"{readable}-{digest[:NAME_DIGEST_LENGTH]}"


def volume_datasets(contract: DataContract, provider: DataSpace) -> dict[str, VolumeSource]:
    """The granted datasets of the contract that lie on volumes."""
    volumes = {}
    for name in granted_datasets(contract, provider):
        dataset = provider.spec.dataset(name)
        if dataset is not None and dataset.source.volume is not None:
            volumes[name] = dataset.source.volume
    return volumes


def gateway_pod_labels(contract: DataContract, dataset: str) -> dict[str, str]:
    """The labels that select one gateway's pod (the Service's and the policies' selector)."""
    return {GATEWAY_LABEL: gateway_name(contract.metadata.uid or "", dataset)}


def all_dataset_endpoints(
    contract: DataContract, provider: DataSpace, services: Mapping[str, Manifest | None]
) -> dict[str, DatasetEndpoint]:
    """Where clean-room pods reach each contracted dataset: a service dataset at its Service,
    a volume dataset at its gateway (`services` holds the live Service of each, or None)."""
    endpoints = dataset_endpoints(contract, provider, services)
    for dataset in volume_datasets(contract, provider):
        address = dataset_endpoint(services.get(dataset), GATEWAY_PORT).address
        labels = gateway_pod_labels(contract, dataset)
        endpoints[dataset] = DatasetEndpoint(GATEWAY_PORT, labels, address)
    return endpoints


def proxy_config(namespace: str, dataset: str, identity: str) -> str:
    """kube-rbac-proxy's configuration: each request is a `get` on this dataset, allowed to
    `identity` alone (a clean room's or a joint room's workers), by the proxy itself (static
    authorization). Anything else would be asked of the API server, which the gateway's account
    may not ask: refused."""
    return (
        "authorization:\n"
        "  resourceAttributes:\n"
        f"    namespace: {namespace}\n"
        f"    apiGroup: {GROUP}\n"
        f"    resource: {DATASET_RESOURCE}\n"
        f"    name: {dataset}\n"
        "  static:\n"
        f"  - user: {{name: {identity}}}\n"
        "    resourceRequest: true\n"
        f"    verb: {DATASET_READ_VERB}\n"
        f"    namespace: {namespace}\n"
        f"    apiGroup: {GROUP}\n"
        f"    resource: {DATASET_RESOURCE}\n"
        f"    name: {dataset}\n"
    )


def gateway_metadata(contract: DataContract, name: str, namespace: str | None) -> Manifest:
    metadata = contract_owner(contract).metadata(name, namespace)
    metadata["labels"][GATEWAY_LABEL] = name
    return metadata


def gateway_deployment(
    metadata: Manifest, dataset: str, volume: VolumeSource, identity: str, rules: HubRules
) -> Manifest:
    """One pod: the file server on the read-only claim, kube-rbac-proxy in front, serving
    `identity` alone; named, placed and owned by `metadata`."""
    name, namespace = metadata["name"], metadata["namespace"]
    labels = {GATEWAY_LABEL: name}
    config = proxy_config(namespace, dataset, identity)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": {PROXY_CONFIG_ANNOTATION: config}},
                "spec": gateway_pod(name, volume, rules),
            },
        },
    }


def gateway_set(
    name: str,
    namespace: str,
    metadata: Callable[[str | None], Manifest],
    served: tuple[str, VolumeSource, str],
    rules: HubRules,
) -> list[Manifest]:
    """One gateway `name` in `namespace` serving `served` (its dataset, the dataset's volume, and
    the one identity it serves): its account and the account's right to ask the API server, the
    Deployment and its Service. `metadata(namespace)` names, labels and owns each object (None:
    the cluster-scoped binding), GATEWAY_LABEL with the gateway's name among its labels."""
    dataset, volume, identity = served
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": metadata(namespace),
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": metadata(None),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": GATEWAY_ROLE,
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
        gateway_deployment(metadata(namespace), dataset, volume, identity, rules),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(namespace),
            "spec": {
                "type": "ClusterIP",
                "selector": {GATEWAY_LABEL: name},
                "ports": [{"name": "https", "port": GATEWAY_PORT, "targetPort": GATEWAY_PORT}],
            },
        },
    ]


def gateway_objects(contract: DataContract, provider: DataSpace, rules: HubRules) -> list[Manifest]:
    """Each volume dataset's gateway, serving the contract's clean-room workers alone."""
    namespace = space_namespace(contract.spec.provider.space)
    identity = worker_identity(contract.metadata.name or "")
    objects: list[Manifest] = []
    for dataset, volume in sorted(volume_datasets(contract, provider).items()):
        name = gateway_name(contract.metadata.uid or "", dataset)

        def metadata(where: str | None, name: str = name) -> Manifest:
            return gateway_metadata(contract, name, where)

        objects += gateway_set(name, namespace, metadata, (dataset, volume, identity), rules)
    return objects
