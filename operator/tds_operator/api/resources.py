"""Kind, plural and short names of the tds.io API, where each kind the operator handles is
served, and the type of a manifest."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tds_operator import GROUP, VERSION

Manifest = dict[str, Any]
"""A Kubernetes object as the API server reads and writes it: a JSON object."""
LiveObject = Mapping[str, Any]
"""An object as the API server returned it; only read."""

DATA_SPACE = "DataSpace"
DATA_CONTRACT = "DataContract"
TRAINING_JOB = "TrainingJob"
MODEL_RELEASE = "ModelRelease"
CONTRACT = "Contract"
"""A party's copy of a DataContract, in its space namespace (api/contract.py)."""
CONTRACT_PROPOSAL = "ContractProposal"
"""A party's proposal of a DataContract, in its space namespace (api/proposal.py)."""
KINDS = (DATA_SPACE, DATA_CONTRACT, TRAINING_JOB, MODEL_RELEASE, CONTRACT, CONTRACT_PROPOSAL)

DATA_SPACES = "dataspaces"
DATA_CONTRACTS = "datacontracts"
TRAINING_JOBS = "trainingjobs"
MODEL_RELEASES = "modelreleases"
CONTRACTS = "contracts"
CONTRACT_PROPOSALS = "contractproposals"

CATEGORY = "tds"
"""`kubectl get tds` lists every kind."""


@dataclass(frozen=True)
class Resource:
    """Where the API server serves one kind."""

    kind: str
    plural: str
    short_name: str
    namespaced: bool
    group: str = GROUP
    version: str = VERSION

    @property
    def singular(self) -> str:
        """Singular resource name, the lowercase kind."""
        return self.kind.lower()

    @property
    def api_version(self) -> str:
        """`group/version`, as in a manifest's apiVersion."""
        return f"{self.group}/{self.version}"

    @property
    def crd_name(self) -> str:
        """Name of the CustomResourceDefinition, `<plural>.<group>`."""
        return f"{self.plural}.{self.group}"


RESOURCES = {
    DATA_SPACE: Resource(DATA_SPACE, DATA_SPACES, "space", namespaced=False),
    DATA_CONTRACT: Resource(DATA_CONTRACT, DATA_CONTRACTS, "dc", namespaced=False),
    TRAINING_JOB: Resource(TRAINING_JOB, TRAINING_JOBS, "tj", namespaced=True),
    MODEL_RELEASE: Resource(MODEL_RELEASE, MODEL_RELEASES, "mrel", namespaced=True),
    CONTRACT: Resource(CONTRACT, CONTRACTS, "ctr", namespaced=True),
    CONTRACT_PROPOSAL: Resource(CONTRACT_PROPOSAL, CONTRACT_PROPOSALS, "cprop", namespaced=True),
}


def resource_for(kind: str) -> Resource:
    """Group, version, plural and scope of a kind; KeyError for kinds outside tds.io."""
    return RESOURCES[kind]


RBAC = "rbac.authorization.k8s.io/v1"
KUEUE = "kueue.x-k8s.io/v1beta2"
KUEUE_KINDS = {
    "ResourceFlavor": False,
    "ClusterQueue": False,
    "LocalQueue": True,
    "AdmissionCheck": False,
    "Workload": True,
}
"""Kueue's kinds the operator handles when the cluster runs Kueue (TDS_KUEUE)."""
KUEUE_WORKLOAD_CRD = "workloads.kueue.x-k8s.io"
KUEUE_VISIBILITY = "visibility.kueue.x-k8s.io/v1beta2"
"""Kueue's visibility API (an aggregated API of the Kueue manager): a LocalQueue's pending
workloads with their positions, which the operator only reads."""
PENDING_WORKLOADS = "pendingworkloads"
ADMISSION = "admissionregistration.k8s.io/v1"
BUILTIN_KINDS: dict[tuple[str, str], bool] = {
    ("v1", "Namespace"): False,
    ("v1", "ResourceQuota"): True,
    ("v1", "LimitRange"): True,
    ("v1", "Service"): True,
    ("v1", "Pod"): True,
    ("v1", "ConfigMap"): True,
    ("v1", "Secret"): True,
    ("v1", "ServiceAccount"): True,
    ("v1", "Event"): True,
    ("v1", "PersistentVolumeClaim"): True,
    ("v1", "PersistentVolume"): False,
    ("networking.k8s.io/v1", "NetworkPolicy"): True,
    ("discovery.k8s.io/v1", "EndpointSlice"): True,
    (RBAC, "RoleBinding"): True,
    (RBAC, "Role"): True,
    (RBAC, "ClusterRole"): False,
    (RBAC, "ClusterRoleBinding"): False,
    ("batch/v1", "Job"): True,
    ("apps/v1", "Deployment"): True,
    ("apps/v1", "ReplicaSet"): True,
    (ADMISSION, "ValidatingWebhookConfiguration"): False,
    (ADMISSION, "MutatingWebhookConfiguration"): False,
    (ADMISSION, "ValidatingAdmissionPolicy"): False,
    (ADMISSION, "ValidatingAdmissionPolicyBinding"): False,
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): False,
    ("authentication.k8s.io/v1", "SelfSubjectReview"): False,
    ("coordination.k8s.io/v1", "Lease"): True,
    **{(KUEUE, kind): namespaced for kind, namespaced in KUEUE_KINDS.items()},
    (KUEUE_VISIBILITY, "LocalQueue"): True,
}
"""The built-in kinds (and Kueue's) the operator handles, and whether each is namespaced."""


def builtin_plural(kind: str) -> str:
    """The resource name the API server serves a built-in kind under."""
    lower = kind.lower()
    return f"{lower[:-1]}ies" if lower.endswith("y") else f"{lower}s"


@dataclass(frozen=True)
class ApiLocation:
    """Where a kind lives in the API: its plural and whether it is namespaced."""

    plural: str
    namespaced: bool


LOCATIONS: dict[tuple[str, str], ApiLocation] = {
    **{
        key: ApiLocation(builtin_plural(key[1]), namespaced)
        for key, namespaced in BUILTIN_KINDS.items()
    },
    **{
        (resource.api_version, kind): ApiLocation(resource.plural, resource.namespaced)
        for kind, resource in RESOURCES.items()
    },
}


def resource_of(api_version: str, kind: str) -> ApiLocation:
    """The API location of a kind the operator handles."""
    try:
        return LOCATIONS[(api_version, kind)]
    except KeyError:
        raise ValueError(f"the operator does not handle {kind} in {api_version}") from None
