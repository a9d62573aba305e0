"""Fixtures of the e2e suite: the cluster under test and the chart installed on it.

TDS_E2E_OPERATOR selects where the operator runs: `local` (default; the local hub, where pods
are simulated: a process on this machine with the chart's ServiceAccount token) or `cluster`
(the chart's Deployment, e.g. on kind; TDS_E2E_IMAGE names the image, repository:tag).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from bench.hubkit.manifests import space_body
from bench.hubkit.waiting import wait_until
from tests.e2e.cluster import (
    Manifest,
    fullname,
    get,
    kubectl,
)
from tests.e2e.confinement import MANAGED, Scratch, Token, namespace
from tests.e2e.installed import check_cluster, installed_release
from tests.e2e.operator_runner import (
    service_account_kubeconfig,
)
from tests.e2e.release import (
    Release,
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
    check_cluster()


@pytest.fixture(scope="session")
def release(cluster: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Release]:
    """`helm install` of the chart, with the operator running; uninstalled at the end."""
    with installed_release(tmp_path_factory) as installed:
        yield installed


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
