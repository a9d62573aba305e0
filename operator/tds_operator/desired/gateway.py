"""The read-only gateway the operator runs for a dataset on a volume, while a contract needs it.

A claim cannot be mounted from another namespace, so a `source.volume` dataset is served where
it lies: in the provider's namespace, by a Deployment of one pod that mounts the claim read-only
and serves its files over plain HTTP on the pod's loopback, behind kube-rbac-proxy. The proxy
accepts only tokens for the audience `tds.io/datasets` (a TokenReview) and serves the one
contract's clean-room workers alone, by a rule in its own configuration: it asks the API server
no SubjectAccessReview (whose answers it would keep for five minutes). Access ends with the
gateway: when the contract stops being Active its pod is deleted at once, with no grace period,
before the grant and everything else (handlers/cleanroom.py). One gateway per contract and
dataset, named after the contract's uid: it is the contract's, and goes with its grant.

Only the proxy holds an API token (its own account, bound to `tds-dataset-gateway`: TokenReviews
and nothing else, so a token the provider mints for it asks the API server nothing about other
pairs); the file server has none. Both run under the restricted Pod Security profile with
read-only root filesystems. How the proxy reaches the API server through the provider's
default-deny: desired/gateway_network.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

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
from tds_operator.desired.grants import (
    DATASET_READ_VERB,
    DATASET_RESOURCE,
    DATASETS_AUDIENCE,
    granted_datasets,
    worker_identity,
)
from tds_operator.desired.rbac import GATEWAY_ROLE
from tds_operator.policy.rules import HubRules

GATEWAY_PREFIX = "tds-gw-"
GATEWAY_LABEL = "tds.io/dataset-gateway"
GATEWAY_PORT = 8443
"""Where kube-rbac-proxy listens (TLS), the port clean-room pods connect to."""
FILES_PORT = 8080
"""Where the file server listens, on the pod's loopback only."""
DATA_MOUNT = "/data"
PROXY_CONFIG_MOUNT = "/etc/kube-rbac-proxy"
API_TOKEN_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
PROXY_CONFIG_ANNOTATION = "tds.io/kube-rbac-proxy-config"
"""The proxy's configuration, on its own pod: projected into a file, so no ConfigMap is needed."""
RUN_AS = 65532


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


def proxy_config(namespace: str, dataset: str, contract: str) -> str:
    """kube-rbac-proxy's configuration: each request is a `get` on this dataset, allowed to the
    contract's clean-room workers alone, by the proxy itself (static authorization). Anything
    else would be asked of the API server, which the gateway's account may not ask: refused."""
    return (
        "authorization:\n"
        "  resourceAttributes:\n"
        f"    namespace: {namespace}\n"
        f"    apiGroup: {GROUP}\n"
        f"    resource: {DATASET_RESOURCE}\n"
        f"    name: {dataset}\n"
        "  static:\n"
        f"  - user: {{name: {worker_identity(contract)}}}\n"
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


def _restricted(read_only: bool = True) -> Manifest:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _files_container(image: str, volume: VolumeSource) -> Manifest:
    directory = f"{DATA_MOUNT}/{volume.sub_path}" if volume.sub_path else DATA_MOUNT
    return {
        "name": "files",
        "image": image,
        "command": ["python", "-m", "http.server", str(FILES_PORT)],
        "args": ["--bind", "127.0.0.1", "--directory", directory],
        "env": [{"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}],
        "securityContext": _restricted(),
        "volumeMounts": [{"name": "data", "mountPath": DATA_MOUNT, "readOnly": True}],
    }


def _proxy_container(image: str) -> Manifest:
    return {
        "name": "kube-rbac-proxy",
        "image": image,
        "args": [
            f"--secure-listen-address=0.0.0.0:{GATEWAY_PORT}",
            f"--upstream=http://127.0.0.1:{FILES_PORT}/",
            f"--config-file={PROXY_CONFIG_MOUNT}/config.yaml",
            f"--auth-token-audiences={DATASETS_AUDIENCE}",
        ],
        "ports": [{"name": "https", "containerPort": GATEWAY_PORT, "protocol": "TCP"}],
        "securityContext": _restricted(),
        "volumeMounts": [
            {"name": "config", "mountPath": PROXY_CONFIG_MOUNT, "readOnly": True},
            {"name": "api-token", "mountPath": API_TOKEN_MOUNT, "readOnly": True},
        ],
    }


def _volumes(volume: VolumeSource) -> list[Manifest]:
    """The claim read-only, the proxy's configuration, and the proxy's own API token."""
    annotation = f"metadata.annotations['{PROXY_CONFIG_ANNOTATION}']"
    config = {"path": "config.yaml", "fieldRef": {"fieldPath": annotation}}
    api_token = [
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {
            "downwardAPI": {
                "items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]
            }
        },
    ]
    return [
        {
            "name": "data",
            "persistentVolumeClaim": {"claimName": volume.claim_name, "readOnly": True},
        },
        {"name": "config", "projected": {"sources": [{"downwardAPI": {"items": [config]}}]}},
        {"name": "api-token", "projected": {"sources": api_token}},
    ]


def gateway_deployment(
    contract: DataContract, dataset: str, volume: VolumeSource, rules: HubRules
) -> Manifest:
    """One pod: the file server on the read-only claim, kube-rbac-proxy in front."""
    name = gateway_name(contract.metadata.uid or "", dataset)
    labels = gateway_pod_labels(contract, dataset)
    namespace = space_namespace(contract.spec.provider.space)
    pod = {
        "serviceAccountName": name,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            _files_container(rules.gateway_file_server_image, volume),
            _proxy_container(rules.gateway_proxy_image),
        ],
        "volumes": _volumes(volume),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": gateway_metadata(contract, name, namespace),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        PROXY_CONFIG_ANNOTATION: proxy_config(
                            namespace, dataset, contract.metadata.name or ""
                        )
                    },
                },
                "spec": pod,
            },
        },
    }


def gateway_objects(contract: DataContract, provider: DataSpace, rules: HubRules) -> list[Manifest]:
    """Each volume dataset's gateway: its account and the account's right to ask the API
    server, the Deployment and its Service."""
    namespace = space_namespace(contract.spec.provider.space)
    objects: list[Manifest] = []
    for dataset, volume in sorted(volume_datasets(contract, provider).items()):
        name = gateway_name(contract.metadata.uid or "", dataset)
        objects += [
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": gateway_metadata(contract, name, namespace),
                "automountServiceAccountToken": False,
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": gateway_metadata(contract, name, None),
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": GATEWAY_ROLE,
                },
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
            },
            gateway_deployment(contract, dataset, volume, rules),
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": gateway_metadata(contract, name, namespace),
                "spec": {
                    "type": "ClusterIP",
                    "selector": gateway_pod_labels(contract, dataset),
                    "ports": [{"name": "https", "port": GATEWAY_PORT, "targetPort": GATEWAY_PORT}],
                },
            },
        ]
    return objects
