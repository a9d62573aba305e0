"""Fixtures for tests against the local hub (or any cluster that $KUBECONFIG points to)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config, dynamic

from bench.hubkit.hub import (
    REPO_ROOT,
    SPACES,
    Contracts,
    Hub,
    Spaces,
    hub_kubeconfig,
    kubectl,
    running_operator,
    wait_for_contract_webhook,
)
from bench.hubkit.manifests import GROUP, VERSION
from bench.hubkit.processes import OperatorProcess
from bench.hubkit.training import Story
from bench.hubkit.waiting import wait_until
from tests.integration.crds import ensure_namespace, established


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


# --- the operator and what a test makes with it ---------------------------------------------------


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


@pytest.fixture(scope="module")
def operator(
    crds_installed: None, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[OperatorProcess]:
    """The operator running as a process for one test module; in a module of marker `kueue`
    with TDS_KUEUE=on (it refuses to start on a hub without Kueue), elsewhere off.

    Modules that test the API server alone (CRD schemas) run without it, so its admission
    webhook does not answer for them; after it stops, its webhook configuration is gone.
    """
    kueue = {"TDS_KUEUE": "on"} if request.node.get_closest_marker("kueue") else None
    with running_operator(tmp_path_factory, kueue) as process:
        yield process


@pytest.fixture
def hub(api_client: client.ApiClient, operator: OperatorProcess) -> Iterator[Hub]:
    """What one test makes on the hub, removed afterwards in dependency order."""
    made = Hub(api_client)
    try:
        yield made
    finally:
        made.cleanup()


@pytest.fixture
def spaces(hub: Hub) -> Spaces:
    return Spaces(hub)


@pytest.fixture
def contracts(hub: Hub) -> Contracts:
    """Contracts, once the operator's admission webhook answers."""
    wait_for_contract_webhook()
    return Contracts(hub)


@pytest.fixture
def story(hub: Hub) -> Story:
    return Story(hub)


# --- the CRDs alone, without the operator (test_crd_*) ----------------------------------------


@pytest.fixture(scope="session")
def installed_crds(api_client: client.ApiClient) -> list[str]:
    """The CRDs of crds/, applied server-side and Established."""
    crds = dynamic.DynamicClient(api_client).resources.get(
        api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition"
    )
    names = []
    for path in sorted((REPO_ROOT / "crds").glob("*.yaml")):
        body = yaml.safe_load(path.read_text())
        crds.server_side_apply(body=body, field_manager="tds-operator", force_conflicts=True)
        names.append(body["metadata"]["name"])
    deadline = time.monotonic() + 60
    for name in names:
        while not established(crds.get(name=name).to_dict()):
            assert time.monotonic() < deadline, f"CRD {name} not Established within 60 s"
            time.sleep(0.5)
    return names


@pytest.fixture(scope="session")
def objects(api_client: client.ApiClient, installed_crds: list[str]) -> client.CustomObjectsApi:
    """The custom objects API, once the CRDs are served."""
    return client.CustomObjectsApi(api_client)


@pytest.fixture(scope="session")
def job_namespace(api_client: client.ApiClient) -> Iterator[str]:
    """A namespace of our own for TrainingJobs, removed afterwards."""
    name = f"tds-crdtest-{uuid.uuid4().hex[:8]}"
    ensure_namespace(api_client, name)
    yield name
    client.CoreV1Api(api_client).delete_namespace(name)


@pytest.fixture(scope="module")
def consumer_namespace(
    api_client: client.ApiClient, objects: client.CustomObjectsApi
) -> Iterator[str]:
    """tds-cmcc, where the example TrainingJob lives; normally the operator creates it. Only for
    the module that asks: a namespace the operator did not make keeps the tutorial's cmcc space
    from ever being Ready."""
    created = ensure_namespace(api_client, "tds-cmcc")
    yield "tds-cmcc"
    # Leave it to the operator if a DataSpace cmcc has appeared in the meantime.
    spaces = objects.list_cluster_custom_object(GROUP, VERSION, SPACES)
    if created and "cmcc" not in {item["metadata"]["name"] for item in spaces["items"]}:
        client.CoreV1Api(api_client).delete_namespace("tds-cmcc")
