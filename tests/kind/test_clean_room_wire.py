"""What only real packets can prove: a clean room's worker reaches its own dataset gateway and
nothing else, and spaces are apart on the wire. Each seal beside its positive control."""

from __future__ import annotations

import pytest

from tests.e2e.cluster import get
from tests.e2e.story import Story
from tests.kind.wire import (
    METADATA_ADDRESS,
    Prober,
    listener,
    metadata_service,
    node_gateway,
    prober,
    server,
)

pytestmark = pytest.mark.kind

REACHED = ("open", "answered")
SEALED = ("closed", "silent")


def reaches(probe: Prober, kind: str, *args: str) -> str:
    outcome = probe.probe(kind, *args)
    assert outcome.startswith(REACHED + SEALED), f"{kind} {args} from {probe.name}: {outcome}"
    return outcome


def test_a_clean_room_worker_reaches_its_gateway_and_nothing_else(
    story: Story, worker: Prober, control: Prober
) -> None:
    dns = get("service", "kube-dns", "kube-system")
    api = get("service", "kubernetes", "default")
    endpoints = get("endpoints", "kubernetes", "default")
    assert dns is not None
    assert api is not None
    assert endpoints is not None
    api_server = endpoints["subsets"][0]["addresses"][0]["ip"]
    with listener(node_gateway()) as outside_port, metadata_service() as metadata_port:
        cases = [
            ("name resolution", "dns", dns["spec"]["clusterIP"], "kubernetes.default.svc"),
            ("the API server's Service", "tcp", api["spec"]["clusterIP"], "443"),
            ("the API server", "tcp", api_server, "6443"),
            ("the metadata address", "tcp", METADATA_ADDRESS, str(metadata_port)),
            ("an address outside the cluster", "tcp", node_gateway(), str(outside_port)),
        ]
        for what, kind, *args in cases:
            allowed = reaches(control, kind, *args)
            assert allowed.startswith(REACHED), f"positive control: {what}: {allowed}"
            sealed = reaches(worker, kind, *args)
            assert sealed.startswith(SEALED), f"the clean room reached {what}: {sealed}"
    provider = f"tds-{story.provider}"
    gateway = get("service", story.gateway("grid-load-2024"), provider)
    assert gateway is not None
    port = str(gateway["spec"]["ports"][0]["port"])
    assert reaches(worker, "tcp", gateway["spec"]["clusterIP"], port) == "open"


def test_a_pod_and_a_service_of_another_space_are_out_of_the_clean_rooms_reach(
    story: Story, worker: Prober
) -> None:
    consumer = f"tds-{story.consumer}"
    target = server("wire-target", consumer, 8080)
    service = get("service", "wire-target", consumer)
    assert service is not None
    neighbour = prober("wire-neighbour", consumer)
    for host, port in ((target["status"]["podIP"], "8080"), (service["spec"]["clusterIP"], "80")):
        allowed = reaches(neighbour, "tcp", host, port)
        assert allowed == "open", f"positive control: {host}:{port} from its own space: {allowed}"
        sealed = reaches(worker, "tcp", host, port)
        assert sealed.startswith(SEALED), f"the clean room reached {host}:{port}: {sealed}"


def test_spaces_are_apart_on_the_wire(story: Story) -> None:
    consumer, provider = f"tds-{story.consumer}", f"tds-{story.provider}"
    target = server("space-target", consumer, 8080)
    inside = prober("space-inside", consumer)
    outside = prober("space-outside", provider)
    address = target["status"]["podIP"]
    allowed = reaches(inside, "tcp", address, "8080")
    assert allowed == "open", f"positive control: inside {consumer}: {allowed}"
    sealed = reaches(outside, "tcp", address, "8080")
    assert sealed.startswith(SEALED), f"{provider} reached a pod of {consumer}: {sealed}"
