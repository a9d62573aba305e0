"""pydantic models of the four kinds, their condition types and reasons: the single source of
truth for crds/ and the CRD reference."""

from tds_operator.api.common import Condition, CustomResource, KubeModel, ObjectMeta, ObservedStatus
from tds_operator.api.datacontract import (
    DataContract,
    DataContractSpec,
    DataContractStatus,
)
from tds_operator.api.dataspace import DataSpace, DataSpaceSpec, DataSpaceStatus, space_namespace
from tds_operator.api.resources import (
    CATEGORY,
    DATA_CONTRACT,
    DATA_CONTRACTS,
    DATA_SPACE,
    DATA_SPACES,
    KINDS,
    RESOURCES,
    TRAINING_JOB,
    TRAINING_JOBS,
    Resource,
    resource_for,
)
from tds_operator.api.subject import Subject
from tds_operator.api.trainingjob import TrainingJob, TrainingJobSpec, TrainingJobStatus

__all__ = [
    "CATEGORY",
    "DATA_CONTRACT",
    "DATA_CONTRACTS",
    "DATA_SPACE",
    "DATA_SPACES",
    "KINDS",
    "RESOURCES",
    "TRAINING_JOB",
    "TRAINING_JOBS",
    "Condition",
    "CustomResource",
    "DataContract",
    "DataContractSpec",
    "DataContractStatus",
    "DataSpace",
    "DataSpaceSpec",
    "DataSpaceStatus",
    "KubeModel",
    "ObjectMeta",
    "ObservedStatus",
    "Resource",
    "Subject",
    "TrainingJob",
    "TrainingJobSpec",
    "TrainingJobStatus",
    "resource_for",
    "space_namespace",
]
