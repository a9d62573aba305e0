"""DataContract: the terms under which one participant's datasets may be used by another.

The terms themselves are in `terms.py`; this module holds consent, status and the root.
"""

from __future__ import annotations

from typing import Any, Final, Literal, Self

from pydantic import ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from tds_operator.api.common import (
    AGE_COLUMN,
    CustomResource,
    KubeModel,
    ObservedStatus,
    PrinterColumn,
    Timestamp,
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
from tds_operator.api.usage import ContractUsage as ContractUsage
from tds_operator.api.validation import (
    SHA256_DIGEST,
    CelRule,
    cel_rules,
    object_name_rule,
)

Purpose = Literal["model-training", "model-evaluation", "analytics"]
"""What the consumer may do with the data."""

ContractPhase = Literal["Proposed", "Active", "Suspended", "Expired", "Revoked", "Exhausted"]
"""One-word summary of the contract's conditions."""

Party = Literal["provider", "consumer"]
"""A side of a contract."""

PARTIES_DIFFER = CelRule(
    rule="self.provider.space != self.consumer.space",
    message="consumer.space must differ from provider.space: a space cannot contract with itself",
    field_path=".consumer.space",
)
TERMS_FROZEN_AFTER_CONSENT = CelRule(
    rule=(
        "(!oldSelf.consent.provider.approved && !oldSelf.consent.consumer.approved) || ("
        "self.provider == oldSelf.provider && self.consumer == oldSelf.consumer"
        " && self.purpose == oldSelf.purpose && self.validity == oldSelf.validity"
        " && self.compute == oldSelf.compute && self.egress == oldSelf.egress"
        " && self.outputs == oldSelf.outputs && has(self.maxJobs) == has(oldSelf.maxJobs)"
        " && (!has(self.maxJobs) || self.maxJobs == oldSelf.maxJobs)"
        " && has(self.jointTraining) == has(oldSelf.jointTraining)"
        " && (!has(self.jointTraining) || self.jointTraining == oldSelf.jointTraining))"
    ),
    message=(
        "contract terms are immutable once either party has consented: only consent and "
        "revoked may change; create a new DataContract for new terms"
    ),
    reason="FieldValueForbidden",
)
REVOCATION_IS_FINAL = CelRule(
    rule="!oldSelf || self",
    message="revoked cannot be set back to false: revocation is final",
    reason="FieldValueForbidden",
)
CONTRACT_NAME = object_name_rule(
    "DataContract", 63, "the name is used as a label value on everything the contract creates"
)


class ConsentSignature(KubeModel):
    """A detached signature of the consent, made with a key an owner of the party registered."""

    key_id: StrictStr = Field(
        min_length=1,
        max_length=63,
        description="The id of the key in the party's DataSpace spec.signingKeys.",
    )
    value: StrictStr = Field(
        min_length=1,
        max_length=256,
        pattern=r"^[A-Za-z0-9+/]+=*$",
        description=(
            "Base64 of the signature over the consent message: the contract's name, the party and "
            "the digest of the terms (`kubectl tds consent --key` makes it)."
        ),
    )


class PartyConsent(KubeModel):
    """One party's consent; only that party's owners may set it (checked at admission)."""

    approved: StrictBool = Field(False, description="Whether the party agrees to the terms.")
    signature: ConsentSignature | None = Field(
        None,
        description=(
            "The consent signed with the party's own key (required when the hub requires "
            "signed consent)."
        ),
    )


class Consent(KubeModel):
    """Both parties' consent; the contract is Active only while both have approved."""

    provider: PartyConsent = Field(
        default_factory=PartyConsent,
        description="Consent of the provider's owners (default not approved).",
        json_schema_extra={"default": {}},
    )
    consumer: PartyConsent = Field(
        default_factory=PartyConsent,
        description="Consent of the consumer's owners (default not approved).",
        json_schema_extra={"default": {}},
    )


class DataContractSpec(KubeModel):
    """The terms of a contract, the parties' consent and revocation."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(PARTIES_DIFFER, TERMS_FROZEN_AFTER_CONSENT),
    )

    provider: ProviderTerms = Field(description="The providing space and the datasets it shares.")
    consumer: ConsumerTerms = Field(description="The consuming space.")
    purpose: Purpose = Field(
        "model-training",
        description="What the data may be used for: model-training (default), "
        "model-evaluation or analytics. Training jobs must declare the same purpose.",
    )
    validity: ValidityWindow = Field(description="When the contract may be used.")
    compute: ComputeBudget = Field(description="GPU budget and concurrency limit.")
    max_jobs: StrictInt | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description="Maximum number of training jobs over the contract's life (default unlimited).",
    )
    egress: list[EgressRule] = Field(
        default_factory=list,
        max_length=16,
        description="Extra destinations clean-room jobs may reach (default none: only the "
        "contract's datasets).",
        json_schema_extra={"default": []},
    )
    outputs: OutputTerms = Field(
        default_factory=OutputTerms,
        description="What may leave the clean room.",
        json_schema_extra={"default": {}},
    )
    joint_training: JointTraining | None = Field(
        None,
        description="Whether jobs may train on this contract's datasets together with other "
        "providers' data, and with whose (default: not allowed). Part of the consented terms.",
    )
    consent: Consent = Field(
        default_factory=Consent,
        description="Each party's consent. Terms are immutable once either party has consented.",
        json_schema_extra={"default": {}},
    )
    revoked: StrictBool = Field(
        False,
        description="Set to true by either party to end the contract at once; irreversible.",
        json_schema_extra=cel_rules(REVOCATION_IS_FINAL),
    )

    @model_validator(mode="after")
    def _parties_differ(self) -> Self:
        if self.provider.space == self.consumer.space:
            raise ValueError(PARTIES_DIFFER.message)
        return self

    def contract_terms(self) -> dict[str, Any]:
        """The terms the parties consent to: everything but consent and revocation."""
        return self.model_dump(mode="json", exclude={"consent", "revoked"}, exclude_none=True)

    def has_any_consent(self) -> bool:
        """Whether either party has consented (from then on the terms are frozen)."""
        return self.consent.provider.approved or self.consent.consumer.approved


class Signature(KubeModel):
    """A consent stamped by the operator: who consented, when, to which terms."""

    party: Party = Field(description="provider or consumer.")
    user: StrictStr = Field(max_length=256, description="The user who set the consent.")
    groups: list[StrictStr] = Field(
        default_factory=list, max_length=64, description="Groups of that user at the time."
    )
    at: Timestamp = Field(description="When the consent was given.")
    spec_digest: StrictStr = Field(
        pattern=SHA256_DIGEST, description="sha256 digest of the contract terms consented to."
    )


class AuditHead(KubeModel):
    """The tip of the contract's hash-chained audit ledger."""

    head: StrictStr | None = Field(
        None, pattern=SHA256_DIGEST, description="Hash of the newest ledger entry."
    )
    entries: StrictInt = Field(0, ge=0, description="Number of entries in the ledger.")


class DataContractStatus(ObservedStatus):
    """Observed state of a DataContract, written by the operator."""

    CONDITIONS_DESCRIPTION = "Conditions such as Active, each with reason and observedGeneration."
    OBSERVED_BEFORE = "active_since"

    phase: ContractPhase | None = Field(
        None,
        description="Proposed, Active, Suspended, Expired, Revoked or Exhausted; "
        "a summary of the conditions.",
    )
    usage: ContractUsage | None = Field(None, description="Usage metered so far.")
    signatures: list[Signature] = Field(
        default_factory=list, max_length=16, description="Consents stamped so far, oldest first."
    )
    audit: AuditHead | None = Field(None, description="Tip of the audit ledger.")
    active_since: Timestamp | None = Field(None, description="When the contract became Active.")
    expires_at: Timestamp | None = Field(None, description="When the contract expires.")


TERMS_COLUMNS: Final = (
    PrinterColumn("Phase", ".status.phase", "string", "Summary of the contract's conditions."),
    PrinterColumn(
        "GPU-Hours", ".status.usage.gpuHoursRounded", "number", "GPU-hours used, rounded."
    ),
    PrinterColumn(
        "Budget", ".spec.compute.maxGpuHours", "number", "GPU-hours the contract allows."
    ),
    # A string, not a date: kubectl prints future dates as <invalid>.
    PrinterColumn("Expires", ".spec.validity.notAfter", "string", "End of the validity window."),
    AGE_COLUMN,
)
"""The columns a contract and each party's copy of it print after their own."""


class DataContract(CustomResource):
    """A contract between a provider and a consumer space, enforced while jobs run."""

    NAME_MAX_LENGTH = 63
    NAME_RULE = CONTRACT_NAME
    PRINTER_COLUMNS = (
        PrinterColumn("Provider", ".spec.provider.space", "string", "The providing space."),
        PrinterColumn("Consumer", ".spec.consumer.space", "string", "The consuming space."),
        *TERMS_COLUMNS,
    )
    SELECTABLE_FIELDS = (".spec.provider.space", ".spec.consumer.space")

    kind: Literal["DataContract"] = "DataContract"
    spec: DataContractSpec = Field(description="Terms, consent and revocation.")
    status: DataContractStatus | None = Field(None, description="Observed state.")


# Condition types of a DataContract, and the reasons the operator reports on them.
ACTIVE: Final = "Active"
"""True while jobs may run under the contract; its reason is the phase's."""
TERMS_VALID: Final = "TermsValid"
"""Whether the terms fit both parties' spaces and the hub rules."""
CLEAN_ROOM_READY: Final = "CleanRoomReady"
"""Whether the clean room is open (only while Active)."""
DATASETS_REACHABLE: Final = "DatasetsReachable"
"""While Active: whether each dataset's Service or claim is there (policy/datasets.py)."""
AUDIT_LEDGER_INTACT: Final = "AuditLedgerIntact"
"""Whether the audit ledger verifies; nothing more is recorded in a broken one."""
CONSENT_UNSIGNED: Final = "ConsentUnsigned"
CONTRACT_NOT_ACTIVE: Final = "ContractNotActive"
GPU_BUDGET_EXHAUSTED: Final = "GpuBudgetExhausted"
CLEAN_ROOM_OPEN: Final = "CleanRoomOpen"
CLEAN_ROOM_REJECTED: Final = "CleanRoomRejected"
CLEAN_ROOM_CLOSING: Final = "CleanRoomClosing"
"""Active again while the clean room of an earlier Active period is still being removed: it
reopens, with its grant, as soon as the old one is gone."""
CLEAN_ROOM_NAME_TAKEN: Final = "CleanRoomNameTaken"
"""The clean room's namespace, or its provider-side policy, exists but was not made for this
contract (another contract's, or a space's): the operator neither uses nor removes it."""
LEDGER_VERIFIED: Final = "Verified"
ENDED_PHASES: Final = frozenset({"Suspended", "Expired", "Revoked", "Exhausted"})
"""Phases whose arrival is reported as a Warning: jobs stop, none may start."""
