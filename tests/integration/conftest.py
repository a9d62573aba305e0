"""Fixtures for tests against the local hub (or any cluster that $KUBECONFIG points to)."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from tests.processes import OperatorProcess
from tests.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]


def hub_kubeconfig() -> str:
    """The kubeconfig the tests use: $KUBECONFIG, else the local hub's."""
    return os.environ.get("KUBECONFIG") or str(REPO_ROOT / ".hub" / "kubeconfig")


@pytest.fixture(scope="session")
def api_client() -> Iterator[client.ApiClient]:
    """A client of the cluster under test; fails (never skips) when there is none."""
    path = hub_kubeconfig()
    if not Path(path).exists():
        pytest.fail(f"no kubeconfig at {path}: start the hub with `make hub-up`")
    api = config.new_client_from_config(config_file=path)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture(scope="session")
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def batch(api_client: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(api_client)


@pytest.fixture
def namespace(core: client.CoreV1Api) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    # Pods are admitted only once the controller-manager has created the default ServiceAccount.
    wait_until(
        lambda: (
            core.list_namespaced_service_account(name, field_selector="metadata.name=default").items
        ),
        timeout=30,
        what=f"ServiceAccount default in {name}",
    )
    try:
        yield name
    finally:
        core.delete_namespace(name)


@pytest.fixture(scope="session")
def crds_installed(api_client: client.ApiClient) -> None:
    """The project's CRDs, applied server-side as `make run` does, and Established."""
    kubectl(
        "apply",
        "--server-side",
        "--field-manager=tds-operator",
        "--force-conflicts",
        "-f",
        str(REPO_ROOT / "crds"),
    )
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(REPO_ROOT / "crds"))


WEBHOOK_CONFIGURATION = "tds-operator.tds.io"


@pytest.fixture(scope="module")
def operator(
    crds_installed: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator running as a process for one test module.

    Modules that test the API server alone (CRD schemas) run without it, so its admission
    webhook does not answer for them; after it stops, its webhook configuration is gone.
    """
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    process = OperatorProcess(hub_kubeconfig(), log)
    process.start()
    try:
        yield process
    finally:
        process.stop()
        # A killed operator could not remove them itself.
        for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
            kubectl("delete", kind, WEBHOOK_CONFIGURATION, "--ignore-not-found")
        print(f"\noperator log: {log}")


def kubectl(*args: str, user: str | None = None, groups: tuple[str, ...] = ()) -> str:
    """Run the hub's kubectl, optionally impersonating a user; fails the test on error."""
    command = [str(REPO_ROOT / "hack" / "hub" / "kubectl.sh"), "--kubeconfig", hub_kubeconfig()]
    if user:
        command += ["--as", user, *(f"--as-group={group}" for group in groups)]
    result = subprocess.run([*command, *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise KubectlError(result.stderr.strip())
    return result.stdout


class KubectlError(Exception):
    """kubectl failed; the message is its stderr."""
