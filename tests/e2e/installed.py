"""The e2e suite's cluster and the chart installed on it, as the suites that run on a cluster use
them (tests/e2e and tests/kind fixtures): see tests/e2e/conftest.py for TDS_E2E_OPERATOR."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.hubkit.processes import free_port
from tests.e2e.cluster import (
    CHART,
    KUEUE_ENABLED,
    NAMESPACE,
    RELEASE,
    CommandError,
    helm,
    kubeconfig,
    kubectl,
    kueue_mode,
    set_flags,
)
from tests.e2e.operator_runner import InClusterOperator, Operator, ServiceAccountOperator
from tests.e2e.release import (
    Release,
    adopt_space_objects,
    preflight,
    restore_space_objects,
    snapshot,
    wait_until_authorized,
)


def check_cluster() -> None:
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


@contextmanager
def installed_release(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Release]:
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
