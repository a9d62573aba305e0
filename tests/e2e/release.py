"""The chart installed as the e2e suite's release: what it must not meet, what it leaves."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field

import pytest

from bench.hubkit.manifests import GROUP
from bench.hubkit.waiting import wait_until
from tds_operator.desired.admission import space_admission_policies
from tds_operator.desired.rbac import space_roles
from tds_operator.policy.rules import HubRules
from tds_operator.process.signing_key import CHECKPOINT_KEY_SECRET, SIGNING_KEY_SECRET
from tests.e2e.cluster import (
    NAMESPACE,
    RELEASE,
    Manifest,
    fullname,
    get,
    helm,
    items,
    kubectl,
    kubectl_json,
    may_get_dataset,
    operator_rules,
    render_chart,
)
from tests.e2e.operator_runner import Operator


def space_objects() -> list[Manifest]:
    """What a local operator run makes and the chart also ships: the roles and policies of
    spaces (a local run on the hub uses the default hub rules)."""
    return [*space_roles(), *space_admission_policies(HubRules())]


def space_object_keys() -> set[tuple[str, str]]:
    """(kind, name) of the space roles and policies, which an uninstall keeps."""
    return {(m["kind"], m["metadata"]["name"]) for m in space_objects()}


# Kinds whose objects come and go on their own (records, heartbeats); never left by the chart.
EPHEMERAL_KINDS = {"Event", "Lease"}

ObjectKey = tuple[str, str, str]


def snapshot() -> set[ObjectKey]:
    """(kind, namespace, name) of every listable object, Events and Leases aside."""
    resources = [
        r
        for r in kubectl("api-resources", "--verbs=list", "-o", "name").split()
        if r not in ("events", "events.events.k8s.io", "leases.coordination.k8s.io")
    ]
    listed = kubectl_json("get", ",".join(resources), "-A", "--ignore-not-found")
    return {
        (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])
        for o in listed["items"]
        if o["kind"] not in EPHEMERAL_KINDS
    }


def preflight() -> None:
    """Refuse to install over a release, or next to webhooks of another tds-operator."""
    existing = helm("list", "-n", NAMESPACE, "-q", "--filter", f"^{RELEASE}$").split()
    if existing:
        pytest.fail(f"release {RELEASE} is already installed in {NAMESPACE}: helm uninstall it")
    for kind in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"):
        for config in items(kind):
            hooks = [
                w["name"]
                for w in config.get("webhooks") or []
                for rule in w.get("rules") or []
                if GROUP in rule.get("apiGroups", [])
            ]
            if hooks:
                pytest.fail(
                    f"{kind} {config['metadata']['name']} already intercepts {GROUP} ({hooks}): "
                    "another tds-operator runs here (stop it; a local run leaves its "
                    "configuration when killed)"
                )


def adopt_space_objects() -> list[tuple[str, str]]:
    """Hand space roles and policies made by an operator run without the chart to Helm (see
    README); (kind, name) of each adopted."""
    adopted = []
    for manifest in space_objects():
        kind, name = manifest["kind"].lower(), manifest["metadata"]["name"]
        found = get(kind, name)
        annotations = (found or {}).get("metadata", {}).get("annotations") or {}
        if found is None or "meta.helm.sh/release-name" in annotations:
            continue
        kubectl("label", kind, name, "--overwrite", "app.kubernetes.io/managed-by=Helm")
        kubectl(
            "annotate",
            kind,
            name,
            "--overwrite",
            f"meta.helm.sh/release-name={RELEASE}",
            f"meta.helm.sh/release-namespace={NAMESPACE}",
        )
        adopted.append((manifest["kind"], name))
    return adopted


def restore_space_objects(adopted: list[tuple[str, str]]) -> None:
    """Give back adopted space objects as the operator made them (the uninstall deleted them):
    the cluster keeps working for an operator run without the chart."""
    manifests = [m for m in space_objects() if (m["kind"], m["metadata"]["name"]) in adopted]
    if manifests:
        kubectl(
            "apply",
            "--server-side",
            "--field-manager=tds-operator",
            "--force-conflicts",
            "-f",
            "-",
            stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}),
        )


@dataclass
class Release:
    """The chart installed as the suite's release, and the operator it runs."""

    operator: Operator
    before: set[ObjectKey]
    installed: bool = True
    timings: dict[str, float] = field(default_factory=dict)

    def uninstall(self) -> None:
        """Stop the operator as deleting its Deployment would, then `helm uninstall`."""
        self.operator.stop()
        if self.installed:
            helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "3m")
            self.installed = False


def wait_until_authorized() -> None:
    """The API server's authorizer knows the release's roles (it learns them asynchronously)."""
    account = f"system:serviceaccount:{NAMESPACE}:{fullname()}"
    for kind, _, rule in operator_rules(render_chart()):
        resource, _, subresource = rule["resources"][0].partition("/")
        group = rule["apiGroups"][0]
        target = f"{resource}.{group}" if group else resource
        if rule.get("resourceNames"):
            target += f"/{rule['resourceNames'][0]}"
        question = [
            rule["verbs"][0],
            target,
            *(["--subresource", subresource] if subresource else []),
        ]
        question += ["-n", NAMESPACE] if kind == "Role" else ["-A"]
        if target == "datasets.tds.io":
            wait_until(
                lambda: may_get_dataset(account, "any"),
                timeout=30,
                what=f"{account} to be allowed to get every dataset (it grants them)",
            )
            continue
        wait_until(
            lambda question=question: (
                kubectl("auth", "can-i", *question, "--as", account, check=False).strip() == "yes"
            ),
            timeout=30,
            what=f"{account} to be allowed to {' '.join(question)}",
        )


def wait_for_uninstall(release: Release, timeout: float = 90) -> set[ObjectKey]:
    """Objects that appeared since before the install, once the uninstall has settled."""
    last: set[ObjectKey] = set()

    def settled() -> bool:
        nonlocal last
        last = {key for key in snapshot() - release.before if not kept_by_design(key)}
        return not last

    with contextlib.suppress(AssertionError):
        wait_until(settled, timeout=timeout, interval=1, what="the uninstall to settle")
    return last


def kept_by_design(key: ObjectKey) -> bool:
    """What the chart's README says an uninstall keeps, and what Kubernetes itself adds."""
    kind, namespace, name = key
    if kind == "CustomResourceDefinition":
        return name.endswith(f".{GROUP}")
    if kind == "APIService":
        # The API server registers <version>.<group> for the kept CRDs' group by itself.
        return name.endswith(f".{GROUP}")
    if (kind, name) in space_object_keys():
        # What live spaces bind and rely on (helm.sh/resource-policy: keep).
        return True
    if kind == "PersistentVolume":
        # The stories' outputs: the parties' data, which the operator keeps (Retain) past their
        # claims; made by a provisioner for the stories' claims (on kind), never by the chart.
        return True
    if namespace != NAMESPACE and not (kind == "Namespace" and name == NAMESPACE):
        return False
    if kind == "ConfigMap" and name.startswith("tds-audit-"):
        return True
    # `helm install --create-namespace` makes the namespace; Helm never deletes namespaces.
    return (kind, name) in {
        ("Namespace", NAMESPACE),
        ("ConfigMap", "kube-root-ca.crt"),
        ("ServiceAccount", "default"),
        # Kept with the ledgers, whose seals it verifies (helm.sh/resource-policy: keep).
        ("Secret", SIGNING_KEY_SECRET),
        # Kept with the ledgers, whose checkpoints its published public half verifies.
        ("Secret", CHECKPOINT_KEY_SECRET),
    }
