"""The terms of a DataContract: who shares what, when, with how much compute, and what may leave."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal, Self

from pydantic import (
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from tds_operator.api.common import KubeModel, ObjectName, Port, SpaceName, Timestamp
from tds_operator.api.validation import CelRule, cel_rules, unique, unique_values_rule

ModelExport = Literal["allowed", "review", "denied"]
"""Whether trained models may leave the clean room."""

# The prefix length is written without leading zeros: Go's netip rejects "/08", Python does not.
CIDR = r"^[0-9a-fA-F:.]+/(0|[1-9][0-9]?|1[01][0-9]|12[0-8])$"

PROVIDER_DATASETS_UNIQUE = unique_values_rule("dataset names")
PORTS_UNIQUE = unique_values_rule("ports")
JOINT_SPACES_UNIQUE = unique_values_rule("spaces")
MAX_JOINT_PARTNERS = 16
IS_CIDR = CelRule(
    rule="isCIDR(self)",
    message="must be an IPv4 or IPv6 CIDR such as 10.20.0.0/16",
)
WINDOW_IS_POSITIVE = CelRule(
    rule="!has(self.notBefore) || self.notAfter > self.notBefore",
    message="notAfter must be after notBefore",
    field_path=".notAfter",
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


class JointTraining(KubeModel):
    """Whether the provider's data may be trained together with other providers' data in one
    job (a TrainingJob naming several contracts), and with whose."""

    allowed: StrictBool = Field(
        False,
        description="Whether a job may combine this contract with other contracts of the same "
        "consumer (default false: the provider's data is trained on alone).",
    )
    with_: list[SpaceName] | None = Field(
        None,
        alias="with",
        max_length=MAX_JOINT_PARTNERS,
        description="The only provider spaces whose contracts a joint job may combine with this "
        "one (unique; absent or empty: any provider).",
        json_schema_extra=cel_rules(JOINT_SPACES_UNIQUE),
    )

    @model_validator(mode="after")
    def _spaces_unique(self) -> Self:
        if self.with_ is not None and not unique(self.with_):
            raise ValueError(f"with: {JOINT_SPACES_UNIQUE.message}")
        return self

    def allows(self, provider: str) -> bool:
        """Whether a joint job may combine this contract with a contract of `provider`."""
        return self.allowed and (not self.with_ or provider in self.with_)


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
