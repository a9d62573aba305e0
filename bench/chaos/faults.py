"""What the chaos campaign does to the system: two local operator replicas and SIGKILLs of the
leader, restarts of the hub's API server and etcd, and a prober of the admission webhook."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bench.hubkit.benchhub import COMPONENTS, cluster_dir
from bench.hubkit.processes import OperatorProcess, free_port

LEASE, OPERATOR_NAMESPACE = "tds-operator-leader", "tds-system"
WEBHOOK_UNREACHABLE = "failed calling webhook"
# What kopf logs (at debug, as the replicas log) once the webhook server listens.
WEBHOOK_SERVING = "Listening for webhooks at"
SERVING_TIMEOUT_SECONDS = 60
NOBODY_LISTENS = "connection refused"


# --- the control plane ---------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class ControlPlane:
    """The hub's control-plane processes as kwokctl started them (command line, working
    directory, environment, read once at the start), so that one can be restarted, and one that
    died started again as a kubelet restarts a static pod (the hub's controller-manager and
    scheduler run without leader election, so an API server restart no longer ends them)."""

    def __init__(self, hub_dir: Path, api: client.ApiClient) -> None:
        self.here, self.api = cluster_dir(hub_dir), api
        self.lock = threading.Lock()
        self.commands: dict[str, tuple[list[str], dict[str, str]]] = {}
        for component in COMPONENTS:
            pid = self._pid(component)
            command = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
            environ = Path(f"/proc/{pid}/environ").read_bytes().rstrip(b"\0").split(b"\0")
            env = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
            self.commands[component] = ([part.decode() for part in command], env)
        self.children: list[subprocess.Popen[bytes]] = []
        self.revived: dict[str, int] = {}

    def _pid(self, component: str) -> int:
        return int((self.here / "pids" / f"{component}.pid").read_text().strip())

    def _launch(self, component: str) -> None:
        command, env = self.commands[component]
        with (self.here / "logs" / f"{component}.log").open("ab") as log:
            process = subprocess.Popen(
                command,
                cwd=self.here,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.children.append(process)
        (self.here / "pids" / f"{component}.pid").write_text(str(process.pid))

    def restart(self, component: str) -> float:
        """Kill one process (SIGKILL, a crash; a graceful stop of the API server drains for
        half a minute with its port free, which other local clusters may take) and start it
        again; the seconds until the API server answered again."""
        started = time.monotonic()
        with self.lock:
            pid = self._pid(component)
            os.kill(pid, signal.SIGKILL)
            while _alive(pid) and time.monotonic() - started < 60:
                self._reap()
                time.sleep(0.05)
            self._launch(component)
        while time.monotonic() - started < 120:
            try:
                client.CoreV1Api(self.api).list_namespace(limit=1, _request_timeout=2)
                return time.monotonic() - started
            except Exception:  # anything but an answer means not ready yet
                time.sleep(0.1)
        raise RuntimeError(f"the API server did not answer within 120 s of restarting {component}")

    def _reap(self) -> None:
        for child in self.children:
            child.poll()

    def revive_dead(self) -> None:
        with self.lock:
            self._reap()
            for component in COMPONENTS:
                if not _alive(self._pid(component)):
                    self._launch(component)
                    self.revived[component] = self.revived.get(component, 0) + 1


class Supervisor(threading.Thread):
    """Starts again, every second, whatever control-plane process died."""

    def __init__(self, control: ControlPlane) -> None:
        super().__init__(daemon=True)
        self.control = control
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(1.0):
            self.control.revive_dead()


# --- the operator's replicas ---------------------------------------------------------------------


@dataclass
class Replicas:
    """Two local operator replicas sharing the webhook's port and certificate; the holder of the
    Lease is SIGKILLed and a fresh replica started in its place."""

    kubeconfig: str
    logs: Path
    api: client.ApiClient
    running: dict[str, OperatorProcess] = field(default_factory=dict)
    kills: list[float] = field(default_factory=list)
    takeovers: list[float] = field(default_factory=list)
    started = 0

    def __post_init__(self) -> None:
        self.shared = {
            "TDS_WEBHOOK_PORT": str(free_port()),
            "TDS_WEBHOOK_CERT_DIR": str(self.logs / "webhook-tls"),
        }

    def start_one(self) -> str:
        """Start a replica and return once it serves the webhooks (as a pod is Ready once its
        webhook port accepts connections): killing the leader while the only other replica still
        starts would be two failures at once, which no two replicas can cover."""
        self.started += 1
        name = f"replica-{self.started}"
        env = {**self.shared, "TDS_REPLICA_NAME": name}
        log = self.logs / f"{name}.log"
        process = OperatorProcess(self.kubeconfig, log, env)
        process.start()
        self.running[name] = process
        deadline = time.monotonic() + SERVING_TIMEOUT_SECONDS
        while WEBHOOK_SERVING not in log.read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{name} did not serve the webhooks in {SERVING_TIMEOUT_SECONDS} s"
                )
            time.sleep(0.1)
        return name

    def holder(self) -> str | None:
        try:
            lease = client.CoordinationV1Api(self.api).read_namespaced_lease(
                LEASE, OPERATOR_NAMESPACE, _request_timeout=3
            )
        except (ApiException, OSError, Exception):  # API server restarting
            return None
        holder: str | None = lease.spec.holder_identity
        return holder

    def live_leader(self, timeout: float = 60) -> str:
        """The replica that holds the Lease, once a live one does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            name = self.holder()
            process = self.running.get(name or "")
            if process is not None and process.process and process.process.poll() is None:
                return name or ""
            time.sleep(0.1)
        raise RuntimeError(f"no live replica took the Lease within {timeout} s")

    def kill_leader(self) -> None:
        """SIGKILL the leader, start a replacement, and note how long the standby took."""
        leader = self.live_leader()
        self.running.pop(leader).stop(kill=True)
        killed = time.monotonic()
        self.kills.append(time.time())
        self.live_leader()
        self.takeovers.append(time.monotonic() - killed)
        self.start_one()

    def stop_all(self) -> None:
        for process in self.running.values():
            process.stop()


class Killer(threading.Thread):
    """Kills the leader `kills` times at random moments spread over `duration` seconds."""

    def __init__(self, replicas: Replicas, kills: int, duration: float, seed: int) -> None:
        super().__init__(daemon=True)
        self.replicas, self.kills, self.duration = replicas, kills, duration
        self.random = random.Random(seed)
        self.done = threading.Event()
        self.errors: list[str] = []

    def run(self) -> None:
        start = time.monotonic()
        for index in range(self.kills):
            # Each kill at a random moment of its own share of the duration.
            share = self.duration / max(self.kills, 1)
            moment = start + share * (index + self.random.random())
            if self.done.wait(max(0.0, moment - time.monotonic())):
                return
            try:
                self.replicas.kill_leader()
            except Exception as error:  # reported, the campaign goes on
                self.errors.append(f"kill {index + 1}: {error}")


# --- the webhook prober --------------------------------------------------------------------------


class Prober(threading.Thread):
    """Sends an admission-bound write (a dry-run TrainingJob create) every 0.1 s and counts the
    answers, the writes refused because no replica listened on the webhook's address, those cut
    because the replica answering them was killed in the middle, and those lost while the API
    server itself was down."""

    def __init__(self, api: client.CustomObjectsApi, body: dict[str, object]) -> None:
        super().__init__(daemon=True)
        self.api, self.body = api, body
        self.done = threading.Event()
        self.answered = 0
        self.refused: list[str] = []
        self.cut: list[str] = []
        self.api_down = 0
        self.sent = 0

    def run(self) -> None:
        metadata = dict(self.body["metadata"])  # type: ignore[call-overload]
        namespace = str(metadata["namespace"])
        count = 0
        while not self.done.wait(0.1):
            count += 1
            self.sent = count
            body = {**self.body, "metadata": {**metadata, "name": f"probe{count}"}}
            try:
                self.api.create_namespaced_custom_object(
                    "tds.io",
                    "v1alpha1",
                    namespace,
                    "trainingjobs",
                    body,
                    dry_run="All",
                    _request_timeout=5,
                )
                self.answered += 1
            except ApiException as error:
                text = str(error.body)
                if WEBHOOK_UNREACHABLE in text:
                    # Nobody listened, or the replica that had the request died with it.
                    missed = self.refused if NOBODY_LISTENS in text else self.cut
                    missed.append(f"{time.time():.1f} {text[-160:]}")
                elif error.status in (0, 500, 503, 504):
                    self.api_down += 1
                else:
                    self.answered += 1  # the webhook answered, and judged
            except Exception:  # the API server is restarting
                self.api_down += 1
