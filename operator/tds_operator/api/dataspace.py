"""DataSpace: one participant's isolated space on the hub and the datasets it offers."""

from __future__ import annotations

from typing import Final, Literal, Self

from pydantic import ConfigDict, Field, StrictInt, StrictStr, model_validator

# The plugin finds a space's namespace by the same rule.
from kubectl_tds.pages import space_namespace as space_namespace
from tds_operator.api.common import (
    AGE_COLUMN,
    CustomResource,
    KubeModel,
    ObjectName,
    ObservedStatus,
    Port,
    PrinterColumn,
    Quantity,
)
from tds_operator.api.subject import Subject
from tds_operator.api.validation import (
    DNS_1035_LABEL,
    DNS_SUBDOMAIN,
    CelRule,
    cel_rules,
    object_name_rule,
    unique,
    unique_values_rule,
)

Classification = Literal["general", "important", "core"]
"""How sensitive a dataset is; `core` data is never shareable."""

SUB_PATH = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$"

SOURCE_IS_ONE_OF = CelRule(
    rule="has(self.service) != has(self.volume)",
    message="exactly one of service or volume must be set",
)
DATASET_NAMES_UNIQUE = unique_values_rule("dataset names", key="name")
SPACE_NAME = object_name_rule(
    "DataSpace", 59, "the space's namespace is tds-<name>, which must be a DNS label"
)
RESERVED_SPACE_PREFIX: Final = "cr-"
"""Clean rooms are namespaces tds-cr-<contract>: no space's tds-<name> may look like one."""
RESERVED_SPACE_NAMES: Final = ("system",)
"""tds-system is where the operator installs by default and keeps the audit ledgers."""
SPACE_NAME_NOT_RESERVED = CelRule(
    rule=(
        f"!self.metadata.name.startsWith('{RESERVED_SPACE_PREFIX}')"
        f" && !(self.metadata.name in {list(RESERVED_SPACE_NAMES)})"
    ),
    message=(
        f"metadata.name of a DataSpace may not start with {RESERVED_SPACE_PREFIX} (clean rooms "
        "are namespaces tds-cr-<contract>) nor be "
        + " or ".join(RESERVED_SPACE_NAMES)
        + " (the operator's namespace tds-system): choose another name"
    ),
    field_path=".metadata.name",
)


class ServiceSource(KubeModel):
    """A dataset served over the network by a Service in the space's namespace."""

    name: StrictStr = Field(
        min_length=1,
        max_length=63,
        pattern=DNS_1035_LABEL,
        description="Name of the Service in the space's namespace that serves the dataset.",
    )
    port: Port = Field(description="Port of the Service that clean-room jobs may connect to.")


class VolumeSource(KubeModel):
    """A dataset stored on a PersistentVolumeClaim in the space's namespace, mounted read-only."""

    claim_name: StrictStr = Field(
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
        description="Name of the PersistentVolumeClaim in the space's namespace.",
    )
    sub_path: StrictStr | None = Field(
        None,
        max_length=1024,
        pattern=SUB_PATH,
        description=(
            "Relative path inside the volume that holds the dataset (default: the whole volume); "
            "no segment may start with '.'."
        ),
    )


class DatasetSource(KubeModel):
    """Where a dataset is served from: exactly one of service or volume."""

    model_config = ConfigDict(json_schema_extra=cel_rules(SOURCE_IS_ONE_OF))

    service: ServiceSource | None = Field(
        None, description="The dataset is served by a Service (e.g. a data gateway)."
    )
    volume: VolumeSource | None = Field(
        None, description="The dataset is a PersistentVolumeClaim, mounted read-only."
    )

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Self:
        if (self.service is None) == (self.volume is None):
            raise ValueError(SOURCE_IS_ONE_OF.message)
        return self


class Dataset(KubeModel):
    """A dataset the participant offers for contracts."""

    name: ObjectName = Field(
        description="Name of the dataset, unique in the space; contracts refer to it by this name.",
    )
    classification: Classification = Field(
        description=(
            "Sensitivity under the data classification rules: general, important or core. "
            "Core data is never shareable. There is deliberately no default."
        ),
    )
    description: StrictStr | None = Field(
        None, max_length=1024, description="What the dataset contains, for the other party."
    )
    source: DatasetSource = Field(description="Where clean-room jobs read the dataset from.")


class SpaceQuota(KubeModel):
    """Compute the space's own namespace may use (clean rooms are metered by contract instead)."""

    cpu: Quantity = Field(
        description="CPU request and limit quota, a quantity such as 256 or 500m."
    )
    memory: Quantity = Field(description="Memory request and limit quota, a quantity such as 1Ti.")
    gpu: StrictInt = Field(
        0, ge=0, le=100000, description="Number of GPUs (nvidia.com/gpu requests); default 0."
    )
    pods: StrictInt = Field(
        100, ge=1, le=100000, description="Maximum number of pods in the namespace; default 100."
    )


SIGNING_KEY_IDS_UNIQUE = unique_values_rule("signing key ids", key="id")
PEM_PUBLIC_KEY = r"^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n?$"


class SigningKey(KubeModel):
    """A public key with which one of the space's owners signs consents on its behalf."""

    id: StrictStr = Field(
        pattern=DNS_1035_LABEL,
        max_length=63,
        description="The key's name within the space, as a consent's signature names it.",
    )
    public_key: StrictStr = Field(
        pattern=PEM_PUBLIC_KEY,
        max_length=1024,
        description="The public key, PEM (SubjectPublicKeyInfo): Ed25519 or ECDSA P-256.",
    )
    added_by: StrictStr = Field(
        min_length=1,
        max_length=256,
        description=(
            "The owner who registered the key: the admission webhook accepts a new key only from "
            "an owner of the space, and only under that owner's own user name."
        ),
    )


class DataSpaceSpec(KubeModel):
    """Desired state of a DataSpace: who the participant is, who speaks for it, what it offers."""

    organization: StrictStr = Field(
        min_length=1, max_length=256, description="Legal name of the participating organisation."
    )
    owners: list[Subject] = Field(
        min_length=1,
        max_length=32,
        description=(
            "Users and groups that speak for the participant: they administer the space and "
            "consent to or revoke contracts on its behalf."
        ),
    )
    members: list[Subject] = Field(
        default_factory=list,
        max_length=256,
        description="Users and groups with read-only access inside the space (default none).",
        json_schema_extra={"default": []},
    )
    quota: SpaceQuota = Field(description="Resource quota of the space's namespace.")
    datasets: list[Dataset] = Field(
        default_factory=list,
        max_length=64,
        description="Datasets the participant offers; names must be unique (default none).",
        json_schema_extra=cel_rules(DATASET_NAMES_UNIQUE, default=[]),
    )
    signing_keys: list[SigningKey] = Field(
        default_factory=list,
        max_length=16,
        description=(
            "Public keys of the space's owners, for consents signed with their own keys "
            "(`kubectl tds keys add`); only an owner of the space adds or removes them "
            "(default none)."
        ),
        json_schema_extra=cel_rules(SIGNING_KEY_IDS_UNIQUE, default=[]),
    )

    @model_validator(mode="after")
    def _dataset_names_unique(self) -> Self:
        if not unique([dataset.name for dataset in self.datasets]):
            raise ValueError(f"datasets: {DATASET_NAMES_UNIQUE.message}")
        if not unique([key.id for key in self.signing_keys]):
            raise ValueError(f"signingKeys: {SIGNING_KEY_IDS_UNIQUE.message}")
        return self

    def signing_key(self, id: str) -> SigningKey | None:
        """The registered key of that id, if any."""
        return next((key for key in self.signing_keys if key.id == id), None)

    def dataset(self, name: str) -> Dataset | None:
        """The dataset of that name, if the space offers it."""
        return next((dataset for dataset in self.datasets if dataset.name == name), None)


class DataSpaceStatus(ObservedStatus):
    """Observed state of a DataSpace, written by the operator."""

    CONDITIONS_DESCRIPTION = "Ready and the conditions it is made of, each with observedGeneration."

    namespace: StrictStr | None = Field(None, description="The space's namespace, tds-<name>.")
    datasets: StrictInt | None = Field(
        None, ge=0, description="Number of datasets the space currently offers."
    )


class DataSpace(CustomResource):
    """A participant of the hub: an isolated namespace with quota, RBAC and its datasets."""

    NAME_MAX_LENGTH = 59
    NAME_RULE = SPACE_NAME
    RESERVED_NAME_RULE = SPACE_NAME_NOT_RESERVED
    PRINTER_COLUMNS = (
        PrinterColumn(
            "Organization", ".spec.organization", "string", "The participating organisation."
        ),
        PrinterColumn("Namespace", ".status.namespace", "string", "The space's namespace."),
        PrinterColumn(
            "Ready",
            '.status.conditions[?(@.type=="Ready")].status',
            "string",
            "Whether the space is fully provisioned.",
        ),
        AGE_COLUMN,
    )

    kind: Literal["DataSpace"] = "DataSpace"
    spec: DataSpaceSpec = Field(description="Desired state of the space.")
    status: DataSpaceStatus | None = Field(None, description="Observed state of the space.")

    @classmethod
    def name_is_reserved(cls, name: str) -> bool:
        """Names starting `cr-`, and `system`, belong to the operator's own namespaces."""
        return name.startswith(RESERVED_SPACE_PREFIX) or name in RESERVED_SPACE_NAMES

    @property
    def namespace_name(self) -> str:
        """The namespace that holds the space: `tds-<name>`."""
        return space_namespace(self.metadata.name or "")


# Condition types of a DataSpace, and the reasons the operator reports on them.
READY: Final = "Ready"
"""True once the namespace and everything in it match the spec."""
TERMINATING: Final = "Terminating"
"""Present while a deleted space waits (for its contracts to end, for its namespace to go)."""
PROVISIONED: Final = "Provisioned"
CHILD_REJECTED: Final = "ChildRejected"
DELETING_NAMESPACE: Final = "DeletingNamespace"
# Reasons of the Events posted when a Ready space changes.
UPDATED: Final = "Updated"
DRIFT_REPAIRED: Final = "DriftRepaired"
