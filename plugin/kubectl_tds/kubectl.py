"""Every request goes through `kubectl` itself, with the caller's connection flags.

Why kubectl and not an HTTP client: the caller already has kubectl (this is a kubectl plugin), and
kubectl knows every way a kubeconfig can authenticate (exec plugins, OIDC, client certificates,
tokens), its contexts, default namespace and impersonation. Running it keeps the plugin small,
quick to start and exact about who asks: RBAC and the hub's admission rules answer as they do for
kubectl. The cost, a kubectl process per request, is a few tens of milliseconds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kubectl_tds.failures import (
    EXIT_NO_CLUSTER,
    EXIT_NOT_FOUND,
    EXIT_REFUSED,
    Failure,
)

KUBECTL_TIMEOUT: Final = 60
_KLOG = re.compile(r"^[EWIF]\d{4} \d\d:\d\d:\d\d")  # kubectl's own log lines, not its answer
_WEBHOOK_DENIAL = re.compile(r'admission webhook "[^"]+" denied the request: (?P<reason>.*)', re.S)


@dataclass(frozen=True)
class Connection:
    """kubectl's connection flags as the caller gave them (None: kubectl's own default)."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    user: str | None = None
    groups: tuple[str, ...] = ()

    def flags(self) -> list[str]:
        """The flags passed to every kubectl call (the namespace is passed per call)."""
        given = [("--kubeconfig", self.kubeconfig), ("--context", self.context)]
        flags = [f"{flag}={value}" for flag, value in given if value]
        if self.user:
            flags.append(f"--as={self.user}")
        flags += [f"--as-group={group}" for group in self.groups]
        return flags


def kubectl_binary() -> str:
    """The kubectl to run: $KUBECTL if set, else the one on PATH."""
    found = os.environ.get("KUBECTL") or shutil.which("kubectl")
    if not found:
        raise Failure(
            "kubectl not found: install kubectl, put it on PATH or set KUBECTL to its path",
            EXIT_NO_CLUSTER,
        )
    return found


def run(connection: Connection, args: Sequence[str], what: str = "", stdin: str = "") -> str:
    """kubectl ARGS as the caller: its standard output, or Failure with one line saying why."""
    command = [kubectl_binary(), *connection.flags(), *args]
    try:
        done = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=KUBECTL_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise Failure(
            f"kubectl gave no answer in {KUBECTL_TIMEOUT} s: check that the cluster is up",
            EXIT_NO_CLUSTER,
        ) from None
    if done.returncode != 0:
        raise refusal(done.stderr, what)
    return done.stdout


def stream(connection: Connection, args: Sequence[str], what: str = "") -> Iterator[dict[str, Any]]:
    """The JSON documents kubectl ARGS prints one after another (a watch), as they come; Failure
    if kubectl ends with an error."""
    command = [kubectl_binary(), *connection.flags(), *args]
    decoder, buffer = json.JSONDecoder(), ""
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as watcher:
        try:
            assert watcher.stdout is not None
            for line in watcher.stdout:
                buffer += line
                try:
                    document, end = decoder.raw_decode(buffer.lstrip())
                except json.JSONDecodeError:
                    continue
                buffer = buffer.lstrip()[end:]
                yield document
        finally:
            watcher.terminate()
        stderr = watcher.stderr.read() if watcher.stderr else ""
    if watcher.returncode not in (0, -15):
        raise refusal(stderr, what)


def get_json(connection: Connection, args: Sequence[str], what: str = "") -> dict[str, Any]:
    """kubectl get ... -o json, parsed."""
    loaded = json.loads(run(connection, ["get", *args, "-o", "json"], what) or "{}")
    return loaded if isinstance(loaded, dict) else {}


def current_namespace(connection: Connection) -> str:
    """The namespace the caller's kubeconfig context sets (kubectl's own default: `default`)."""
    if connection.namespace:
        return connection.namespace
    args = ["config", "view", "--minify", "-o", "jsonpath={..namespace}"]
    try:
        return run(connection, args).strip() or "default"
    except Failure:
        return "default"


RBAC_REFUSAL: Final = "refused by the hub's access rules (RBAC)"


def forbidden(failure: Failure) -> bool:
    """Whether RBAC refused the request (not a missing object, nor a broken connection)."""
    return failure.message.startswith(RBAC_REFUSAL)


def refusal(stderr: str, what: str) -> Failure:
    """The one line a person can act on, from kubectl's error output."""
    said = [line for line in stderr.splitlines() if line.strip() and not _KLOG.match(line)]
    text = " ".join(" ".join(said).split())
    if "doesn't have a resource type" in text or "could not find the requested resource" in text:
        return Failure(
            "this cluster does not serve the data space's kinds (tds.io): the operator is not "
            "installed, or this is not the hub (check --context and --kubeconfig)",
            EXIT_NO_CLUSTER,
        )
    denied = _WEBHOOK_DENIAL.search(text)
    if denied:
        return Failure(f"refused by the hub: {denied['reason'].strip()}", EXIT_REFUSED)
    if "(NotFound)" in text or (" not found" in text and "Error from server" in text):
        return Failure(
            f"{what or 'the object'} not found: check the name (and -n/--namespace)",
            EXIT_NOT_FOUND,
        )
    if "(Forbidden)" in text:
        detail = text.split("(Forbidden):", 1)[-1].strip()
        return Failure(f"{RBAC_REFUSAL}: {detail}", EXIT_REFUSED)
    if "(Unauthorized)" in text or "must be logged in" in text:
        return Failure(
            "the API server does not accept your credentials: log in again or pick another "
            "--context",
            EXIT_NO_CLUSTER,
        )
    if any(sign in text for sign in _NO_CLUSTER):
        return Failure(
            f"cannot reach a cluster ({_strip(text)}): set KUBECONFIG or pass --kubeconfig "
            "(and --context) for the hub's cluster",
            EXIT_NO_CLUSTER,
        )
    return Failure(f"kubectl failed: {_strip(text) or 'no message'}", EXIT_REFUSED)


_NO_CLUSTER: Final = (
    "Unable to connect",
    "connection refused",
    "was refused",
    "no configuration has been provided",
    "context was not found",
    "does not exist",
    "couldn't get current server",
    "no such host",
    "no such file or directory",
)


def _strip(text: str) -> str:
    return text.removeprefix("error: ").removeprefix("Error from server ").strip()
