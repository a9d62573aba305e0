"""What the failover test (3e) needs: the leader's process killed from its node, and admission
requests sent to the API server at a steady rate, each answer recorded."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

from tests.e2e.cluster import NAMESPACE, Manifest, fullname, get, kubeconfig

# One request every 100 ms, each answered or given up within the webhooks' own timeout.
INTERVAL = 0.1
REQUEST_TIMEOUT = 15.0


def lease_holder() -> str:
    lease = get("lease", lease_name(), NAMESPACE)
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


def lease_name() -> str:
    return f"{fullname()}-leader"


def renewed_after(lease: Manifest, moment: float) -> str:
    """The Lease's holder if it renewed the Lease after `moment` (epoch seconds), else ''."""
    spec = lease.get("spec") or {}
    renewed = spec.get("renewTime")
    if not renewed or not spec.get("holderIdentity"):
        return ""
    when = datetime.fromisoformat(str(renewed).replace("Z", "+00:00")).timestamp()
    return str(spec["holderIdentity"]) if when > moment else ""


def node_exec(node: str, *command: str) -> str:
    """A command in a kind node's container (its processes are the node's)."""
    return subprocess.run(
        ["docker", "exec", node, *command], capture_output=True, text=True, check=True
    ).stdout.strip()


def container_pid(pod: Manifest, container_name: str) -> tuple[str, str]:
    """(node, pid on that node) of the process of `pod`'s container `container_name`."""
    node, name = pod["spec"]["nodeName"], pod["metadata"]["name"]
    sandbox = node_exec(
        node, "crictl", "pods", "--name", f"^{name}$", "--namespace", NAMESPACE, "-q"
    )
    assert sandbox, f"no pod sandbox of {name} on {node}"
    assert "\n" not in sandbox, f"pod sandbox of {name} on {node}: {sandbox!r}"
    container = node_exec(
        node, "crictl", "ps", "--pod", sandbox, "--name", f"^{container_name}$", "-q"
    )
    assert container, f"no {container_name} container of {name}"
    assert "\n" not in container, f"{container_name} container of {name}: {container!r}"
    template = "{{.info.pid}}"
    pid = node_exec(
        node, "crictl", "inspect", "-o", "go-template", "--template", template, container
    )
    assert pid.isdigit(), f"the {container_name} pid on {node}: {pid!r}"
    assert pid != "1", f"the {container_name} pid on {node}: {pid!r}"
    return node, pid


def kill_process(pod: Manifest, container_name: str) -> tuple[float, float]:
    """SIGKILL the process of `pod`'s container `container_name` from its node (a signal from
    outside the container's pid namespace, which its PID 1 cannot ignore); when the command was
    started and when it had killed the process (epoch seconds): `docker exec` takes up to a
    second on a loaded machine."""
    node, pid = container_pid(pod, container_name)
    sent = time.time()
    node_exec(node, "kill", "-9", pid)
    return sent, time.time()


# How the API server words a webhook it could not reach (as opposed to the webhook's answer).
# Go's words for a connection that failed: refused, reset, closed while in use (the API server's
# kept-alive connection to the killed server, seen once in CI), or written to after it closed.
CONNECTION_FAILURES = (
    "connection refused",
    "connection reset",
    "EOF",
    "no route to host",
    "use of closed network connection",
    "broken pipe",
)
# How much of a refusal's message is kept: enough for the API server's whole sentence.
MESSAGE_KEPT = 2000


def connection_failure(message: str) -> bool:
    """Whether a refusal is the API server's failure to reach a webhook."""
    return "failed calling webhook" in message and any(f in message for f in CONNECTION_FAILURES)


@dataclass
class Answers:
    """(sent at, HTTP status, message) of every request."""

    got: list[tuple[float, int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, at: float, status: int, message: str) -> None:
        with self.lock:
            self.got.append((at, status, message))

    def refused(self) -> list[tuple[float, int, str]]:
        return sorted(a for a in self.got if a[1] >= 300)

    def refused_after(self, at: float, window: float) -> tuple[int, list[tuple[float, int, str]]]:
        """How many requests were sent in the `window` seconds from `at` (a kill), and the
        refused ones as (seconds after `at`, status, message), once the positive controls hold:
        requests were sent before `at` and all answered, and 80 % of one every INTERVAL after."""
        before = [a for a in self.got if a[0] < at]
        after = [a for a in self.got if a[0] >= at]
        assert before, "positive control: no request sent before the kill"
        assert all(a[1] == 201 for a in before), f"positive control: {before[:3]}"
        assert len(after) >= window / INTERVAL * 0.8, f"only {len(after)} requests sent"
        return len(after), [(round(a[0] - at, 2), a[1], a[2]) for a in self.refused() if a[0] >= at]


def _admin() -> tuple[str, ssl.SSLContext]:
    """The API server's URL and a TLS context with the kubeconfig's client certificate."""
    config = yaml.safe_load(Path(kubeconfig()).read_text())
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    context = ssl.create_default_context(
        cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
    )
    with tempfile.TemporaryDirectory() as directory:
        cert, key = Path(directory) / "cert", Path(directory) / "key"
        cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        context.load_cert_chain(cert, key)
    return str(cluster["server"]), context


def _dry_run_create(url: str, context: ssl.SSLContext, body: bytes, answers: Answers) -> None:
    at = time.time()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT, context=context) as reply:
            answers.add(at, reply.status, "")
    except urllib.error.HTTPError as error:
        answers.add(at, error.code, error.read().decode(errors="replace")[:MESSAGE_KEPT])
    except OSError as error:
        answers.add(at, 599, str(error))


def killed_container(pod_name: str, container_name: str) -> Manifest:
    """The status of the container `container_name` of the operator's pod `pod_name`, once a
    process of it was killed: the pod must still be there (a process kill, not a pod's)."""
    pod = get("pod", pod_name, NAMESPACE)
    assert pod is not None, f"{pod_name} is gone: the kill was not a process kill"
    statuses = pod["status"]["containerStatuses"]
    status: Manifest = next(s for s in statuses if s["name"] == container_name)
    return status


def killed_by_sigkill(status: Manifest) -> bool:
    """Whether a container's previous process ended with SIGKILL's exit code."""
    return ((status.get("lastState") or {}).get("terminated") or {}).get("exitCode") == 137


def _dry_run_url(server: str) -> str:
    return f"{server}/apis/tds.io/v1alpha1/dataspaces?dryRun=All"


def dry_run(space: Manifest) -> tuple[int, str]:
    """One server-side dry-run create of `space`, sent as admission_requests sends them: the
    HTTP status and the refusal's message ('' when created)."""
    server, context = _admin()
    answers = Answers()
    _dry_run_create(_dry_run_url(server), context, json.dumps(space).encode(), answers)
    [(_, status, message)] = answers.got
    return status, message


@contextmanager
def admission_requests(space: Manifest) -> Iterator[Answers]:
    """While open: a server-side dry-run create of `space` (a DataSpace, which both a mutating and
    a validating webhook judge) every INTERVAL seconds, each on its own thread."""
    server, context = _admin()
    url = _dry_run_url(server)
    body = json.dumps(space).encode()
    answers, stop = Answers(), threading.Event()

    def send(pool: ThreadPoolExecutor) -> None:
        tick = time.monotonic()
        while not stop.is_set():
            pool.submit(_dry_run_create, url, context, body, answers)
            tick += INTERVAL
            time.sleep(max(0.0, tick - time.monotonic()))

    with ThreadPoolExecutor(max_workers=64) as pool:
        sender = threading.Thread(target=send, args=(pool,), daemon=True)
        sender.start()
        try:
            yield answers
        finally:
            stop.set()
            sender.join()
