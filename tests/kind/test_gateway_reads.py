"""Real bytes through a volume dataset's gateway: the contract's worker reads them with its
projected token; a worker of another contract and a pod of the consumer's own space do not."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest

from tds_operator.desired.cleanroom import WORKER_SERVICE_ACCOUNT, clean_room_namespace
from tds_operator.desired.grants import DATASET_TOKEN_PATH
from tests.e2e.cluster import get, kubectl
from tests.e2e.gateway_read import MARKER
from tests.e2e.story import Story
from tests.kind.wire import Prober, gateway_url, start_pod, token_pod

pytestmark = pytest.mark.kind

# What the provider's owner wrote onto the claim (tests/e2e/gateway_read.py: echo MARKER).
PROVIDERS_FILE = f"{MARKER}\n".encode()
# The example's other dataset of the provider (examples/01-dataspaces.yaml).
OTHER_DATASET = "grid-load-2025"


@pytest.fixture(scope="module")
def second_contract(story: Story) -> Iterator[str]:
    """Another Active contract between the same spaces, for another dataset (served by the
    provider's own Service, not a gateway)."""
    contract = json.loads(json.dumps(story.contract))
    name = f"{story.contract_name}-other"
    contract["metadata"]["name"] = name
    contract["spec"]["provider"]["datasets"] = [OTHER_DATASET]
    story.owner(story.provider).kubectl("create", "-f", "-", stdin=json.dumps(contract))
    try:
        consumer = story.owner(story.consumer)
        story.wait(
            lambda: consumer.can("patch", f"datacontracts.tds.io/{name}", f"tds-{story.consumer}"),
            f"{story.consumer}'s owners to reach {name}",
        )
        consumer.kubectl(
            "patch",
            "datacontract",
            name,
            "--type=merge",
            "-p",
            '{"spec":{"consent":{"consumer":{"approved":true}}}}',
        )
        story.wait(
            lambda: (
                ((get("datacontract", name) or {}).get("status") or {}).get("phase") == "Active"
            ),
            f"contract {name} Active",
        )
        yield name
    finally:
        story.owner(story.provider).kubectl(
            "patch", "datacontract", name, "--type=merge", "-p", '{"spec":{"revoked":true}}'
        )
        story.wait(
            lambda: (
                ((get("datacontract", name) or {}).get("status") or {}).get("phase") == "Revoked"
            ),
            f"contract {name} Revoked",
        )
        kubectl("delete", "datacontract", name, "--wait=false", check=False)
        kubectl("delete", "namespace", clean_room_namespace(name), "--wait=false", check=False)


def test_a_worker_reads_the_providers_bytes_through_its_gateway(
    story: Story, worker: Prober
) -> None:
    read = worker.fetch(gateway_url(story), DATASET_TOKEN_PATH)
    digest = "sha256:" + hashlib.sha256(PROVIDERS_FILE).hexdigest()
    assert read == f"{digest} {len(PROVIDERS_FILE)}", read


def test_another_contracts_worker_is_refused(
    story: Story, worker: Prober, second_contract: str
) -> None:
    url = gateway_url(story)
    allowed = worker.fetch(url, DATASET_TOKEN_PATH)
    assert allowed.startswith("sha256:"), f"positive control: the contract's worker: {allowed}"
    room = clean_room_namespace(second_contract)
    story.wait(lambda: get("serviceaccount", WORKER_SERVICE_ACCOUNT, room), f"clean room {room}")
    pod = token_pod("other-worker", room, ["sleep", "3600"], service_account=WORKER_SERVICE_ACCOUNT)
    start_pod(pod)
    theirs = Prober("other-worker", room).fetch(url, "/token/token")
    assert theirs.startswith("refused"), f"another contract's worker read the dataset: {theirs}"


def test_a_pod_of_the_consumers_space_is_refused(story: Story, worker: Prober) -> None:
    url = gateway_url(story)
    allowed = worker.fetch(url, DATASET_TOKEN_PATH)
    assert allowed.startswith("sha256:"), f"positive control: the worker: {allowed}"
    consumer = f"tds-{story.consumer}"
    start_pod(token_pod("consumer-reader", consumer, ["sleep", "3600"]))
    refused = Prober("consumer-reader", consumer).fetch(url, "/token/token")
    assert refused.startswith("refused"), f"the consumer's own space read the dataset: {refused}"


def test_the_gateway_itself_refuses_a_pod_the_network_lets_through(
    story: Story, worker: Prober
) -> None:
    """The tests above are refused by the network before the gateway answers; a pod of the
    provider's own space reaches the gateway's port (its namespace lets its pods talk to each
    other), so what refuses its token, of the right audience but not a clean-room worker's, is
    the gateway's own check."""
    url = gateway_url(story)
    allowed = worker.fetch(url, DATASET_TOKEN_PATH)
    assert allowed.startswith("sha256:"), f"positive control: the worker: {allowed}"
    provider = f"tds-{story.provider}"
    start_pod(token_pod("provider-reader", provider, ["sleep", "3600"]))
    reader = Prober("provider-reader", provider)
    address = url.split("/")[2]
    host, port = address.rsplit(":", 1)
    assert reader.tcp(host, int(port)) == "open", "the network refused the provider's own pod"
    # The gateway's proxy answers with an HTTP error: a token its own rule does not name would
    # be asked of the API server in a SubjectAccessReview, which its account may not send (500).
    refused = reader.fetch(url, "/token/token")
    assert refused.startswith("refused: HTTP Error "), (
        f"the gateway served a token that is not a clean-room worker's: {refused}"
    )
