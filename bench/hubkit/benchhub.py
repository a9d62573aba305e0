"""A fresh local hub for a benchmark, kubectl against it, and the operator as a process.

Shared by the hub benchmarks (bench/scale.py, bench/hub_scenario.py): each starts its own hub in
its own HUB_DIR, so that nothing another run left there changes the figures, and stops it at the
end.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from bench.hubkit.processes import OperatorProcess

REPO = Path(__file__).resolve().parents[2]

COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok-controller",
)
"""The hub's processes, as kwokctl's binary runtime runs them."""


def cluster_dir(hub_dir: Path) -> Path:
    """Where kwokctl keeps the hub's pid files, logs and binaries."""
    return hub_dir / "kwok" / "clusters" / os.environ.get("HUB_NAME", "tds-hub")


class BenchHub:
    """One hub: started fresh by `up`, gone after `down`; `kubectl` runs against it."""

    def __init__(self, hub_dir: Path) -> None:
        self.hub_dir = hub_dir
        self.kubeconfig = str(hub_dir / "kubeconfig")
        self.env = {**os.environ, "HUB_DIR": str(hub_dir), "KUBECONFIG": self.kubeconfig}

    def up(self) -> None:
        """Stop whatever hub ran in this directory and start a fresh one (three tries: on a
        machine running other hubs, a port kwokctl picked may be taken by the time it binds)."""
        for attempt in range(3):
            self.down()
            started = subprocess.run([REPO / "hack/hub/up.sh"], env=self.env, check=False)
            if started.returncode == 0:
                return
            print(f"the hub did not start (try {attempt + 1} of 3)", flush=True)
        raise RuntimeError("the hub did not start; see its log in " + str(self.hub_dir))

    def down(self) -> None:
        """Stop the hub and remove its state."""
        subprocess.run([REPO / "hack/hub/down.sh"], env=self.env, check=False)

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        """Run kubectl; its output, or an error naming what failed."""
        done = subprocess.run(
            [str(REPO / "hack/hub/kubectl.sh"), *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done.stdout

    def kubectl_process(self, *args: str) -> subprocess.Popen[str]:
        """kubectl running in the background (a watch, one of several parallel clients)."""
        return subprocess.Popen(
            [str(REPO / "hack/hub/kubectl.sh"), *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def operator(self, log: Path, env: dict[str, str] | None = None) -> OperatorProcess:
        """The operator as a process against this hub (not started yet), logging as an installed
        one does (not every event), with `env` added to its environment."""
        return OperatorProcess(self.kubeconfig, log, env, verbose=False)


def peak_rss_mib(pid: int) -> float:
    """The peak resident memory of a running process, in MiB (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a running process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until(condition: object, timeout: float, interval: float = 1.0) -> float:
    """Seconds until `condition()` held; raises after `timeout` seconds."""
    started = time.monotonic()
    while not condition():  # type: ignore[operator]
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not done after {timeout:.0f}s")
        time.sleep(interval)
    return time.monotonic() - started


def component_cpu(hub_dir: Path) -> dict[str, float]:
    """CPU seconds used so far by each of the hub's processes."""
    pids = cluster_dir(hub_dir) / "pids"
    used = {}
    for component in COMPONENTS:
        try:
            used[component] = cpu_seconds(int((pids / f"{component}.pid").read_text().strip()))
        except (OSError, ValueError):
            used[component] = float("nan")
    return used
