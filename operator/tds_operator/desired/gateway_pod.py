"""The pod of a dataset gateway (desired/gateway.py): the file server on the claim, read-only,
listening on the pod's loopback alone, and kube-rbac-proxy in front of it, whose configuration
(which one identity it serves) comes from the pod's own annotation. Only the proxy holds an API
token (its own account's); both run under the restricted profile, read-only roots. Pure.
"""

from __future__ import annotations

from tds_operator.api.dataspace import VolumeSource
from tds_operator.api.resources import Manifest
from tds_operator.desired.grants import DATASETS_AUDIENCE
from tds_operator.policy.rules import HubRules

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


def gateway_pod(account: str, volume: VolumeSource, rules: HubRules) -> Manifest:
    """The pod spec: as its own `account`, whose token only the proxy mounts."""
    return {
        "serviceAccountName": account,
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
