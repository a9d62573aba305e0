"""When an object changed, as the API server told its watchers, rather than as a poll saw it: a
poll by `kubectl get` takes a few tenths of a second on a loaded machine (a few seconds when it
reads several objects), which a bound of a few seconds cannot absorb. `kubectl get -w` in the
background; each event stamped as it arrives."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.e2e.cluster import Manifest, kubeconfig, kubectl_binary


@dataclass
class Events:
    """(arrived at, event type, object) of every event of one watched object."""

    got: list[tuple[float, str, Manifest]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, at: float, kind: str, body: Manifest) -> None:
        with self.lock:
            self.got.append((at, kind, body))

    def first(self, holds: Callable[[str, Manifest], bool], since: float = 0.0) -> float | None:
        """When an event that arrived at `since` or later first showed `holds(type, object)`."""
        with self.lock:
            return next(
                (at for at, kind, body in self.got if at >= since and holds(kind, body)), None
            )


def _read(stream: Any, events: Events) -> None:
    decoder, buffer = json.JSONDecoder(), ""
    for line in stream:
        buffer += line
        while buffer.strip():
            try:
                event, end = decoder.raw_decode(buffer.lstrip())
            except json.JSONDecodeError:
                break  # the rest of this event is still to come
            events.add(time.time(), str(event.get("type", "")), event.get("object") or {})
            buffer = buffer.lstrip()[end:]


@contextmanager
def streamed(command: list[str], read: Callable[[Any, Any], None], into: Any) -> Iterator[None]:
    """While open: `command` runs in the background, `read(its stdout, into)` in a thread."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    reader = threading.Thread(target=read, args=(process.stdout, into), daemon=True)
    reader.start()
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)
        reader.join(timeout=10)


@contextmanager
def watched(kind: str, name: str, namespace: str) -> Iterator[Events]:
    """While open: every event of one object, from its state when the watch began."""
    command = [kubectl_binary(), "--kubeconfig", kubeconfig(), "get", kind, name, "-n", namespace]
    events = Events()
    with streamed([*command, "--watch", "--output-watch-events", "-o", "json"], _read, events):
        yield events


def worker_ended(event: str, pod: Manifest) -> bool:
    """Whether a watch event of the worker's pod shows it gone or every container ended."""
    if event == "DELETED":
        return True
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return bool(statuses) and all("terminated" in s.get("state", {}) for s in statuses)


@contextmanager
def exits_on(node: str) -> Iterator[Events]:
    """While open: containerd's task exits on one kind node (`ctr events`, topic `/tasks/exit`),
    each stamped as it arrives, with its container id as the event's object. The exit is the
    process's own end as its runtime saw it; the pod's status reports it only at the kubelet's
    next look at its containers (up to a second later)."""
    events = Events()
    with streamed(
        ["docker", "exec", node, "ctr", "--namespace", "k8s.io", "events"], _exits, events
    ):
        yield events


def _exits(stream: Any, events: Events) -> None:
    for line in stream:
        head, brace, payload = line.partition("{")
        if "/tasks/exit" in head and brace:
            try:
                body = json.loads(brace + payload)
            except json.JSONDecodeError:
                continue
            # A container's own process is the task whose id is the container's; an exec in it
            # (a probe, `kubectl exec`) ends under an id of its own.
            if body.get("id") and body.get("id") == body.get("container_id"):
                events.add(time.time(), "exit", {"id": body["id"]})


def container_ids(pod: Manifest) -> set[str]:
    """The runtime's ids of a pod's containers (`containerd://<id>` in its status)."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return {s["containerID"].partition("://")[2] for s in statuses if s.get("containerID")}


def last_exit(exits: list[tuple[float, str, Manifest]], ids: set[str]) -> float | None:
    """When the last of these containers' processes ended (as `exits_on` saw), if every one did."""
    ended = {body["id"]: at for at, _, body in exits if body["id"] in ids}
    return max(ended.values()) if ended and ended.keys() == ids else None
