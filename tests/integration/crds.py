"""The project's custom objects on the API server alone, without the operator (test_crd_*)."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bench.hubkit.manifests import Body, condition
from tds_operator.api import resource_for


def established(crd: Body) -> bool:
    """Whether a CRD's Established condition is True."""
    found = condition(crd, "Established")
    return found is not None and found["status"] == "True"


def ensure_namespace(api_client: client.ApiClient, name: str) -> bool:
    """Create a namespace unless it exists; whether this call created it."""
    core = client.CoreV1Api(api_client)
    try:
        core.create_namespace({"metadata": {"name": name}})
    except ApiException as error:
        if error.status != 409:
            raise
        return False
    return True


def create(
    objects: client.CustomObjectsApi,
    manifest: Body,
    *,
    dry_run: bool = True,
    field_validation: str = "Strict",
) -> Body:
    """Create an object (dry run by default) and return what the server made of it."""
    resource = resource_for(manifest["kind"])
    options: dict[str, Any] = {"field_validation": field_validation}
    if dry_run:
        options["dry_run"] = "All"
    if resource.namespaced:
        return dict(
            objects.create_namespaced_custom_object(
                resource.group,
                resource.version,
                manifest["metadata"]["namespace"],
                resource.plural,
                manifest,
                **options,
            )
        )
    return dict(
        objects.create_cluster_custom_object(
            resource.group, resource.version, resource.plural, manifest, **options
        )
    )
