"""Who a clean room is, and what the API server lets it read: contract-scoped dataset access.

Each clean room has a ServiceAccount its workers run as. They get no API token: a projected,
short-lived token for the audience `tds.io/datasets` is what they present to the datasets'
gateways. While the contract is Active, a Role in the provider's namespace grants `get` on the
contract's datasets as named resources of `datasets.tds.io`, bound to that ServiceAccount. A
gateway (kube-rbac-proxy in front of it) checks each request with a TokenReview and a
SubjectAccessReview, so the API server's own authorizer answers, per request, whether this clean
room may read this dataset now. The grant goes with the contract's Active phase.
"""

from __future__ import annotations

from collections.abc import Sequence

from tds_operator import GROUP
from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import DataSpace, space_namespace
from tds_operator.api.resources import Manifest
from tds_operator.desired.cleanroom import (
    WORKER_SERVICE_ACCOUNT,
    bounded_name,
    clean_room_namespace,
    contract_owner,
)

DATASET_RESOURCE = "datasets"
"""The resource of group tds.io that gateways ask the API server about (it is not served:
RBAC and SubjectAccessReview need no API behind a resource name)."""
DATASET_READ_VERB = "get"
DATASETS_AUDIENCE = "tds.io/datasets"
"""The audience of the workers' token: gateways accept no other (an API server token is no
dataset token, and a dataset token is no API server token)."""
DATASET_TOKEN_VOLUME = "tds-dataset-token"
DATASET_TOKEN_DIRECTORY = "/var/run/secrets/tds.io/datasets"
DATASET_TOKEN_PATH = f"{DATASET_TOKEN_DIRECTORY}/token"
DATASET_TOKEN_SECONDS = 600
"""The token's lifetime, the shortest the API server issues; the kubelet renews it before it
ends, so workers read the file again for each request (or at least every few minutes)."""
GRANT_PREFIX = "tds-datasets-"
RBAC = "rbac.authorization.k8s.io/v1"


def grant_name(contract: str) -> str:
    """The Role and RoleBinding in the provider's namespace: `tds-datasets-<contract>`."""
    return bounded_name(GRANT_PREFIX, contract)


def worker_identity(contract: str) -> str:
    """The user name the API server knows the clean room's workers by."""
    return f"system:serviceaccount:{clean_room_namespace(contract)}:{WORKER_SERVICE_ACCOUNT}"


def granted_datasets(contract: DataContract, provider: DataSpace) -> list[str]:
    """The contract's datasets that the provider's catalogue offers, core data never (the
    terms refuse it too; the grant does not rely on that)."""
    names = set()
    for name in contract.spec.provider.datasets:
        dataset = provider.spec.dataset(name)
        if dataset is not None and dataset.classification != "core":
            names.add(name)
    return sorted(names)


def dataset_grant(contract: DataContract, datasets: Sequence[str]) -> list[Manifest]:
    """The Role granting `get` on exactly `datasets` in the provider's namespace, and its
    binding to the clean room's ServiceAccount. No datasets, no grant: a rule without
    resourceNames would grant every dataset of the provider."""
    if not datasets:
        return []
    owner = contract_owner(contract)
    name = grant_name(owner.name)
    namespace = space_namespace(contract.spec.provider.space)
    role = {
        "apiVersion": RBAC,
        "kind": "Role",
        "metadata": owner.metadata(name, namespace),
        "rules": [
            {
                "apiGroups": [GROUP],
                "resources": [DATASET_RESOURCE],
                "verbs": [DATASET_READ_VERB],
                "resourceNames": sorted(set(datasets)),
            }
        ],
    }
    binding = {
        "apiVersion": RBAC,
        "kind": "RoleBinding",
        "metadata": owner.metadata(name, namespace),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [
            {
                "kind": "ServiceAccount",
                "name": WORKER_SERVICE_ACCOUNT,
                "namespace": clean_room_namespace(owner.name),
            }
        ],
    }
    return [role, binding]


def dataset_token_volume() -> Manifest:
    """The pod volume holding the workers' dataset token: projected, short-lived, for gateways
    alone."""
    return {
        "name": DATASET_TOKEN_VOLUME,
        "projected": {
            "sources": [
                {
                    "serviceAccountToken": {
                        "audience": DATASETS_AUDIENCE,
                        "expirationSeconds": DATASET_TOKEN_SECONDS,
                        "path": "token",
                    }
                }
            ],
        },
    }


def dataset_token_mount() -> Manifest:
    """Where a worker finds its dataset token, read-only."""
    return {"name": DATASET_TOKEN_VOLUME, "mountPath": DATASET_TOKEN_DIRECTORY, "readOnly": True}


def clean_room_access(contract: DataContract, provider: DataSpace) -> list[Manifest]:
    """The clean room's grant in the provider's namespace (its account is a clean-room child)."""
    return dataset_grant(contract, granted_datasets(contract, provider))


def grant_details(contract: DataContract) -> dict[str, str]:
    """Who the grant is for and where it is, as the ledger records it."""
    name = contract.metadata.name or ""
    return {
        "subject": worker_identity(name),
        "namespace": space_namespace(contract.spec.provider.space),
        "role": grant_name(name),
    }


def token_presentation() -> dict[str, str]:
    """How a worker presents its token to a gateway, as TDS_DATASET_ENDPOINTS says it."""
    return {"tokenPath": DATASET_TOKEN_PATH, "audience": DATASETS_AUDIENCE, "scheme": "Bearer"}
