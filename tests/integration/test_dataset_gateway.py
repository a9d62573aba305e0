"""A dataset on a volume under an Active contract gets its read-only gateway in the provider's
namespace, and loses it when the contract ends; none exists without a contract.

The hub simulates pods, so these tests assert the objects (the claim mounted read-only,
kube-rbac-proxy in front, a restricted pod the API server's Pod Security admission accepts, a
Service, the policies that admit the clean room) and the address the workers are handed. That
bytes flow through the gateway is shown on kind (`make e2e-kind`).
"""

from __future__ import annotations

import json
import time

import pytest
from kubernetes import client

from bench.hubkit.hub import (
    Contracts,
    Hub,
    Spaces,
    clean_room,
    get_or_none,
    owner_of,
    refusal,
    space_namespace,
    unique,
)
from bench.hubkit.manifests import contract_body, training_job_body
from bench.hubkit.waiting import wait_until
from tests.integration.gateways import GATEWAY_LABEL, dataset_claim, gateways, volume_space

pytestmark = pytest.mark.integration


def discovery(hub: Hub) -> client.DiscoveryV1Api:
    return client.DiscoveryV1Api(hub.core.api_client)


def test_a_volume_dataset_is_served_read_only_behind_the_proxy_while_the_contract_is_active(
    spaces: Spaces, contracts: Contracts, hub: Hub
) -> None:
    provider = volume_space(spaces, hub)
    consumer = spaces.create(analysts=())
    spaces.wait_ready(consumer)
    namespace = space_namespace(provider)

    # Proposed is not Active: no gateway.
    proposal = contract_body(unique("c"), provider, consumer, datasets=["scans"])
    name = contracts.propose(owner_of(provider), proposal)
    contracts.wait_phase(name, "Proposed")
    assert gateways(hub, provider) == []
    contracts.consent(owner_of(consumer), name, "consumer")
    contracts.wait_phase(name, "Active")

    [deployment] = wait_until(
        lambda: gateways(hub, provider) or None, timeout=20, what="the gateway of scans"
    )
    gateway = deployment.metadata.name
    pod = deployment.spec.template.spec
    assert pod.automount_service_account_token is False
    assert pod.service_account_name == gateway
    [claim] = [v.persistent_volume_claim for v in pod.volumes if v.persistent_volume_claim]
    assert (claim.claim_name, claim.read_only) == ("scans", True)
    files, proxy = pod.containers
    assert "--auth-token-audiences=tds.io/datasets" in proxy.args
    assert "--upstream=http://127.0.0.1:8080/" in proxy.args
    assert [p.container_port for p in proxy.ports] == [8443]
    assert not files.ports
    for container in (files, proxy):
        assert container.security_context.read_only_root_filesystem is True
        assert container.security_context.capabilities.drop == ["ALL"]
    # The ReplicaSet's pod passed the space's Pod Security (restricted) and admission policies.
    wait_until(
        lambda: (
            hub.core.list_namespaced_pod(
                namespace, label_selector=f"{GATEWAY_LABEL}={gateway}"
            ).items
        ),
        timeout=30,
        what="the gateway's pod admitted",
    )
    config = deployment.spec.template.metadata.annotations["tds.io/kube-rbac-proxy-config"]
    assert "name: scans" in config
    service = hub.core.read_namespaced_service(gateway, namespace)
    assert service.spec.selector == {GATEWAY_LABEL: gateway}
    # Only the claims of the contract: the core dataset's claim is served by nobody.
    assert [d.metadata.name for d in gateways(hub, provider)] == [gateway]

    # The clean room may reach the gateway's pod on its port, and the provider admits it.
    datasets = hub.net.read_namespaced_network_policy("tds-allow-datasets", clean_room(name))
    [rule] = datasets.spec.egress
    assert rule.to[0].pod_selector.match_labels == {GATEWAY_LABEL: gateway}
    assert [p.port for p in rule.ports] == [8443]
    ingress = hub.net.read_namespaced_network_policy(f"tds-allow-tds-cr-{name}", namespace)
    assert [p.port for p in ingress.spec.ingress[0].ports] == [8443]
    # The gateway's pod, and no other, may reach the API server where it says it is (its
    # TokenReviews), through the provider's default-deny.
    published = discovery(hub).read_namespaced_endpoint_slice("kubernetes", "default")
    to_api_server = hub.net.read_namespaced_network_policy(gateway, namespace)
    assert to_api_server.spec.pod_selector.match_labels == {GATEWAY_LABEL: gateway}
    assert to_api_server.spec.policy_types == ["Egress"]
    [rule] = to_api_server.spec.egress
    assert sorted(peer.ip_block.cidr for peer in rule.to) == sorted(
        f"{address}/32" for endpoint in published.endpoints for address in endpoint.addresses
    )
    assert [(p.protocol, p.port) for p in rule.ports] == [
        (p.protocol, p.port) for p in published.ports
    ]

    # The workers are handed its address and how to present their token.
    job = training_job_body(unique("j"), space_namespace(consumer), name)
    owner_of(consumer).create(job)
    hub.jobs.append((space_namespace(consumer), job["metadata"]["name"]))
    batch = wait_until(
        lambda: get_or_none(
            lambda: hub.batch.read_namespaced_job(job["metadata"]["name"], clean_room(name))
        ),
        timeout=30,
        what="the batch Job in the clean room",
    )
    env = {e.name: e.value for e in batch.spec.template.spec.containers[0].env}
    assert json.loads(env["TDS_DATASET_ENDPOINTS"]) == {
        "scans": {
            "address": f"{service.spec.cluster_ip}:8443",
            "tokenPath": "/var/run/secrets/tds.io/datasets/token",
            "audience": "tds.io/datasets",
            "scheme": "Bearer",
        }
    }

    # The consumer cannot touch it; when the contract ends, it is gone.
    message = refusal(
        lambda: owner_of(consumer).kubectl("delete", "deployment", gateway, "-n", namespace)
    )
    assert "forbidden" in message, message
    contracts.revoke(owner_of(provider), name)
    wait_until(lambda: gateways(hub, provider) == [], timeout=20, what="the gateway removed")
    for read in (
        lambda: hub.core.read_namespaced_service(gateway, namespace),
        lambda: hub.core.read_namespaced_service_account(gateway, namespace),
        lambda: hub.rbac.read_cluster_role_binding(gateway),
        lambda: hub.net.read_namespaced_network_policy(gateway, namespace),
    ):
        wait_until(lambda r=read: get_or_none(r) is None, timeout=10, what=f"{gateway} removed")


def test_two_contracts_whose_joined_names_agree_each_get_their_own_gateway(
    spaces: Spaces, contracts: Contracts, hub: Hub
) -> None:
    """Contract `<x>-b` with dataset `c` and contract `<x>` with dataset `b-c`, of one provider:
    names joined with `-` would give both the same gateway, and the second would be blocked."""
    datasets = [
        {"name": name, "classification": "general", "source": {"volume": {"claimName": name}}}
        for name in ("c", "b-c")
    ]
    provider = spaces.create(analysts=(), datasets=datasets)
    consumer = spaces.create(analysts=())
    spaces.wait_ready(provider)
    spaces.wait_ready(consumer)
    for claim in ("c", "b-c"):
        dataset_claim(hub, provider, claim)
    base = unique("c")
    made = []
    for name, dataset in ((f"{base}-b", "c"), (base, "b-c")):
        body = contract_body(name, provider, consumer, datasets=[dataset])
        made.append(contracts.propose(owner_of(provider), body))
        contracts.consent(owner_of(consumer), name, "consumer")
    for name in made:
        contracts.wait_phase(name, "Active")

    def both_open() -> list[client.V1Deployment] | None:
        ready = [(contracts.condition(name, "CleanRoomReady") or {}).get("status") for name in made]
        found = gateways(hub, provider)
        return found if ready == ["True", "True"] and len(found) == 2 else None

    try:
        found = wait_until(both_open, timeout=30, what="both clean rooms open, each a gateway")
    except AssertionError:
        reasons = [(contracts.condition(n, "CleanRoomReady") or {}).get("reason") for n in made]
        raise AssertionError(f"clean rooms not both open: {reasons}") from None
    owners = {d.metadata.labels["tds.io/contract"] for d in found}
    assert owners == set(made)
    assert len({d.metadata.name for d in found}) == 2


def test_a_revoked_contracts_gateway_pod_is_killed_with_no_grace_period(
    spaces: Spaces, contracts: Contracts, hub: Hub
) -> None:
    """kube-rbac-proxy keeps an allowed answer for minutes and a TokenReview for two, so access
    ends with the gateway's pod: on revocation it is deleted with no grace period (the kubelet
    kills it as soon as it sees the deletion), not left to its 30-second termination."""
    provider = volume_space(spaces, hub, bound=True)
    consumer = spaces.create(analysts=())
    spaces.wait_ready(consumer)
    namespace = space_namespace(provider)
    name = contracts.propose(
        owner_of(provider), contract_body(unique("c"), provider, consumer, datasets=["scans"])
    )
    contracts.consent(owner_of(consumer), name, "consumer")
    contracts.wait_phase(name, "Active")
    [deployment] = wait_until(
        lambda: gateways(hub, provider) or None, timeout=20, what="the gateway of scans"
    )
    selector = f"{GATEWAY_LABEL}={deployment.metadata.name}"

    def running() -> client.V1Pod | None:
        pods = hub.core.list_namespaced_pod(namespace, label_selector=selector).items
        return pods[0] if pods and pods[0].status.phase == "Running" else None

    # Running on a node: a pod no node holds would be deleted at once whatever is asked.
    pod = wait_until(running, timeout=30, what="the gateway's pod running")
    assert pod.spec.node_name
    assert pod.spec.termination_grace_period_seconds == 30
    # The hub's simulated kubelet removes a deleted pod at once, whatever its grace period; a
    # finalizer of the test's own keeps it, to read the grace period it was deleted with.
    hold = {"metadata": {"finalizers": ["tds.io/test-hold"]}}
    hub.core.patch_namespaced_pod(pod.metadata.name, namespace, hold)
    # The positive control: while the contract is Active the pod stays, undisturbed.
    time.sleep(1)
    listed = hub.core.list_namespaced_pod(namespace, label_selector=selector).items
    assert [(p.metadata.uid, p.metadata.deletion_timestamp) for p in listed] == [
        (pod.metadata.uid, None)
    ]

    api = owner_of(consumer).api()
    revoke = {"spec": {"revoked": True}}
    api.patch_cluster_custom_object("tds.io", "v1alpha1", "datacontracts", name, revoke)
    accepted = time.monotonic()
    api.api_client.close()

    def grace() -> int | None:
        live = hub.core.read_namespaced_pod(pod.metadata.name, namespace).metadata
        return live.deletion_grace_period_seconds if live.deletion_timestamp else None

    try:
        wait_until(lambda: grace() == 0, timeout=10, what="the gateway's pod killed")
        print(f"\ngateway pod killed {time.monotonic() - accepted:.3f}s after the revocation")
    finally:
        seen = grace()
        hub.core.patch_namespaced_pod(
            pod.metadata.name, namespace, {"metadata": {"finalizers": None}}
        )
    assert seen == 0, f"the gateway's pod was deleted with a grace period of {seen}s"
