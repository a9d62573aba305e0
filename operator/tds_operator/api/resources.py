"""Kind, plural and short names of the tds.io API, and where each kind is served."""

from __future__ import annotations

from dataclasses import dataclass

from tds_operator import GROUP, VERSION

DATA_SPACE = "DataSpace"
DATA_CONTRACT = "DataContract"
TRAINING_JOB = "TrainingJob"
KINDS = (DATA_SPACE, DATA_CONTRACT, TRAINING_JOB)

DATA_SPACES = "dataspaces"
DATA_CONTRACTS = "datacontracts"
TRAINING_JOBS = "trainingjobs"

CATEGORY = "tds"
"""`kubectl get tds` lists all three kinds."""


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
    DATA_SPACE: Resource(DATA_SPACE, DATA_SPACES, "ds", namespaced=False),
    DATA_CONTRACT: Resource(DATA_CONTRACT, DATA_CONTRACTS, "dc", namespaced=False),
    TRAINING_JOB: Resource(TRAINING_JOB, TRAINING_JOBS, "tj", namespaced=True),
}


def resource_for(kind: str) -> Resource:
    """Group, version, plural and scope of a kind; KeyError for kinds outside tds.io."""
    return RESOURCES[kind]
