"""Dataset gateways on the hub: a provider space with volume datasets, and its gateways."""

from __future__ import annotations

from kubernetes import client

from bench.hubkit.hub import Hub, Spaces, space_namespace

GATEWAY_LABEL = "tds.io/dataset-gateway"


def volume_space(spaces: Spaces, hub: Hub, *, bound: bool = False) -> str:
    """A space offering `scans`, a general dataset on a claim, and `vault`, core, on another;
    with `bound`, the claims take volumes of the hub's pool, so that gateways' pods are
    scheduled and run (else they wait, unscheduled, for their claim)."""
    pool = {"storageClassName": "tds-output", "accessModes": ["ReadWriteOnce"]}
    datasets = [
        {
            "name": "scans",
            "classification": "general",
            "source": {"volume": {"claimName": "scans"}},
        },
        {"name": "vault", "classification": "core", "source": {"volume": {"claimName": "vault"}}},
    ]
    name = spaces.create(analysts=(), datasets=datasets)
    spaces.wait_ready(name)
    for claim in ("scans", "vault"):
        dataset_claim(hub, name, claim, **(pool if bound else {}))
    return name


def dataset_claim(hub: Hub, space: str, claim: str, **spec: object) -> None:
    """The claim a volume dataset of the space names, in its namespace (pending, unless `spec`
    gives it a storage class of the hub's pool)."""
    hub.core.create_namespaced_persistent_volume_claim(
        space_namespace(space),
        {
            "metadata": {"name": claim},
            "spec": {
                "accessModes": ["ReadOnlyMany"],
                "resources": {"requests": {"storage": "1Gi"}},
                **spec,
            },
        },
    )


def gateways(hub: Hub, space: str) -> list[client.V1Deployment]:
    apps = client.AppsV1Api(hub.core.api_client)
    found: list[client.V1Deployment] = apps.list_namespaced_deployment(
        space_namespace(space), label_selector=GATEWAY_LABEL
    ).items
    return found
