"""The cluster under test as users see it: kubectl, helm and the chart; no operator code."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "tds-operator"
EXAMPLES = REPO_ROOT / "examples"
# The chart's release and namespace in the suite (a real installation may use any).
RELEASE = os.environ.get("TDS_E2E_RELEASE", "tds-operator")
NAMESPACE = os.environ.get("TDS_E2E_NAMESPACE", "tds-system")
# The chart's kueue.enabled in the suite: false (the operator's own queue, also on a cluster that
# runs Kueue), or auto/true for the Kueue-mode tests (make e2e-kueue), which need Kueue.
KUEUE_ENABLED = os.environ.get("TDS_E2E_KUEUE", "false")


def kueue_mode() -> bool:
    """Whether the suite's release queues TrainingJobs in Kueue."""
    return KUEUE_ENABLED != "false"


Manifest = dict[str, Any]


class CommandError(AssertionError):
    """kubectl or helm failed; the message is the command and its stderr."""


def kubeconfig() -> str:
    """The cluster under test: $KUBECONFIG, else the local hub's."""
    return os.environ.get("KUBECONFIG") or str(REPO_ROOT / ".hub" / "kubeconfig")


@cache
def _hub_versions() -> dict[str, str]:
    versions = {}
    for line in (REPO_ROOT / "hack" / "hub" / "versions.env").read_text().splitlines():
        key, equals, value = line.partition("=")
        if equals and not key.startswith("#"):
            versions[key.strip()] = value.strip()
    return versions


def _cached_binary(component: str, version_key: str, name: str) -> str:
    cache_dir = Path(
        os.environ.get("HUB_CACHE_DIR")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tds-hub"
    )
    return str(cache_dir / f"{component}-{_hub_versions()[version_key]}" / name)


def helm_binary() -> str:
    """$HELM, else the hub's pinned helm."""
    return os.environ.get("HELM") or _cached_binary("helm", "HELM_VERSION", "helm")


def kubectl_binary() -> str:
    """$KUBECTL, else the hub's pinned kubectl."""
    return os.environ.get("KUBECTL") or _cached_binary("kubernetes", "K8S_VERSION", "kubectl")


def kube_version() -> str:
    """The Kubernetes version `helm template` renders for (the hub's)."""
    return _hub_versions()["K8S_VERSION"]


COMMAND_TIMEOUT = 300.0
"""No command of the suite may take longer: a `kubectl delete` waiting for a finalizer that
will never go would otherwise hold the whole suite."""


def run(command: list[str], *, stdin: str | None = None, check: bool = True) -> str:
    """Run a command; with `check`, fail with its stderr when it fails. A command that has not
    ended within COMMAND_TIMEOUT fails, whatever `check` says."""
    try:
        result = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=COMMAND_TIMEOUT,
        )
    except subprocess.TimeoutExpired as error:
        ran = f"{shlex.join(command)}\nstill running after {error.timeout}s"
        raise CommandError(ran) from error
    if check and result.returncode != 0:
        raise CommandError(f"{shlex.join(command)}\n{result.stderr.strip()}")
    return result.stdout


def kubectl(
    *args: str,
    user: str | None = None,
    groups: Iterable[str] = (),
    stdin: str | None = None,
    check: bool = True,
) -> str:
    """kubectl against the cluster under test, optionally impersonating a user."""
    command = [kubectl_binary(), "--kubeconfig", kubeconfig()]
    if user:
        command += ["--as", user, *(f"--as-group={group}" for group in groups)]
    return run([*command, *args], stdin=stdin, check=check)


def may_get_dataset(user: str, dataset: str, namespace: str | None = None) -> bool:
    """The API server's answer to a SubjectAccessReview: may `user` get datasets.tds.io/<dataset>
    (in `namespace`, or in every namespace)? `kubectl auth can-i` cannot ask this: it knows only
    resources the server serves, and no API serves datasets."""
    attributes = {"group": "tds.io", "resource": "datasets", "verb": "get", "name": dataset}
    if namespace:
        attributes["namespace"] = namespace
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": user, "resourceAttributes": attributes},
    }
    answer = kubectl(
        "create", "-o", "jsonpath={.status.allowed}", "-f", "-", stdin=json.dumps(review)
    )
    return answer.strip() == "true"


def kubectl_json(*args: str) -> Any:
    """`kubectl ... -o json`, parsed."""
    return json.loads(kubectl(*args, "-o", "json"))


def get(kind: str, name: str, namespace: str | None = None) -> Manifest | None:
    """One object, or None if it does not exist."""
    args = ["get", kind, name, "--ignore-not-found", "-o", "json"]
    if namespace:
        args += ["-n", namespace]
    text = kubectl(*args)
    return json.loads(text) if text.strip() else None


def items(kind: str, namespace: str | None = None, selector: str | None = None) -> list[Manifest]:
    """Every object of a kind (in a namespace, or in all), matching a label selector."""
    args = ["get", kind, *(["-n", namespace] if namespace else ["-A"])]
    if selector:
        args += ["-l", selector]
    found: list[Manifest] = kubectl_json(*args)["items"]
    return found


def helm(*args: str) -> str:
    """helm against the cluster under test."""
    return run([helm_binary(), "--kubeconfig", kubeconfig(), *args])


def set_flags(values: Mapping[str, str]) -> list[str]:
    """`--set key=value` for each value."""
    return [flag for key, value in values.items() for flag in ("--set", f"{key}={value}")]


def render_chart(
    values: Mapping[str, str] | None = None,
    *,
    namespace: str = NAMESPACE,
    include_crds: bool = False,
    values_file: Manifest | None = None,
) -> list[Manifest]:
    """The objects `helm template` makes of the chart (no cluster needed); `values_file` is
    given as a values file (typed, unlike --set)."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        yaml.safe_dump(values_file or {}, file)
        file.flush()
        text = _template(values or {}, include_crds, namespace, file.name)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _template(
    values: Mapping[str, str], include_crds: bool, namespace: str, values_file: str
) -> str:
    return run(
        [
            helm_binary(),
            "template",
            RELEASE,
            str(CHART),
            "--namespace",
            namespace,
            "--kube-version",
            kube_version(),
            "--values",
            values_file,
            *set_flags(values),
            *(["--include-crds"] if include_crds else []),
        ]
    )


def find(objects: Iterable[Manifest], kind: str, name: str | None = None) -> Manifest:
    """The one object of a kind (and name) among rendered objects."""
    matches = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def operator_rules(objects: Iterable[Manifest]) -> list[tuple[str, int, Manifest]]:
    """(kind, index, rule) of every rule granted to the operator's ServiceAccount."""
    objects = list(objects)
    found = []
    for kind in ("ClusterRole", "Role"):
        role = find(objects, kind, fullname())
        found += [(kind, index, rule) for index, rule in enumerate(role["rules"])]
    return found


def rule_id(kind: str, rule: Manifest) -> str:
    """A readable id of a rule: its kind, groups, resources and names."""
    groups = ",".join(group or "core" for group in rule["apiGroups"])
    resources = ",".join(rule["resources"])
    names = f"[{','.join(rule['resourceNames'])}]" if rule.get("resourceNames") else ""
    return f"{kind}:{groups}:{resources}{names}:{','.join(rule['verbs'])}"


def fullname() -> str:
    """The chart's name for the release's own objects (as its _helpers.tpl computes it)."""
    return RELEASE if "tds-operator" in RELEASE else f"{RELEASE}-tds-operator"


def load_example(name: str) -> list[Manifest]:
    """The objects of one file in examples/."""
    return [doc for doc in yaml.safe_load_all((EXAMPLES / name).read_text()) if doc]
