"""Fixtures of the kind tier: the e2e suite's cluster and release (the chart's operator running in
the cluster, TDS_E2E_OPERATOR=cluster), and one contract walked to a running job, shared by the
tier's modules (test_revocation.py, which revokes it, runs last)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bench.hubkit.waiting import wait_until
from tests.e2e.cluster import get, items, kubectl
from tests.e2e.installed import check_cluster, installed_release
from tests.e2e.release import Release
from tests.e2e.story import Story
from tests.kind.wire import Prober, prober

# A namespace no policy covers: where the positive controls stand.
OPEN_NAMESPACE = "tds-kind-open"


@pytest.fixture(scope="session")
def release(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Release]:
    """The chart installed, its operator running in the cluster (TDS_E2E_OPERATOR=cluster)."""
    check_cluster()
    with installed_release(tmp_path_factory) as installed:
        yield installed


@pytest.fixture(scope="session")
def story(release: Release) -> Iterator[Story]:
    """A contract between two spaces, Active, its job's worker running in the clean room."""
    walk = Story(suffix="-wire", timeout=120.0)
    # One worker of 4 GPUs: the GPU pool's 16 leave room for the jobs of the model-output and
    # failover tests beside it.
    walk.job["spec"].update(workers=1, gpusPerWorker=4)
    try:
        for step in (
            walk.spaces_are_provisioned,
            walk.provider_proposes,
            walk.consumer_consents,
            walk.consumer_trains,
        ):
            step()
        yield walk
    finally:
        walk.force_cleanup(keep_ledger=False)


@pytest.fixture(scope="session")
def worker(story: Story) -> Prober:
    """The job's first worker pod, in the clean room."""
    pods = items("pod", story.clean_room, f"job-name={story.job['metadata']['name']}")
    assert pods, f"no worker pod in {story.clean_room}"
    return Prober(pods[0]["metadata"]["name"], story.clean_room)


@pytest.fixture(scope="session")
def open_namespace() -> Iterator[str]:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPEN_NAMESPACE}}
    kubectl("apply", "-f", "-", stdin=json.dumps(body))
    try:
        yield OPEN_NAMESPACE
    finally:
        kubectl("delete", "namespace", OPEN_NAMESPACE, "--wait=false", check=False)
        wait_until(lambda: get("namespace", OPEN_NAMESPACE) is None, timeout=120, what="cleanup")


@pytest.fixture(scope="session")
def control(open_namespace: str) -> Prober:
    """A pod on the GPU pool in a namespace no NetworkPolicy covers: the positive control."""
    return prober("control", open_namespace, gpu_pool=True)
