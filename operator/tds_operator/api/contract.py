"""Contract: a party's own copy of one DataContract, in the party's space namespace.

The cluster-scoped DataContract stays the hub's; RBAC cannot filter a list of it, so nobody but
the hub's staff lists DataContracts. The operator keeps one Contract of the same name in the
namespace of each of the two parties, and nowhere else: an owner or member lists and watches the
contracts of their space with `kubectl get contracts -n tds-<space>` and sees nothing of any
other pair. The operator writes it whole (terms, phase, usage, conditions); parties only read it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr

from tds_operator.api.common import (
    Conditions,
    CustomResource,
    KubeModel,
    PrinterColumn,
    SpaceName,
    Timestamp,
)
from tds_operator.api.datacontract import (
    TERMS_COLUMNS,
    ContractPhase,
    ContractUsage,
    Party,
    Purpose,
)
from tds_operator.api.terms import (
    ComputeBudget,
    ConsumerTerms,
    EgressRule,
    JointTraining,
    OutputTerms,
    ProviderTerms,
    ValidityWindow,
)
from tds_operator.api.validation import object_name_rule


class ConsentGiven(KubeModel):
    """Which party has consented to the terms."""

    provider: StrictBool = Field(False, description="Whether the provider's owners consented.")
    consumer: StrictBool = Field(False, description="Whether the consumer's owners consented.")


class ContractSpec(KubeModel):
    """The DataContract's terms as they stand, and which side of it this namespace's space is."""

    contract: StrictStr = Field(
        max_length=63, description="Name of the DataContract this is a copy of (the same name)."
    )
    side: Party = Field(description="The side this namespace's space takes: provider or consumer.")
    counterparty: SpaceName = Field(description="The space on the other side.")
    provider: ProviderTerms = Field(description="The providing space and the datasets it shares.")
    consumer: ConsumerTerms = Field(description="The consuming space.")
    purpose: Purpose = Field(description="What the data may be used for.")
    validity: ValidityWindow = Field(description="When the contract may be used.")
    compute: ComputeBudget = Field(description="GPU budget and concurrency limit.")
    max_jobs: StrictInt | None = Field(
        None, description="Maximum number of training jobs over the contract's life (if any)."
    )
    egress: list[EgressRule] = Field(
        default_factory=list,
        max_length=16,
        description="Extra destinations clean-room jobs may reach.",
    )
    outputs: OutputTerms = Field(description="What may leave the clean room.")
    joint_training: JointTraining | None = Field(
        None,
        description="Whether, and with whose, the provider's data may be trained together with "
        "other providers' data (absent: not allowed).",
    )
    consent: ConsentGiven = Field(description="Which party has consented.")
    revoked: StrictBool = Field(False, description="Whether either party has revoked it.")


class ContractStatus(KubeModel):
    """The DataContract's state, as its reconcile last reported it."""

    phase: ContractPhase | None = Field(None, description="Summary of the contract's conditions.")
    usage: ContractUsage | None = Field(None, description="Usage metered so far.")
    active_since: Timestamp | None = Field(None, description="When the contract became Active.")
    expires_at: Timestamp | None = Field(None, description="When the contract expires.")
    conditions: Conditions = Field(
        default_factory=list, description="The DataContract's conditions, one per type."
    )


class Contract(CustomResource):
    """A party's read-only copy of one DataContract, kept by the operator."""

    NAME_MAX_LENGTH = 63
    NAME_RULE = object_name_rule("Contract", 63, "it is the name of the DataContract it copies")
    STATUS_SUBRESOURCE = False
    PRINTER_COLUMNS = (
        PrinterColumn("Side", ".spec.side", "string", "The side this space takes."),
        PrinterColumn("Counterparty", ".spec.counterparty", "string", "The other side's space."),
        *TERMS_COLUMNS,
    )

    kind: Literal["Contract"] = "Contract"
    spec: ContractSpec = Field(description="The contract's terms and this space's side of it.")
    status: ContractStatus | None = Field(None, description="The contract's state.")
