"""TrainingJob: the consumer's code, run next to the provider's data under a contract."""

from __future__ import annotations

from typing import Annotated, Final, Literal, Self

from pydantic import ConfigDict, Field, StrictInt, StrictStr, model_validator

from tds_operator.api.common import (
    AGE_COLUMN,
    CustomResource,
    KubeModel,
    ObjectName,
    ObservedStatus,
    PrinterColumn,
    Timestamp,
)
from tds_operator.api.datacontract import Purpose
from tds_operator.api.jobcontracts import (
    ONE_WAY_TO_NAME_CONTRACTS,
    JobContractStatus,
    NamesContracts,
)
from tds_operator.api.output import OutputRequest, OutputStatus
from tds_operator.api.validation import (
    DNS_1035_LABEL,
    LABEL_1035_GRAMMAR,
    CelRule,
    cel_rules,
    object_name_rule,
    unique,
    unique_values_rule,
)

TrainingJobPhase = Literal[
    "Pending", "Queued", "Admitted", "Running", "Succeeded", "Failed", "Denied", "Stopped"
]
"""One-word summary of the job's conditions."""

# Set by the operator for torchrun-style rendezvous (or by Kubernetes for Indexed Jobs).
RESERVED_ENV_NAMES = (
    "MASTER_ADDR",
    "MASTER_PORT",
    "WORLD_SIZE",
    "RANK",
    "LOCAL_RANK",
    "NODE_RANK",
    "NNODES",
    "NPROC_PER_NODE",
    "JOB_COMPLETION_INDEX",
    "PET_MASTER_ADDR",
    "PET_MASTER_PORT",
    "PET_NNODES",
    "PET_NODE_RANK",
    "PET_NPROC_PER_NODE",
)
RESERVED_ENV_PREFIX = "TDS_"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_.-]*$"
IMAGE = r"^[!-~]+$"  # printable ASCII, no spaces: RE2 and Rust agree on this class
MAX_NAME_LENGTH = 52

Argument = Annotated[StrictStr, Field(max_length=4096)]
"""One word of a command line."""

ENV_NAME_NOT_RESERVED = CelRule(
    rule=(
        f"!(self.name in {list(RESERVED_ENV_NAMES)!r}) "
        f"&& !self.name.startsWith('{RESERVED_ENV_PREFIX}')"
    ),
    message=(
        "name is reserved for the operator's rendezvous settings: "
        f"{', '.join(RESERVED_ENV_NAMES)} and {RESERVED_ENV_PREFIX}*"
    ),
    field_path=".name",
    reason="FieldValueForbidden",
)
ENV_NAMES_UNIQUE = unique_values_rule("env names", key="name")
DATASETS_UNIQUE = unique_values_rule("dataset names")
SPEC_IS_IMMUTABLE = CelRule(
    rule="self == oldSelf",
    message="spec of a TrainingJob is immutable: delete the job and create a new one",
    reason="FieldValueForbidden",
)
JOB_NAME = object_name_rule(
    "TrainingJob",
    MAX_NAME_LENGTH,
    "it names the batch Job, its headless Service and the worker hostnames <name>-<index>",
    pattern=DNS_1035_LABEL,
    grammar=LABEL_1035_GRAMMAR,
)


class EnvVar(KubeModel):
    """An environment variable of every worker."""

    model_config = ConfigDict(json_schema_extra=cel_rules(ENV_NAME_NOT_RESERVED))

    name: StrictStr = Field(
        min_length=1, max_length=128, pattern=ENV_NAME, description="Name of the variable."
    )
    value: StrictStr = Field("", max_length=4096, description="Value of the variable.")

    @model_validator(mode="after")
    def _name_not_reserved(self) -> Self:
        if self.name in RESERVED_ENV_NAMES or self.name.startswith(RESERVED_ENV_PREFIX):
            raise ValueError(f"name: {ENV_NAME_NOT_RESERVED.message}")
        return self


class TrainingJobSpec(NamesContracts):
    """What to run, under which contract, on how many GPUs. Immutable once created."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(SPEC_IS_IMMUTABLE, ONE_WAY_TO_NAME_CONTRACTS)
    )

    purpose: Purpose = Field(
        "model-training",
        description="What the job does with the data: model-training (default), "
        "model-evaluation or analytics. Must match the contract's purpose.",
    )
    datasets: list[ObjectName] | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Datasets of the contract the job reads (unique; default: all of them).",
        json_schema_extra=cel_rules(DATASETS_UNIQUE),
    )
    image: StrictStr = Field(
        min_length=1,
        max_length=512,
        pattern=IMAGE,
        description="Container image with the training code, e.g. registry.local/forecast:1.0.",
    )
    command: list[Argument] | None = Field(
        None,
        max_length=64,
        description="Entrypoint of every worker (default: the image's entrypoint).",
    )
    args: list[Argument] | None = Field(
        None, max_length=128, description="Arguments to the entrypoint (default: the image's)."
    )
    env: list[EnvVar] = Field(
        default_factory=list,
        max_length=64,
        description="Environment of every worker (unique names; default none). The operator "
        "sets the rendezvous variables itself.",
        json_schema_extra=cel_rules(ENV_NAMES_UNIQUE, default=[]),
    )
    workers: StrictInt = Field(
        1, ge=1, le=1024, description="Number of workers (pods), one per index; default 1."
    )
    gpus_per_worker: StrictInt = Field(
        1, ge=1, le=16, description="GPUs (nvidia.com/gpu) each worker requests; default 1."
    )
    output: OutputRequest | None = Field(
        None,
        description="An output volume for the trained model (default none: nothing the job "
        "writes outlives it). After the job it is Quarantined in the clean room, and leaves "
        "only by a ModelRelease the contract's outputs.modelExport allows.",
    )
    max_duration_seconds: StrictInt = Field(
        86400,
        ge=60,
        le=2_592_000,
        description="Wall-clock limit of the job in seconds (60 to 30 days); default 86400. "
        "The contract's validity and budget may stop it earlier.",
    )

    @model_validator(mode="after")
    def _names_unique(self) -> Self:
        if self.datasets is not None and not unique(self.datasets):
            raise ValueError(f"datasets: {DATASETS_UNIQUE.message}")
        if not unique([variable.name for variable in self.env]):
            raise ValueError(f"env: {ENV_NAMES_UNIQUE.message}")
        return self

    @property
    def total_gpus(self) -> int:
        """GPUs the job holds while all workers run."""
        return self.workers * self.gpus_per_worker


class TrainingJobStatus(ObservedStatus):
    """Observed state of a TrainingJob, written by the operator."""

    CONDITIONS_DESCRIPTION = (
        "Conditions such as Admitted; reasons name the contract term that allowed, "
        "denied or stopped the job."
    )

    phase: TrainingJobPhase | None = Field(
        None,
        description="Pending, Queued (waiting for its turn under the contract's "
        "compute.maxConcurrentGpus; the Queued condition says why), Admitted, Running, "
        "Succeeded, Failed, Denied or Stopped; a summary of the conditions.",
    )
    queue_position: StrictInt | None = Field(
        None,
        ge=1,
        description="While Queued: the job's place among its contract's queued jobs, 1 being the "
        "next to be admitted. In the operator's own queue they are admitted in the order they "
        "were created. In Kueue (TDS_KUEUE) it is the job's place in its clean room's LocalQueue "
        "(the contract's jobs only), as Kueue's visibility API gives it, refreshed at least every "
        "10 s; unset while Kueue holds GPUs for the job pending the contract check, or where the "
        "cluster does not serve that API. The Queued condition says why the job waits.",
    )
    reason: StrictStr | None = Field(
        None,
        description="Why the job is in its phase, in one word: the reason of the condition that "
        "decided it (the term that denied or stopped it, why it waits, how it ended).",
    )
    gpu_seconds: StrictInt | None = Field(
        None, ge=0, description="GPU-seconds metered from worker start to stop."
    )
    gpu_hours: float | None = Field(
        None, ge=0, description="gpuSeconds in GPU-hours, rounded to 2 decimals (for display)."
    )
    start_time: Timestamp | None = Field(None, description="When the first worker started.")
    completion_time: Timestamp | None = Field(None, description="When the job finished.")
    job: StrictStr | None = Field(None, description="Name of the batch Job in the clean room.")
    clean_room: StrictStr | None = Field(
        None, description="Namespace of the clean room the job runs in."
    )
    output: OutputStatus | None = Field(None, description="The job's output volume.")
    contracts: list[JobContractStatus] | None = Field(
        None,
        description="A joint job's contracts, in the order it names them, each with its phase "
        "as last read; unset for a job of one contract.",
    )


class TrainingJob(CustomResource):
    """A distributed training run in the contract's clean room, next to the provider's data."""

    NAME_MAX_LENGTH = MAX_NAME_LENGTH
    NAME_PATTERN = DNS_1035_LABEL
    NAME_RULE = JOB_NAME
    PRINTER_COLUMNS = (
        PrinterColumn("Contract", ".spec.contract", "string", "The contract the job runs under."),
        PrinterColumn("Workers", ".spec.workers", "integer", "Number of workers."),
        PrinterColumn("GPUs/Worker", ".spec.gpusPerWorker", "integer", "GPUs per worker."),
        PrinterColumn("Phase", ".status.phase", "string", "Summary of the job's conditions."),
        PrinterColumn("Reason", ".status.reason", "string", "Why the job is in its phase."),
        PrinterColumn("GPU-Hours", ".status.gpuHours", "number", "GPU-hours used, rounded."),
        PrinterColumn(
            "Position", ".status.queuePosition", "integer", "Place in the contract's queue."
        ),
        PrinterColumn("Output", ".status.output.state", "string", "Where the job's output is."),
        AGE_COLUMN,
    )
    SELECTABLE_FIELDS = (".spec.contract",)

    kind: Literal["TrainingJob"] = "TrainingJob"
    spec: TrainingJobSpec = Field(description="What to run and under which contract.")
    status: TrainingJobStatus | None = Field(None, description="Observed state.")


# Condition types of a TrainingJob, and the reasons the operator reports on them.
ADMITTED: Final = "Admitted"
"""Whether the contract admitted the job; False names the term that denied it."""
FINISHED: Final = "Finished"
"""Present once the job has ended: True if it succeeded, else the reason it stopped or failed."""
ENDED: Final = "Ended"
"""True once the job has ended, however (Succeeded, Failed, Denied, Stopped): what `kubectl wait
--for=condition=Ended` waits for; its reason says why it ended."""
CLEAN_ROOM_READY: Final = "CleanRoomReady"
"""Whether the job's clean room is sealed, so its workers may start; False says what is missing."""
QUEUED: Final = "Queued"
"""True while the job waits for its turn, with why and its place; False once it left the queue."""
CONTRACT_CONCURRENCY: Final = "ContractConcurrency"
ORGANISATION_QUOTA: Final = "OrganisationQuota"
"""With Kueue: the consumer organisation's guaranteed GPUs are taken and none are idle to borrow."""
HUB_CAPACITY: Final = "HubCapacity"
"""With Kueue: the organisation has quota left, but the hub's GPUs are in use (lent to others)."""
ADMITTED_REASON: Final = "Admitted"
CLEAN_ROOM_SEALED: Final = "CleanRoomSealed"
CLEAN_ROOM_NOT_READY: Final = "CleanRoomNotReady"
RUNNING_REASON: Final = "Running"
COMPLETED: Final = "Completed"
JOB_FAILED: Final = "JobFailed"
JOB_LOST: Final = "JobLost"
DELETED: Final = "Deleted"
CONTRACT_DELETED: Final = "ContractDeleted"
REVOKED: Final = "Revoked"
HOLDING_PHASES: Final = frozenset({"Admitted", "Running"})
"""Phases of a job that hold (or will hold) GPUs of its contract."""
FINISHED_PHASES: Final = frozenset({"Succeeded", "Failed", "Denied", "Stopped"})
"""Phases a job never leaves."""


def of_contract(contract: str) -> str:
    """The field selector of a contract's TrainingJobs (`spec.contract` is a selectable field):
    the API server then sends only those, not the hub's every job."""
    return f"spec.contract={contract}"
