"""DataContract: the terms under which one participant's datasets may be used by another."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Final, Literal, Self

from pydantic import (
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from tds_operator.api.common import (
    SHA256_DIGEST,
    CelRule,
    Conditions,
    KubeModel,
    ObjectMeta,
    ObjectName,
    ObservedGeneration,
    Port,
    SpaceName,
    Timestamp,
    cel_rules,
    name_follows_rule,
    object_name_rule,
    unique,
    unique_values_rule,
)

Purpose = Literal["model-training", "model-evaluation", "analytics"]
"""What the consumer may do with the data."""

ModelExport = Literal["allowed", "review", "denied"]
"""Whether trained models may leave the clean room."""

ContractPhase = Literal["Proposed", "Active", "Suspended", "Expired", "Revoked", "Exhausted"]
"""One-word summary of the contract's conditions."""

Party = Literal["provider", "consumer"]
"""A side of a contract."""

# The prefix length is written without leading zeros: Go's netip rejects "/08", Python does not.
CIDR = r"^[0-9a-fA-F:.]+/(0|[1-9][0-9]?|1[01][0-9]|12[0-8])$"

PROVIDER_DATASETS_UNIQUE = unique_values_rule("dataset names")
PORTS_UNIQUE = unique_values_rule("ports")
IS_CIDR = CelRule(
    rule="isCIDR(self)",
    message="must be an IPv4 or IPv6 CIDR such as 10.20.0.0/16",
)
WINDOW_IS_POSITIVE = CelRule(
    rule="!has(self.notBefore) || self.notAfter > self.notBefore",
    message="notAfter must be after notBefore",
    field_path=".notAfter",
)
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
        " && (!has(self.maxJobs) || self.maxJobs == oldSelf.maxJobs))"
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


class ProviderTerms(KubeModel):
    """The providing side: its space and the datasets it shares."""

    space: SpaceName = Field(description="Name of the provider's DataSpace.")
    datasets: list[ObjectName] = Field(
        min_length=1,
        max_length=64,
        description="Names of the provider's datasets covered by the contract (unique).",
        json_schema_extra=cel_rules(PROVIDER_DATASETS_UNIQUE),
    )

    @model_validator(mode="after")
    def _datasets_unique(self) -> Self:
        if not unique(self.datasets):
            raise ValueError(f"datasets: {PROVIDER_DATASETS_UNIQUE.message}")
        return self


class ConsumerTerms(KubeModel):
    """The consuming side: the space whose training jobs may use the data."""

    space: SpaceName = Field(description="Name of the consumer's DataSpace.")


class ValidityWindow(KubeModel):
    """When the contract may be used."""

    model_config = ConfigDict(json_schema_extra=cel_rules(WINDOW_IS_POSITIVE))

    not_before: Timestamp | None = Field(
        None,
        description="Start of validity, RFC 3339 (default: as soon as both parties consent).",
    )
    not_after: Timestamp = Field(
        description="End of validity, RFC 3339: running jobs are stopped at this instant.",
    )

    @model_validator(mode="after")
    def _window_is_positive(self) -> Self:
        if self.not_before is not None and self.not_after <= self.not_before:
            raise ValueError(WINDOW_IS_POSITIVE.message)
        return self


class ComputeBudget(KubeModel):
    """GPU budget of the contract, metered from pod start to stop."""

    max_gpu_hours: StrictFloat = Field(
        gt=0,
        le=10_000_000,
        allow_inf_nan=False,
        description="Total GPU-hours all jobs of the contract may use (fractions allowed, "
        "e.g. 0.5); the contract is Exhausted when they are used up.",
    )
    max_concurrent_gpus: StrictInt = Field(
        ge=1,
        le=100_000,
        description="GPUs the contract's jobs may hold at the same time (workers x gpusPerWorker).",
    )


class EgressRule(KubeModel):
    """An extra destination that clean-room jobs may reach (e.g. an internal package mirror)."""

    cidr: StrictStr = Field(
        max_length=43,
        pattern=CIDR,
        description="Destination network as a CIDR, e.g. 10.20.0.0/16.",
        json_schema_extra=cel_rules(IS_CIDR),
    )
    ports: list[Port] = Field(
        min_length=1,
        max_length=16,
        description="TCP ports allowed to that network (unique).",
        json_schema_extra=cel_rules(PORTS_UNIQUE),
    )
    description: StrictStr | None = Field(
        None, max_length=256, description="Why the destination is needed."
    )

    @model_validator(mode="after")
    def _valid_destination(self) -> Self:
        if not is_cidr(self.cidr):
            raise ValueError(f"cidr: {IS_CIDR.message}")
        if not unique([str(port) for port in self.ports]):
            raise ValueError(f"ports: {PORTS_UNIQUE.message}")
        return self


class OutputTerms(KubeModel):
    """What may leave the clean room."""

    model_export: ModelExport = Field(
        "review",
        description=(
            "Whether trained models may be exported: allowed, review (held until the provider "
            "releases them) or denied. Default review: nothing derived from the provider's data "
            "leaves without the provider's say, yet the contract still yields a model."
        ),
    )


class PartyConsent(KubeModel):
    """One party's consent; only that party's owners may set it (checked at admission)."""

    approved: StrictBool = Field(False, description="Whether the party agrees to the terms.")


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


def is_cidr(value: str) -> bool:
    """Whether a string is a CIDR as the API server's CEL `isCIDR` reads it."""
    if re.fullmatch(CIDR, value) is None:
        return False
    try:
        interface = ipaddress.ip_interface(value)
    except ValueError:
        return False
    # Kubernetes refuses IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) as ambiguous.
    return not (isinstance(interface, ipaddress.IPv6Interface) and interface.ip.ipv4_mapped)


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


class ContractUsage(KubeModel):
    """What the contract's jobs have used so far."""

    gpu_hours: float = Field(0.0, ge=0, description="GPU-hours used by all jobs so far.")
    jobs: StrictInt = Field(0, ge=0, description="Training jobs admitted so far.")


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


class DataContractStatus(KubeModel):
    """Observed state of a DataContract, written by the operator."""

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
    conditions: Conditions = Field(
        default_factory=list,
        description="Conditions such as Active, each with reason and observedGeneration.",
    )
    observed_generation: ObservedGeneration = Field(
        None, description="The metadata.generation this status was computed from."
    )
    active_since: Timestamp | None = Field(None, description="When the contract became Active.")
    expires_at: Timestamp | None = Field(None, description="When the contract expires.")


class DataContract(KubeModel):
    """A contract between a provider and a consumer space, enforced while jobs run."""

    model_config = ConfigDict(json_schema_extra=cel_rules(CONTRACT_NAME))

    api_version: Literal["tds.io/v1alpha1"] = Field("tds.io/v1alpha1", description="API version.")
    kind: Literal["DataContract"] = Field("DataContract", description="Kind of the object.")
    metadata: ObjectMeta = Field(description="Standard object metadata.")
    spec: DataContractSpec = Field(description="Terms, consent and revocation.")
    status: DataContractStatus | None = Field(None, description="Observed state.")

    @model_validator(mode="after")
    def _name_is_label(self) -> Self:
        if not name_follows_rule(self.metadata.name, 63):
            raise ValueError(CONTRACT_NAME.message)
        return self


# Condition types of a DataContract, and the reasons the operator reports on them.
ACTIVE: Final = "Active"
"""True while jobs may run under the contract; its reason is the phase's."""
TERMS_VALID: Final = "TermsValid"
"""Whether the terms fit both parties' spaces and the hub rules."""
CLEAN_ROOM_READY: Final = "CleanRoomReady"
"""Whether the clean room is open (only while Active)."""
AUDIT_LEDGER_INTACT: Final = "AuditLedgerIntact"
"""Whether the audit ledger verifies; nothing more is recorded in a broken one."""
CONSENT_UNSIGNED: Final = "ConsentUnsigned"
CONTRACT_NOT_ACTIVE: Final = "ContractNotActive"
CLEAN_ROOM_OPEN: Final = "CleanRoomOpen"
CLEAN_ROOM_REJECTED: Final = "CleanRoomRejected"
LEDGER_VERIFIED: Final = "Verified"
ENDED_PHASES: Final = frozenset({"Suspended", "Expired", "Revoked", "Exhausted"})
"""Phases whose arrival is reported as a Warning: jobs stop, none may start."""
