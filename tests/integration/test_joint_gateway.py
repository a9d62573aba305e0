"""A joint job's volume datasets on the real hub: each is served to the job's room by a gateway of
the job's own, in the provider's namespace, controlled by that provider's contract, whose proxy
names the room's workers alone (no other job's room, no contract's clean room); the room is
handed its Service; it goes when the job is deleted, when it ends, and at once on revocation.

The hub simulates pods: these tests assert the objects and what the workers are handed. The
bytes flow through a joint gateway on kind (tests/kind/test_joint_wire.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from kubernetes import client

from bench.hubkit.hub import owner_of, space_namespace
from bench.hubkit.manifests import GROUP, VERSION, Body
from bench.hubkit.training import Story
from bench.hubkit.waiting import wait_until
from tests.integration.gateways import GATEWAY_LABEL, volume_space
from tests.integration.joint import ANY_PARTNER, Joint, joint_job

pytestmark = pytest.mark.integration

PROXY_CONFIG = "tds.io/kube-rbac-proxy-config"
JOB_UID_LABEL = "tds.io/training-job-uid"
CONTRACT_LABEL = "tds.io/contract"
DATASET = "scans"
GATEWAY_PORT = 8443


def room(uid: str) -> str:
    return f"tds-jr-{uid}"


def identity(uid: str) -> str:
    return f"system:serviceaccount:{room(uid)}:tds-worker"


def apps(story: Story) -> client.AppsV1Api:
    return client.AppsV1Api(story.hub.core.api_client)


def volume_deal(story: Story) -> Joint:
    """Two providers each offering `scans` on a volume (and `vault`, core), each under an Active
    contract with one consumer that allows joint training."""
    consumer = story.space()
    providers = (volume_space(story.spaces, story.hub), volume_space(story.spaces, story.hub))
    contracts = [
        story.propose(provider, consumer, jointTraining=ANY_PARTNER, datasets=[DATASET])
        for provider in providers
    ]
    for contract in contracts:
        story.wait_contract(contract, "Active")
    return Joint(consumer, providers, (contracts[0], contracts[1]))


def start(story: Story, joint: Joint, **spec: Any) -> Body:
    body = joint_job(joint.namespace, list(joint.contracts), **spec)
    name = story.submit(owner_of(joint.consumer), body)
    return story.wait_job(joint.namespace, name, "Running", timeout=60)


def served(deployment: client.V1Deployment) -> list[str]:
    """The users a gateway's proxy serves, by its static authorization."""
    config = yaml.safe_load(deployment.spec.template.metadata.annotations[PROXY_CONFIG])
    return [rule["user"]["name"] for rule in config["authorization"]["static"]]


def job_gateways(story: Story, provider: str, uid: str) -> list[client.V1Deployment]:
    found: list[client.V1Deployment] = (
        apps(story)
        .list_namespaced_deployment(
            space_namespace(provider), label_selector=f"{GATEWAY_LABEL},{JOB_UID_LABEL}={uid}"
        )
        .items
    )
    return found


def left_of(story: Story, uid: str) -> list[str]:
    """Every object of the job's gateways still there, anywhere: `kind/name`."""
    selector = f"{GATEWAY_LABEL},{JOB_UID_LABEL}={uid}"
    core, net, rbac = story.hub.core, story.hub.net, story.hub.rbac
    lists = {
        "Deployment": apps(story).list_deployment_for_all_namespaces,
        "Service": core.list_service_for_all_namespaces,
        "ServiceAccount": core.list_service_account_for_all_namespaces,
        "NetworkPolicy": net.list_network_policy_for_all_namespaces,
        "ClusterRoleBinding": rbac.list_cluster_role_binding,
    }
    return [
        f"{kind}/{item.metadata.name}"
        for kind, listing in lists.items()
        for item in listing(label_selector=selector).items
    ]


def the_gateway(story: Story, provider: str, uid: str) -> client.V1Deployment:
    [deployment] = wait_until(
        lambda: job_gateways(story, provider, uid) or None,
        timeout=10,
        what=f"the joint gateway of {provider}",
    )
    return deployment


def endpoints_of(story: Story, uid: str) -> dict[str, Body]:
    [batch] = story.hub.batch.list_namespaced_job(room(uid)).items
    env = {e.name: e.value for e in batch.spec.template.spec.containers[0].env}
    endpoints: dict[str, Body] = json.loads(env["TDS_DATASET_ENDPOINTS"])
    return endpoints


def test_each_joint_job_reads_a_volume_dataset_through_a_gateway_naming_its_room_alone(
    story: Story,
) -> None:
    joint = volume_deal(story)
    first = start(story, joint, run_for="60s")
    second = start(story, joint, run_for="60s")
    uids = [first["metadata"]["uid"], second["metadata"]["uid"]]
    for provider, contract in zip(joint.providers, joint.contracts, strict=True):
        namespace = space_namespace(provider)
        contract_uid = story.contract(contract)["metadata"]["uid"]
        for uid, other in (uids, uids[::-1]):
            gateway = the_gateway(story, provider, uid)
            # Its room's workers alone: another job's joint room is not named (the other
            # job's gateway names that room: the positive control beside it), nor any
            # contract's clean room.
            assert served(gateway) == [identity(uid)], served(gateway)
            assert identity(other) not in served(gateway)
            assert served(the_gateway(story, provider, other)) == [identity(other)]
            # The contract's, like its own gateways: controlled by it and labelled with it.
            metadata = gateway.metadata
            [owner] = [ref for ref in metadata.owner_references if ref.controller]
            assert (owner.kind, owner.name, owner.uid) == ("DataContract", contract, contract_uid)
            assert metadata.labels[CONTRACT_LABEL] == contract
            # Its Service is the address the room's workers are handed for the dataset.
            service = story.hub.core.read_namespaced_service(metadata.name, namespace)
            assert service.spec.selector == {GATEWAY_LABEL: metadata.name}
            address = f"{service.spec.cluster_ip}:{GATEWAY_PORT}"
            assert endpoints_of(story, uid)[f"{provider}/{DATASET}"]["address"] == address
            # Its pod may reach the API server (for the TokenReviews it asks), by its own policy.
            policy = story.hub.net.read_namespaced_network_policy(metadata.name, namespace)
            assert policy.spec.pod_selector.match_labels == {GATEWAY_LABEL: metadata.name}
            # The room reaches the job's gateway pod, by its own egress policy.
            egress = story.hub.net.read_namespaced_network_policy("tds-allow-datasets", room(uid))
            selectors = [peer.pod_selector.match_labels for rule in egress.spec.egress
                         for peer in rule.to if peer.pod_selector]  # fmt: skip
            assert {GATEWAY_LABEL: metadata.name} in selectors
        # The contract's own gateway serves its own clean room alone, as before.
        own = (
            apps(story)
            .list_namespaced_deployment(
                namespace, label_selector=f"{GATEWAY_LABEL},!{JOB_UID_LABEL}"
            )
            .items
        )
        assert [served(d) for d in own] == [[f"system:serviceaccount:tds-cr-{contract}:tds-worker"]]

    # Deleting the first job takes its gateways away, everywhere; the second's stay.
    story.delete_job(joint.namespace, first["metadata"]["name"])
    wait_until(
        lambda: not left_of(story, uids[0]), timeout=20, what="the first job's gateways gone"
    )
    assert len(left_of(story, uids[1])) == 2 * 5, left_of(story, uids[1])

    # The first provider revokes: its gateway of the second job goes at once; the job stops,
    # and the other provider's gateway goes with its end.
    owner_of(joint.providers[0]).api().patch_cluster_custom_object(
        GROUP, VERSION, "datacontracts", joint.contracts[0], {"spec": {"revoked": True}}
    )
    wait_until(
        lambda: not job_gateways(story, joint.providers[0], uids[1]),
        timeout=3,
        interval=0.05,
        what="the revoking provider's joint gateway gone",
    )
    wait_until(lambda: not left_of(story, uids[1]), timeout=20, what="the second job's gateways")


def test_a_joint_jobs_gateways_go_when_it_ends(story: Story) -> None:
    joint = volume_deal(story)
    running = start(story, joint, run_for="4s")
    uid = running["metadata"]["uid"]
    for provider in joint.providers:
        assert served(the_gateway(story, provider, uid)) == [identity(uid)]
    story.wait_job(joint.namespace, running["metadata"]["name"], "Succeeded", timeout=60)
    wait_until(lambda: not left_of(story, uid), timeout=20, what="the ended job's gateways gone")
