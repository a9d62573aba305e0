"""Contract-scoped dataset access, answered by the hub's own API server (authenticator and RBAC
authorizer), attacked as the clean room's workers and as the parties.

A gateway (kube-rbac-proxy) authenticates each request's token with a TokenReview for the
audience `tds.io/datasets` and asks a SubjectAccessReview whether that identity may `get` the
dataset (`datasets.tds.io/<name>` in the provider's namespace). These tests ask the same two
questions the gateway asks, with a token the API server issued for the clean room's
ServiceAccount, so every answer here is the answer a gateway would get.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bench.hubkit.hub import (
    Contracts,
    Hub,
    Spaces,
    active_contract,
    get_or_none,
    owner_of,
    refusal,
    space_namespace,
    unique,
)
from bench.hubkit.manifests import training_job_body
from bench.hubkit.training import Story
from bench.hubkit.waiting import wait_until

pytestmark = pytest.mark.integration

AUDIENCE = "tds.io/datasets"
WORKER = "tds-worker"
# The catalogue of the provider: the contracts below cover `records` only.
CATALOGUE = [
    ("records", "general"),
    ("weather", "general"),
    ("secrets", "core"),
]
# Generous: the figure that matters is measured and printed, not asserted here.
REFUSED_WITHIN = 10.0


def catalogue() -> list[dict[str, object]]:
    return [
        {
            "name": name,
            "classification": classification,
            "source": {"service": {"name": f"{name}-gateway", "port": 8443}},
        }
        for name, classification in CATALOGUE
    ]


def worker_name(contract: str) -> str:
    return f"system:serviceaccount:tds-cr-{contract}:{WORKER}"


class Gateway:
    """Asks the API server what a gateway asks: who presents this token, and may they read?"""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.authn = client.AuthenticationV1Api(api_client)
        self.authz = client.AuthorizationV1Api(api_client)
        self.core = client.CoreV1Api(api_client)

    def token(self, contract: str, audience: str = AUDIENCE) -> str:
        """A token for the clean room's ServiceAccount, as the kubelet projects it."""
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[audience], expiration_seconds=600)
        )
        answer = self.core.create_namespaced_service_account_token(
            WORKER, f"tds-cr-{contract}", request
        )
        return str(answer.status.token)

    def who(self, token: str) -> str | None:
        """The user a gateway accepting only AUDIENCE sees, or None if it rejects the token."""
        review = self.authn.create_token_review(
            client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token, audiences=[AUDIENCE]))
        )
        return review.status.user.username if review.status.authenticated else None

    def may_read(
        self, user: str, namespace: str, dataset: str, verb: str = "get"
    ) -> tuple[bool, str]:
        """The API server's answer (and its reason) for reading one dataset."""
        review = self.authz.create_subject_access_review(
            client.V1SubjectAccessReview(
                spec=client.V1SubjectAccessReviewSpec(
                    user=user,
                    groups=["system:serviceaccounts", "system:authenticated"],
                    resource_attributes=client.V1ResourceAttributes(
                        namespace=namespace,
                        group="tds.io",
                        resource="datasets",
                        name=dataset,
                        verb=verb,
                    ),
                )
            )
        )
        return bool(review.status.allowed), str(review.status.reason or "")


@pytest.fixture
def gateway(api_client: client.ApiClient) -> Gateway:
    return Gateway(api_client)


def provider_space(spaces: Spaces) -> str:
    name = spaces.create(analysts=(), datasets=catalogue())
    spaces.wait_ready(name)
    return name


def consumer_space(spaces: Spaces) -> str:
    name = spaces.create(analysts=())
    spaces.wait_ready(name)
    return name


def wait_readable(gateway: Gateway, contract: str, provider: str) -> None:
    wait_until(
        lambda: gateway.may_read(worker_name(contract), space_namespace(provider), "records")[0],
        timeout=20,
        what=f"the clean room of {contract} granted records",
    )


def time_until_refused(
    gateway: Gateway, contract: str, provider: str, end: Callable[[], object]
) -> float:
    """Seconds from `end()` returning to the first SubjectAccessReview answering no."""
    end()
    ended = time.monotonic()
    while time.monotonic() - ended < REFUSED_WITHIN:
        if not gateway.may_read(worker_name(contract), space_namespace(provider), "records")[0]:
            return time.monotonic() - ended
    raise AssertionError(f"{contract}'s clean room still reads records {REFUSED_WITHIN}s later")


def test_a_clean_room_reads_exactly_its_contracts_datasets_until_revoked(
    spaces: Spaces, contracts: Contracts, gateway: Gateway, hub: Hub
) -> None:
    provider, consumer = provider_space(spaces), consumer_space(spaces)
    name = active_contract(contracts, provider, consumer, datasets=["records"])
    namespace = space_namespace(provider)
    wait_readable(gateway, name, provider)

    # The token the kubelet projects is issued for the clean room's account and audience.
    token = gateway.token(name)
    assert gateway.who(token) == worker_name(name)
    allowed, reason = gateway.may_read(worker_name(name), namespace, "records")
    assert allowed, reason
    assert f"tds-datasets-{name}" in reason, reason
    # Not another dataset of the provider, not its core data, not a listing, not elsewhere.
    for dataset in ("weather", "secrets"):
        assert not gateway.may_read(worker_name(name), namespace, dataset)[0], dataset
    assert not gateway.may_read(worker_name(name), namespace, "", verb="list")[0]
    assert not gateway.may_read(worker_name(name), space_namespace(consumer), "records")[0]
    # A token for the API server is no dataset token; a dataset token is no API server token.
    assert gateway.who(gateway.token(name, audience="https://kubernetes.default.svc")) is None
    core = client.CoreV1Api(client.ApiClient(bearer_configuration(hub, token)))
    with pytest.raises(ApiException) as answer:
        core.list_namespaced_pod(f"tds-cr-{name}")
    assert answer.value.status == 401

    seconds = time_until_refused(
        gateway, name, provider, lambda: contracts.revoke(owner_of(provider), name)
    )
    print(f"\nrevocation: the SubjectAccessReview answered no {seconds * 1000:.0f} ms after it")
    assert gateway.who(token) == worker_name(name)  # still a valid token, but it reads nothing
    # The ledger records the grant given and taken back (the reconcile writes it after the cut).
    wait_until(
        lambda: contracts.entries(name)[-1]["kind"] == "DatasetAccessRevoked",
        timeout=10,
        what="the grant taken back on the ledger",
    )
    kinds = [entry["kind"] for entry in contracts.entries(name)]
    assert kinds.count("DatasetAccessGranted") == 1, kinds
    assert kinds.count("DatasetAccessRevoked") == 1, kinds
    taken = contracts.entries(name)[-1]["details"]
    assert taken == {
        "subject": worker_name(name),
        "namespace": namespace,
        "role": f"tds-datasets-{name}",
        "datasets": ["records"],
    }
    assert (
        get_or_none(
            lambda: hub.rbac.read_namespaced_role_binding(f"tds-datasets-{name}", namespace)
        )
        is None
    )


def bearer_configuration(hub: Hub, token: str) -> client.Configuration:
    """The hub's address and CA, with `token` as the only credential."""
    base = hub.core.api_client.configuration
    configuration = client.Configuration()
    configuration.host = base.host
    configuration.ssl_ca_cert = base.ssl_ca_cert
    configuration.verify_ssl = base.verify_ssl
    configuration.api_key = {"authorization": f"Bearer {token}"}
    return configuration


def test_access_ends_when_the_contract_expires(
    spaces: Spaces, contracts: Contracts, gateway: Gateway
) -> None:
    provider, consumer = provider_space(spaces), consumer_space(spaces)
    not_after = datetime.now(UTC) + timedelta(seconds=12)
    name = active_contract(contracts, provider, consumer, datasets=["records"], not_after=not_after)
    wait_readable(gateway, name, provider)

    def until_expiry() -> None:
        time.sleep(max(0.0, (not_after - datetime.now(UTC)).total_seconds()))

    seconds = time_until_refused(gateway, name, provider, until_expiry)
    print(f"\nexpiry: the SubjectAccessReview answered no {seconds * 1000:.0f} ms after notAfter")
    contracts.wait_phase(name, "Expired")


def test_the_parties_cannot_widen_or_borrow_the_grant(
    spaces: Spaces, contracts: Contracts, gateway: Gateway
) -> None:
    provider, consumer = provider_space(spaces), consumer_space(spaces)
    name = active_contract(contracts, provider, consumer, datasets=["records"])
    wait_readable(gateway, name, provider)
    grant, room = f"tds-datasets-{name}", f"tds-cr-{name}"
    # The consumer cannot get a token of its clean room, nor run a pod as it.
    message = refusal(lambda: owner_of(consumer).kubectl("create", "token", WORKER, "-n", room))
    assert "forbidden" in message, message
    # Neither party rewrites the grant to cover more (the provider reads its guard rails only).
    patch = '{"rules":[{"apiGroups":["tds.io"],"resources":["datasets"],"verbs":["get"]}]}'
    for party in (provider, consumer):
        message = refusal(
            lambda p=party: owner_of(p).kubectl(
                "patch", "role", grant, "-n", space_namespace(provider), "-p", patch
            )
        )
        assert "forbidden" in message, message
    # The provider's own workloads are not the clean room.
    provider_account = f"system:serviceaccount:{space_namespace(provider)}:default"
    assert not gateway.may_read(provider_account, space_namespace(provider), "records")[0]


def test_access_ends_when_the_budget_is_used_up(story: Story, gateway: Gateway) -> None:
    # 0.01 GPU-hours are 36 GPU-seconds: a 1 x 8 GPU job uses them up in 4.5 s of its 60.
    deal = story.deal(compute={"maxGpuHours": 0.01, "maxConcurrentGpus": 8})
    wait_readable(gateway, deal.contract, deal.provider)
    body = training_job_body(
        unique("j"), deal.namespace, deal.contract, gpus_per_worker=8, run_for="60s"
    )
    name = story.submit(owner_of(deal.consumer), body)
    story.wait_job(deal.namespace, name, "Running", timeout=30)
    (worker,) = story.pods(deal.contract, name)
    started = worker.status.container_statuses[0].state.running.started_at

    def refused() -> bool:
        user, namespace = worker_name(deal.contract), space_namespace(deal.provider)
        return not gateway.may_read(user, namespace, "records")[0]

    wait_until(refused, timeout=30, interval=0.01, what="the exhausted contract's grant gone")
    # startedAt has whole seconds: the budget ran out 4.5 to 5.5 s after it.
    latency = (datetime.now(UTC) - started).total_seconds() - 4.5
    print(
        f"\nexhaustion: the SubjectAccessReview answered no at most {latency * 1000:.0f} ms "
        "after the budget ran out"
    )
    story.wait_contract(deal.contract, "Exhausted")
