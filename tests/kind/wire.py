"""Pods that probe the network of a kind cluster, and the places they probe.

Every probe runs `probe_program.py` in a pod with `kubectl exec`, so what is tested is the packet
the pod sends, filtered by the cluster's NetworkPolicy engine, not an API object. Each seal is
asserted beside its positive control: the same probe, from a pod that policy lets through, must
succeed, so that a probe that can never succeed cannot pass as a seal.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.hubkit.waiting import wait_until
from tds_operator.desired.grants import DATASETS_AUDIENCE
from tests.e2e.cluster import Manifest, get, kubectl
from tests.e2e.story import Story

PROGRAM = (Path(__file__).parent / "probe_program.py").read_text()
# The GPU pool's taint: clean-room workers run there, and so do the probes beside them.
GPU_POOL = {
    "nodeSelector": {"hub.tds.io/pool": "gpu"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
}
# The volume dataset of the story's contract (examples/): what the gateway tests read.
DATASET = "grid-load-2024"
# The address clouds serve instance metadata (and credentials) on.
METADATA_ADDRESS = "169.254.169.254"


def image() -> str:
    """The trainer image (python3): what make e2e-kind loaded into the cluster."""
    return os.environ["TDS_E2E_TRAINING_IMAGE"]


# Small requests: the tier's pods share one CPU node (2 CPUs on a 2-core machine), which the
# defaults of the spaces' and clean rooms' LimitRanges (100m a container) fill up by the time the
# tier's last modules run; the gateways the operator makes take 200m each.
PROBE_RESOURCES = {
    "requests": {"cpu": "10m", "memory": "32Mi"},
    "limits": {"cpu": "500m", "memory": "128Mi"},
}


def restricted_pod(
    name: str,
    namespace: str,
    command: list[str],
    *,
    labels: dict[str, str] | None = None,
    gpu_pool: bool = False,
) -> Manifest:
    """A pod that the restricted Pod Security level admits; on the GPU pool (beside the clean
    rooms' workers) with `gpu_pool`, which no space's pod may be (the spaces' admission policy)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {
            **(GPU_POOL if gpu_pool else {}),
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65532,
                "runAsGroup": 65532,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "probe",
                    "image": image(),
                    "imagePullPolicy": "Never",
                    "command": command,
                    "resources": PROBE_RESOURCES,
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def start_pod(manifest: Manifest) -> Manifest:
    """Create the pod and wait until it runs; return it (with its IP)."""
    meta = manifest["metadata"]
    kubectl("apply", "-f", "-", stdin=json.dumps(manifest))

    def running() -> Manifest | None:
        pod = get("pod", meta["name"], meta["namespace"])
        return pod if pod and (pod.get("status") or {}).get("phase") == "Running" else None

    found: Manifest = wait_until(running, timeout=120, interval=0.5, what=f"pod {meta['name']}")
    return found


@dataclass(frozen=True)
class Prober:
    """A running pod that probes on request."""

    name: str
    namespace: str
    container: str | None = None

    def probe(self, *args: str) -> str:
        command = ["exec", self.name, "-n", self.namespace]
        if self.container:
            command += ["-c", self.container]
        return kubectl(*command, "--", "python3", "-c", PROGRAM, *args).strip()

    def tcp(self, host: str, port: int) -> str:
        return self.probe("tcp", host, str(port))

    def dns(self, server: str, name: str) -> str:
        return self.probe("dns", server, name)

    def fetch(self, url: str, token_file: str) -> str:
        return self.probe("fetch", url, token_file)


def prober(name: str, namespace: str, *, gpu_pool: bool = False) -> Prober:
    """A probe pod (sleeping until asked) in `namespace`, running."""
    start_pod(restricted_pod(name, namespace, ["sleep", "3600"], gpu_pool=gpu_pool))
    return Prober(name, namespace)


def server(name: str, namespace: str, port: int) -> Manifest:
    """A pod that answers HTTP on `port` and a Service in front of it; returns the pod."""
    labels = {"tds.io/probe-target": name}
    pod = start_pod(
        restricted_pod(
            name,
            namespace,
            ["python3", "-m", "http.server", str(port), "--directory", "/opt"],
            labels=labels,
        )
    )
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": port}]},
    }
    kubectl("apply", "-f", "-", stdin=json.dumps(service))
    return pod


def node_gateway() -> str:
    """The address of this machine on the kind nodes' network: outside the cluster."""
    network = json.loads(
        subprocess.run(
            ["docker", "network", "inspect", "kind"], capture_output=True, text=True, check=True
        ).stdout
    )[0]
    for config in network["IPAM"]["Config"]:
        if ":" not in config.get("Gateway", ":"):
            return str(config["Gateway"])
    raise AssertionError(f"no IPv4 gateway on the kind network: {network['IPAM']}")


def kind_bridge() -> str:
    network_id = subprocess.run(
        ["docker", "network", "inspect", "kind", "-f", "{{.Id}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return f"br-{network_id[:12]}"


@contextmanager
def listener(address: str) -> Iterator[int]:
    """A TCP server on this machine at `address` (a free port) that accepts and closes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, 0))
    sock.listen(16)
    stop = threading.Event()

    def serve() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        sock.close()


@contextmanager
def metadata_service() -> Iterator[int]:
    """A stand-in for a cloud's metadata service: METADATA_ADDRESS on this machine's side of
    the kind network, listening; removed afterwards."""
    bridge = kind_bridge()
    add = ["ip", "addr", "add", f"{METADATA_ADDRESS}/32", "dev", bridge]
    subprocess.run(add, check=True, capture_output=True)
    try:
        with listener(METADATA_ADDRESS) as port:
            yield port
    finally:
        delete = ["ip", "addr", "del", f"{METADATA_ADDRESS}/32", "dev", bridge]
        subprocess.run(delete, check=False, capture_output=True)


def token_pod(
    name: str, namespace: str, command: list[str], *, service_account: str = "default"
) -> Manifest:
    """A restricted pod with a projected token for the dataset gateways' audience at
    /token/token, running as `service_account`."""
    pod = restricted_pod(name, namespace, command)
    token = {"audience": DATASETS_AUDIENCE, "expirationSeconds": 600, "path": "token"}
    pod["spec"]["serviceAccountName"] = service_account
    pod["spec"]["volumes"] = [
        {"name": "token", "projected": {"sources": [{"serviceAccountToken": token}]}}
    ]
    pod["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "token", "mountPath": "/token", "readOnly": True}
    ]
    return pod


def program(*args: str) -> list[str]:
    """The command that runs the probe program in a pod, e.g. program("watch", url, token)."""
    return ["python3", "-c", PROGRAM, *args]


def gateway_url(story: Story) -> str:
    """The URL of the provider's file through the gateway of the story's contract for DATASET
    (a gateway is named after its contract's uid)."""
    service = get("service", story.gateway(DATASET), f"tds-{story.provider}")
    assert service is not None, f"no gateway of {story.contract_name} for {DATASET}"
    address = f"{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}"
    return f"https://{address}/hello.txt"
