"""Where the installed operator runs during the e2e suite.

`InClusterOperator`: the chart's Deployment (kind, any real cluster). `ServiceAccountOperator`: on
the local hub pods are simulated, so `python -m tds_operator` runs on this machine, configured
from the chart's Deployment (its environment) and authenticated with a token of the chart's
ServiceAccount: whatever it may do, the chart's RBAC allows, and nothing more. The API server
calls its webhooks at the chart's `webhook.url` with the chart's certificate.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Protocol

import yaml

from bench.hubkit.processes import free_port
from tds_operator.config import POD_LOCAL_SETTINGS
from tests.e2e.cluster import NAMESPACE, fullname, get, kubeconfig, kubectl


class OperatorDidNotStart(AssertionError):
    """The operator did not become healthy; the message ends with its log."""


class Operator(Protocol):
    """The running operator, as the suite needs it."""

    def start(self, timeout: float = 60) -> None: ...
    def restart(self, timeout: float = 60) -> None: ...
    def stop(self) -> None: ...
    def log(self) -> str: ...


def wait_for_port(port: int, timeout: float) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


def service_account_kubeconfig(account: str, path: Path) -> Path:
    """A kubeconfig at `path` with the admin's cluster entry and a token of `account` (a
    ServiceAccount of the release's namespace)."""
    admin = yaml.safe_load(Path(kubeconfig()).read_text())
    context = next(c["context"] for c in admin["contexts"] if c["name"] == admin["current-context"])
    cluster = next(c["cluster"] for c in admin["clusters"] if c["name"] == context["cluster"])
    token = kubectl("create", "token", account, "-n", NAMESPACE, "--duration=6h").strip()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": cluster}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "cluster", "user": account}}],
        "current-context": "operator",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


class ServiceAccountOperator:
    """`python -m tds_operator` on this machine with the chart's identity and configuration."""

    def __init__(self, workdir: Path, webhook_port: int) -> None:
        self.workdir = workdir
        self.webhook_port = webhook_port
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "operator-0.log"
        self.runs = 0
        self.service_account = ""
        self.env: dict[str, str] = {}
        self.args: list[str] = []

    def prepare(self) -> None:
        """Read identity, configuration and certificate from the installed release."""
        deployment = get("deployment", fullname(), NAMESPACE)
        assert deployment is not None, f"the chart's Deployment {fullname()} is missing"
        pod = deployment["spec"]["template"]["spec"]
        container = next(c for c in pod["containers"] if c["name"] == "operator")
        self.service_account = pod["serviceAccountName"]
        self.args = list(container.get("args") or [])
        for entry in container.get("env") or []:
            if entry["name"] in POD_LOCAL_SETTINGS:
                continue
            assert "valueFrom" not in entry, f"env {entry['name']} is not a plain value"
            # The API server stores an empty value as no value at all.
            self.env[entry["name"]] = entry.get("value", "")
        self._write_kubeconfig()
        self._write_certificate(pod)

    def _write_kubeconfig(self) -> None:
        self.kubeconfig = service_account_kubeconfig(
            self.service_account, self.workdir / "operator.kubeconfig"
        )

    def _write_certificate(self, pod: dict[str, object]) -> None:
        """The serving certificate the chart made (the pod would mount it from this Secret)."""
        volumes = pod["volumes"]
        assert isinstance(volumes, list)
        secret_name = next(v["secret"]["secretName"] for v in volumes if v["name"] == "webhook-tls")
        secret = get("secret", secret_name, NAMESPACE)
        assert secret is not None, f"the webhook certificate Secret {secret_name} is missing"
        self.cert_dir = self.workdir / "webhook"
        self.cert_dir.mkdir(exist_ok=True)
        for key in ("tls.crt", "tls.key"):
            (self.cert_dir / key).write_bytes(base64.b64decode(secret["data"][key]))
        (self.cert_dir / "tls.key").chmod(0o600)

    def start(self, timeout: float = 60) -> None:
        """Start the operator; wait until it is healthy and its webhook server listens."""
        self.runs += 1
        self.log_path = self.workdir / f"operator-{self.runs}.log"
        health_port = free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith("TDS_")}
        env.update(self.env)
        env.update(
            {
                "KUBECONFIG": str(self.kubeconfig),
                "TDS_WEBHOOK_ADDRESS": "127.0.0.1",
                "TDS_WEBHOOK_PORT": str(self.webhook_port),
                "TDS_WEBHOOK_CERT_DIR": str(self.cert_dir),
                "TDS_METRICS_PORT": str(free_port()),
                "TDS_LIVENESS_ENDPOINT": f"http://127.0.0.1:{health_port}/healthz",
            }
        )
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tds_operator", *self.args, "--verbose"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise OperatorDidNotStart(f"operator exited:\n{self.tail()}")
            try:
                url = f"http://127.0.0.1:{health_port}/healthz"
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200 and wait_for_port(self.webhook_port, 5):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise OperatorDidNotStart(f"operator not healthy after {timeout}s:\n{self.tail()}")

    def restart(self, timeout: float = 60) -> None:
        """Stop and start again (e.g. after its permissions changed)."""
        self.stop()
        self.start(timeout)

    def stop(self) -> None:
        """SIGTERM, as the kubelet stops a pod."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log(self) -> str:
        """The log of the current (or last) run."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


class InClusterOperator:
    """The chart's Deployment: restarted by a rollout, observed through its pod's log."""

    def start(self, timeout: float = 180) -> None:
        """Roll out a fresh pod and wait until it is ready (its webhook server listens)."""
        deployment = f"deployment/{fullname()}"
        kubectl("rollout", "restart", deployment, "-n", NAMESPACE)
        result = kubectl(
            "rollout",
            "status",
            deployment,
            "-n",
            NAMESPACE,
            f"--timeout={int(timeout)}s",
            check=False,
        )
        if "successfully rolled out" not in result:
            raise OperatorDidNotStart(f"{deployment} did not roll out:\n{self.log()}")

    def restart(self, timeout: float = 180) -> None:
        """A new pod: the same as start."""
        self.start(timeout)

    def stop(self) -> None:
        """Nothing to do: uninstalling the chart removes the Deployment."""

    def log(self) -> str:
        """The log of every replica's two processes (the controller's and the webhook server's:
        what the one process of a local run logs), and their previous containers' if they
        restarted. `kubectl logs deployment/...` would show one pod's, which need not be the
        leader's."""
        selector = ",".join(f"{k}={v}" for k, v in self.selector().items())
        command = ["logs", "-l", selector, "-n", NAMESPACE, "--all-containers", "--prefix"]
        command += ["--tail=-1", "--max-log-requests=20"]
        previous = kubectl(*command, "--previous", check=False)
        return previous + kubectl(*command, check=False)

    @staticmethod
    def selector() -> dict[str, str]:
        deployment = get("deployment", fullname(), NAMESPACE)
        assert deployment is not None, f"the chart's Deployment {fullname()} is missing"
        labels: dict[str, str] = deployment["spec"]["selector"]["matchLabels"]
        return labels
