"""The operator's ServiceAccount token as whoever stole it would use it, and namespaces shaped
as the operator shapes its own: what the confinement tests write with."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.cluster import Manifest, fullname, kubectl_binary, run

POLICY = f"ValidatingAdmissionPolicy '{fullname()}-confinement'"
MANAGED = {"app.kubernetes.io/managed-by": "tds-operator"}
# (kind, name, namespace) of objects a test may have made.
Scratch = list[tuple[str, str, str | None]]


class Token:
    """kubectl with a token of the chart's ServiceAccount, as whoever stole it would run it."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        return run([kubectl_binary(), "--kubeconfig", str(self.kubeconfig), *args], stdin=stdin)

    def create(self, manifest: Manifest) -> str:
        return self.kubectl("create", "-f", "-", stdin=json.dumps(manifest))


def namespace(name: str, labels: dict[str, str], owner: Manifest | None = None) -> Manifest:
    metadata: Manifest = {"name": name, "labels": labels}
    if owner is not None:
        metadata["ownerReferences"] = [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
                "controller": True,
            }
        ]
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
