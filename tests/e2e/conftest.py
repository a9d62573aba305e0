"""Fixtures of the e2e suite: the cluster under test and the chart installed on it.

TDS_E2E_OPERATOR selects where the operator runs: `local` (default; the local hub, where pods
are simulated: a process on this machine with the chart's ServiceAccount token) or `cluster`
(the chart's Deployment, e.g. on kind; TDS_E2E_IMAGE names the image, repository:tag).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.hubkit.manifests import space_body
from bench.hubkit.processes import free_port
from bench.hubkit.waiting import wait_until
from tests.e2e.cluster import (
    CHART,
    KUEUE_ENABLED,
    NAMESPACE,
    RELEASE,
    CommandError,
    Manifest,
    fullname,
    get,
    helm,
    kubeconfig,
    kubectl,
    kueue_mode,
    set_flags,
)
from tests.e2e.confinement import MANAGED, Scratch, Token, namespace
from tests.e2e.operator_runner import (
    InClusterOperator,
    Operator,
    ServiceAccountOperator,
    service_account_kubeconfig,
)
from tests.e2e.release import (
    Release,
    adopt_space_objects,
    preflight,
    restore_space_objects,
    snapshot,
    wait_until_authorized,
)

# Tests that must come first (before the release is installed: a dry run of the chart over an
# installed release would merge the two) and last (the uninstall); the rest keep file order.
RUN_FIRST = ("test_the_rendered_chart_is_accepted_by_the_api_server",)
RUN_LAST = ("test_uninstall_leaves_only_what_the_docs_say_it_keeps",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The dry run before any test installs the release, the uninstall after all that use it."""

    def place(item: pytest.Item) -> int:
        name = getattr(item, "originalname", item.name)
        return 0 if name in RUN_FIRST else 2 if name in RUN_LAST else 1

    items.sort(key=place)


@pytest.fixture(scope="session")
def cluster() -> None:
    """The cluster under test answers; fails (never skips) when it does not."""
    if not Path(kubeconfig()).exists():
        pytest.fail(f"no kubeconfig at {kubeconfig()}: run make hub-up, or set KUBECONFIG")
    try:
        kubectl("get", "--raw", "/readyz", "--request-timeout=10s")
    except CommandError as error:
        pytest.fail(f"the cluster at {kubeconfig()} is unreachable: {error}")


def kueue_served() -> None:
    """The Kueue-mode tests need a cluster that runs Kueue; fails (never skips) without it."""
    try:
        kubectl("get", "crd", "workloads.kueue.x-k8s.io")
    except CommandError:
        pytest.fail(
            f"kueue.enabled={KUEUE_ENABLED} needs Kueue on {kubeconfig()}: "
            "start the hub with HUB_KUEUE=1 make hub-up"
        )


@pytest.fixture(scope="session")
def release(cluster: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Release]:
    """`helm install` of the chart, with the operator running; uninstalled at the end."""
    mode = os.environ.get("TDS_E2E_OPERATOR", "local")
    preflight()
    adopted = adopt_space_objects()
    before = snapshot()
    operator: Operator
    if mode == "local":
        port = free_port()
        values = {"replicaCount": "0", "webhook.url": f"https://127.0.0.1:{port}"}
        operator = ServiceAccountOperator(tmp_path_factory.mktemp("operator"), port)
    elif mode == "cluster":
        image = os.environ.get("TDS_E2E_IMAGE", "")
        repository, _, tag = image.rpartition(":")
        if not (repository and tag):
            pytest.fail(f"TDS_E2E_IMAGE must be repository:tag, not {image!r}")
        values = {"image.repository": repository, "image.tag": tag}
        operator = InClusterOperator()
    else:
        pytest.fail(f"TDS_E2E_OPERATOR must be local or cluster, not {mode!r}")
    values["kueue.enabled"] = KUEUE_ENABLED
    if kueue_mode():
        kueue_served()
    # The local hub simulates pods, and the story steers them with hub.tds.io/* metadata.
    values["hubRules.simulationHub"] = "true"
    # The class of output volumes: the local hub's pool (the chart's default), or the cluster's.
    if os.environ.get("TDS_E2E_OUTPUT_STORAGE_CLASS"):
        values["hubRules.outputStorageClass"] = os.environ["TDS_E2E_OUTPUT_STORAGE_CLASS"]
    helm(
        "install",
        RELEASE,
        str(CHART),
        "-n",
        NAMESPACE,
        "--create-namespace",
        "--wait",
        "--timeout",
        "5m",
        *set_flags(values),
    )
    installed = Release(operator, before)
    try:
        wait_until_authorized()
        if isinstance(operator, ServiceAccountOperator):
            operator.prepare()
            operator.start()
        yield installed
    finally:
        installed.uninstall()
        restore_space_objects(adopted)
        log = getattr(operator, "log_path", None)
        if log is not None:
            print(f"\noperator logs: {Path(log).parent}")


# --- what the confinement tests write with (test_confinement.py, test_kueue.py) ---


@pytest.fixture(scope="module")
def token(release: Release, tmp_path_factory: pytest.TempPathFactory) -> Token:
    path = tmp_path_factory.mktemp("confinement") / "token.kubeconfig"
    return Token(service_account_kubeconfig(fullname(), path))


@pytest.fixture(scope="module")
def space(release: Release) -> Iterator[Manifest]:
    """A DataSpace the operator has provisioned: its namespace is one the operator made."""
    name = f"conf{uuid.uuid4().hex[:6]}"
    kubectl("apply", "-f", "-", stdin=json.dumps(space_body(name)))
    wait_until(
        lambda: get("rolebinding", "tds-owners", f"tds-{name}") is not None,
        timeout=60,
        what=f"space {name} to be provisioned",
    )
    found = get("dataspace", name)
    assert found is not None
    yield found
    kubectl("delete", "dataspace", name, "--timeout=90s", check=False)


@pytest.fixture
def scratch() -> Iterator[Scratch]:
    """(kind, name, namespace) of objects to delete as the admin after the test, should a
    write the policy must refuse go through."""
    made: Scratch = []
    yield made
    for kind, name, where in made:
        scope = ["-n", where] if where else []
        kubectl("delete", kind, name, *scope, "--wait=false", check=False)


@pytest.fixture(scope="module")
def clean_room(space: Manifest) -> Iterator[str]:
    """A namespace shaped as the operator shapes a clean room (made here by the admin, owned by
    the space), to show what the policy allows and refuses in a clean room."""
    name = f"tds-cr-{space['metadata']['name']}"
    labels = {
        **MANAGED,
        "tds.io/contract": space["metadata"]["name"],
        "tds.io/clean-room": "true",
        "pod-security.kubernetes.io/enforce": "restricted",
    }
    kubectl("create", "-f", "-", stdin=json.dumps(namespace(name, labels, space)))
    yield name
    kubectl("delete", "namespace", name, "--timeout=90s", check=False)
