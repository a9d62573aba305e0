"""Real bytes through a volume dataset's gateway, on a cluster whose pods run (kind).

The provider's owner writes a file onto the claim; a pod in the clean room, running as the
clean room's `tds-worker` with its projected dataset token, fetches that file through the
gateway's Service every second and logs `ok` or `refused`. The story reads those lines: `ok`
while the contract is Active, `refused` once it is revoked (by the proxy, whose
SubjectAccessReview then says no, or by the network policies removed in the same reconcile).
The local hub simulates pods, so there only the objects are checked.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Protocol

from tds_operator.desired.cleanroom import WORKER_SERVICE_ACCOUNT
from tds_operator.desired.grants import DATASETS_AUDIENCE
from tests.e2e.cluster import Manifest, get, kubectl

MARKER = "grid-load-2024 archive"
READER = "archive-reader"
FILLER = "archive-filler"


class Party(Protocol):
    """Someone who runs kubectl as themselves."""

    def kubectl(self, *args: str, stdin: str | None = None) -> str: ...


def pods_run() -> bool:
    """Whether the cluster runs pods (the operator runs in it, as on kind)."""
    return os.environ.get("TDS_E2E_OPERATOR") == "cluster"


def _image() -> str:
    return os.environ.get("TDS_E2E_TRAINING_IMAGE", "busybox:1.37")


def _restricted_pod(name: str, namespace: str, spec: Manifest) -> Manifest:
    context = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    for container in spec["containers"]:
        container["securityContext"] = context
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "restartPolicy": "Never",
            # A shell as the container's first process ignores SIGTERM: without this, a reader
            # left running held its clean room's deletion for the default 30 s.
            "terminationGracePeriodSeconds": 1,
            "securityContext": {
                "runAsUser": 65532,
                "runAsGroup": 65532,
                "fsGroup": 65532,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            **spec,
        },
    }


@dataclass(frozen=True)
class GatewayRead:
    """The provider's claim and the clean room's reader of it."""

    provider_namespace: str
    clean_room: str
    claim_name: str

    def claim(self) -> Manifest:
        return {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": self.claim_name, "namespace": self.provider_namespace},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "16Mi"}},
            },
        }

    def fill(self, owner: Party) -> None:
        """The provider's owner writes the file the clean room will read."""
        script = f"echo '{MARKER}' > /data/hello.txt"
        pod = _restricted_pod(
            FILLER,
            self.provider_namespace,
            {
                "containers": [
                    {
                        "name": "fill",
                        "image": _image(),
                        "command": ["sh", "-c", script],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    }
                ],
                "volumes": [
                    {"name": "data", "persistentVolumeClaim": {"claimName": self.claim_name}}
                ],
            },
        )
        owner.kubectl("apply", "-f", "-", stdin=json.dumps(pod))

    def _reader(self, address: str) -> Manifest:
        fetch = (
            "while true; do "
            f'if wget -q -T 2 -O- --header "Authorization: Bearer $(cat /token/token)" '
            f"https://{address}/hello.txt 2>/dev/null | grep -q '{MARKER}'; "
            "then echo ok; else echo refused; fi; sleep 1; done"
        )
        token = {"audience": DATASETS_AUDIENCE, "expirationSeconds": 600, "path": "token"}
        return _restricted_pod(
            READER,
            self.clean_room,
            {
                "serviceAccountName": WORKER_SERVICE_ACCOUNT,
                "automountServiceAccountToken": False,
                "dnsPolicy": "None",
                "dnsConfig": {"nameservers": ["127.0.0.1"]},
                "containers": [
                    {
                        "name": "read",
                        "image": _image(),
                        "command": ["sh", "-c", fetch],
                        "volumeMounts": [
                            {"name": "token", "mountPath": "/token", "readOnly": True}
                        ],
                    }
                ],
                "volumes": [
                    {"name": "token", "projected": {"sources": [{"serviceAccountToken": token}]}}
                ],
            },
        )

    def read(self, gateway: str) -> str | None:
        """The reader's latest verdict (`ok` or `refused`), starting it on first use; None
        before it has one."""
        if get("pod", READER, self.clean_room) is None:
            service = get("service", gateway, self.provider_namespace)
            if service is None:
                return None
            address = f"{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}"
            kubectl("apply", "-f", "-", stdin=json.dumps(self._reader(address)))
        lines = kubectl("logs", READER, "-n", self.clean_room, "--tail=1", check=False).split()
        return lines[-1] if lines else None
