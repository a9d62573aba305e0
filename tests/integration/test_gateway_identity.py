"""A dataset gateway's identity is no key for its provider: the provider's owner can mint a token
for the gateway's ServiceAccount (it administers the namespace), but that account may ask the
API server TokenReviews alone, never who may do what. The attack and its positive control are
made with the very token the provider minted."""

from __future__ import annotations

import base64
from typing import Any, TypeVar

import pytest
from kubernetes import client, config

from bench.hubkit.hub import (
    Contracts,
    Hub,
    Spaces,
    clean_room,
    hub_kubeconfig,
    owner_of,
    space_namespace,
    unique,
)
from bench.hubkit.manifests import contract_body
from bench.hubkit.waiting import wait_until
from tests.integration.gateways import gateways, volume_space

pytestmark = pytest.mark.integration

T = TypeVar("T")


def active_pair(spaces: Spaces, contracts: Contracts, hub: Hub) -> tuple[str, str]:
    """A provider with a volume dataset `scans` under an Active contract: provider, contract."""
    provider = volume_space(spaces, hub)
    consumer = spaces.create(analysts=())
    spaces.wait_ready(consumer)
    name = contracts.propose(
        owner_of(provider), contract_body(unique("c"), provider, consumer, datasets=["scans"])
    )
    contracts.consent(owner_of(consumer), name, "consumer")
    contracts.wait_phase(name, "Active")
    return provider, name


def minted_token(hub: Hub, provider: str) -> str:
    """The provider's owner creates a token Secret for its gateway's ServiceAccount."""
    [deployment] = wait_until(
        lambda: gateways(hub, provider) or None, timeout=20, what="the gateway"
    )
    account = deployment.spec.template.spec.service_account_name
    namespace = space_namespace(provider)
    secret = unique("stolen-")
    owner_of(provider).create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": secret,
                "namespace": namespace,
                "annotations": {"kubernetes.io/service-account.name": account},
            },
            "type": "kubernetes.io/service-account-token",
        }
    )

    def token() -> str | None:
        data = hub.core.read_namespaced_secret(secret, namespace).data or {}
        return base64.b64decode(data["token"]).decode() if "token" in data else None

    return wait_until(token, timeout=20, what="the token controller filling the Secret")


def as_token(token: str, api: type[T]) -> T:
    """An API group as the bearer of `token` (no client certificate)."""
    loaded = client.Configuration()
    config.load_kube_config(config_file=hub_kubeconfig(), client_configuration=loaded)
    loaded.cert_file = None
    loaded.key_file = None
    loaded.api_key = {"authorization": f"Bearer {token}"}
    return api(client.ApiClient(loaded))


def ask(api: client.AuthorizationV1Api, user: str, attributes: dict[str, Any]) -> Any:
    body = {"spec": {"user": user, "resourceAttributes": attributes}}
    return api.create_subject_access_review(body)


def worker(contract: str) -> str:
    return f"system:serviceaccount:{clean_room(contract)}:tds-worker"


def test_a_token_minted_for_the_gateway_asks_the_api_server_about_nobody(
    spaces: Spaces, contracts: Contracts, hub: Hub
) -> None:
    provider, _ = active_pair(spaces, contracts, hub)
    other_provider, other_contract = active_pair(spaces, contracts, hub)
    token = minted_token(hub, provider)
    dataset = {"group": "tds.io", "resource": "datasets", "verb": "get", "name": "scans"}
    other = {**dataset, "namespace": space_namespace(other_provider)}

    # The positive control: what the gateway's proxy does ask, a TokenReview, with that token.
    review = as_token(token, client.AuthenticationV1Api).create_token_review(
        {"spec": {"token": token, "audiences": ["tds.io/datasets"]}}
    )
    assert review.status is not None

    # Another pair's clean room and dataset: the API server answers that token nothing.
    api = as_token(token, client.AuthorizationV1Api)
    for user, attributes in (
        (worker(other_contract), other),
        (worker(other_contract), {"resource": "pods", "verb": "list"}),
    ):
        with pytest.raises(client.ApiException) as refused:
            ask(api, user, attributes)
        assert refused.value.status == 403, refused.value.body
        assert "subjectaccessreviews" in str(refused.value.body)
    # It would have had something to tell: the other pair's clean room may read its dataset.
    answer = ask(client.AuthorizationV1Api(hub.core.api_client), worker(other_contract), other)
    assert answer.status.allowed is True
