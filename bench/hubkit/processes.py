"""The operator as a real process (`python -m tds_operator`), as `make run` starts it, and a free
local port; shared by the integration and e2e tiers."""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import ClassVar

from prometheus_client.parser import text_string_to_metric_families

# Ports are chosen from here up to the kernel's ephemeral range.
PORTS_FROM = 20000


def ephemeral_ports() -> tuple[int, int]:
    """The kernel's range of ports for outgoing connections."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now, below the kernel's ephemeral range:
    a port of that range, free when looked at, can be taken by any outgoing connection before
    the process it is meant for binds it (an operator's webhook server once failed to start so,
    `address already in use`, while two hubs and a kind cluster ran)."""
    low, _ = ephemeral_ports()
    candidates = list(range(PORTS_FROM, low)) if low > PORTS_FROM + 1000 else []
    for port in random.sample(candidates, min(len(candidates), 200)):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:  # a machine whose ephemeral range starts low
        probe.bind(("127.0.0.1", 0))
        chosen: int = probe.getsockname()[1]
        return chosen


OPERATOR_IMAGE = "tds-operator:dev"
"""The operator's image as the hub's operator process names it."""


class OperatorProcess:
    """Starts, stops and restarts the operator, and reads its metrics."""

    logs: ClassVar[set[Path]] = set()
    """The log of every operator process started in this test session (read on a failure)."""

    def __init__(
        self,
        kubeconfig: str,
        log_path: Path,
        extra_env: dict[str, str] | None = None,
        *,
        verbose: bool = True,
    ):
        """`verbose`: log every event (as tests do), or only what an installed operator logs."""
        self.kubeconfig = kubeconfig
        self.verbose = verbose
        self.log_path = log_path
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.metrics_port = 0
        self.health_port = 0

    def start(self) -> None:
        """Start the operator and wait until it reports healthy."""
        self.metrics_port, self.health_port = free_port(), free_port()
        env = {
            **os.environ,
            "KUBECONFIG": self.kubeconfig,
            "TDS_WEBHOOK_PORT": str(free_port()),
            "TDS_METRICS_PORT": str(self.metrics_port),
            "TDS_LIVENESS_ENDPOINT": f"http://127.0.0.1:{self.health_port}/healthz",
            # The local hub simulates pods: jobs steer them with hub.tds.io/* metadata.
            "TDS_SIMULATION_HUB": "true",
            # The image the manifest step's pod names (the hub never runs it: see
            # tests/integration/hub.py complete_manifest_step).
            "TDS_OPERATOR_IMAGE": OPERATOR_IMAGE,
            # The operator's own queue, even on a hub that runs Kueue; the Kueue tests say on.
            "TDS_KUEUE": "off",
            **self.extra_env,
        }
        OperatorProcess.logs.add(self.log_path)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tds_operator", *(["--verbose"] if self.verbose else [])],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"operator exited with {self.process.returncode}: {self.tail()}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.health_port}/healthz", timeout=1
                ) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"operator did not become healthy: {self.tail()}")

    def stop(self, *, kill: bool = False) -> None:
        """Stop the operator: SIGTERM (graceful) or SIGKILL (a crash)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self, *, kill: bool = False) -> None:
        """Stop (or kill) and start again."""
        self.stop(kill=kill)
        self.start()

    def samples(self, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
        """The labels and value of each sample of a metric whose labels match, as scraped now."""
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
        ) as response:
            text = response.read().decode()
        return [
            (sample.labels, sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
        ]

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a metric's samples whose labels match."""
        return sum(value for _, value in self.samples(name, **labels))

    def writes(self) -> float:
        """Write requests the operator has sent since it started for what it reconciles: all but
        the leader election's Lease renewals, its heartbeat (kind="Lease")."""
        return self.metric("tds_api_writes_total") - self.metric(
            "tds_api_writes_total", kind="Lease"
        )

    def tail(self, lines: int = 40) -> str:
        """The end of the operator's log, for failure messages."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


LOG_PROBLEM = re.compile(r" (WARNING|ERROR|CRITICAL) |^[A-Za-z_.]*(Error|Exception)\b")


def log_sizes() -> dict[Path, int]:
    """How far each operator log of the session goes now."""
    return {path: path.stat().st_size for path in OperatorProcess.logs if path.exists()}


def problems_since(sizes: dict[Path, int], limit: int = 20) -> list[str]:
    """The warnings, errors and exception lines each operator logged since `sizes` (the last
    `limit`): what a failed test's report shows of the operator, whose logs CI does not keep."""
    lines: list[str] = []
    for path in sorted(OperatorProcess.logs):
        if not path.exists():
            continue
        with path.open("rb") as log:
            log.seek(sizes.get(path, 0))
            text = log.read().decode(errors="replace")
        lines += [line for line in text.splitlines() if LOG_PROBLEM.search(line)]
    return lines[-limit:]
