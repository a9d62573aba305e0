"""The contracts a TrainingJob runs under: one (`contract`) or, for a joint job that trains on
several providers' data together, several (`contracts`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import Field, StrictBool, StrictStr, model_validator

# The plugin reads a job's contracts by the same rule (kubectl tds why).
from kubectl_tds.explain import contracts_of as contracts_of
from tds_operator.api.common import KubeModel, ObjectName
from tds_operator.api.validation import CelRule, cel_rules, unique, unique_values_rule

MAX_JOINT_CONTRACTS = 8
"""Most contracts one joint job may combine."""
CONTRACTS_UNIQUE = unique_values_rule("contract names")
ONE_WAY_TO_NAME_CONTRACTS = CelRule(
    rule="has(self.contract) != has(self.contracts)",
    message="name the job's contract in exactly one of contract (one contract) or contracts "
    "(a joint job: a list of contracts), not both and not neither",
)


class NamesContracts(KubeModel):
    """The contract fields of a TrainingJob's spec: exactly one of `contract` and `contracts`."""

    single_contract: ObjectName | None = Field(
        None,
        alias="contract",
        description="Name of the DataContract the job runs under; it must be Active and the "
        "job's namespace must be the consumer space's namespace. Exactly one of contract and "
        "contracts is set.",
    )
    contracts: list[ObjectName] | None = Field(
        None,
        min_length=2,
        max_length=MAX_JOINT_CONTRACTS,
        description="A joint job: the DataContracts whose datasets it trains on together "
        f"(unique, 2 to {MAX_JOINT_CONTRACTS}; a job of one contract names it in contract), "
        "each with the job's space as consumer, each from a different provider, each allowing "
        "joint training with the others. Every one must admit the job.",
        json_schema_extra=cel_rules(CONTRACTS_UNIQUE),
    )

    @model_validator(mode="after")
    def _one_way_to_name_contracts(self) -> Self:
        if (self.single_contract is None) == (self.contracts is None):
            raise ValueError(ONE_WAY_TO_NAME_CONTRACTS.message)
        if self.contracts is not None and not unique(self.contracts):
            raise ValueError(f"contracts: {CONTRACTS_UNIQUE.message}")
        return self

    @property
    def contract_names(self) -> tuple[str, ...]:
        """Every contract the job runs under, in the order it names them."""
        if self.contracts is not None:
            return tuple(self.contracts)
        return (self.single_contract,) if self.single_contract is not None else ()

    @property
    def contract(self) -> str:
        """The job's first contract: for a job of one contract, its contract."""
        return self.contract_names[0]

    @property
    def joint(self) -> bool:
        """Whether the job names more than one contract."""
        return len(self.contract_names) > 1


def first_contract_of(spec: Mapping[str, Any]) -> str:
    """The first contract a TrainingJob manifest's spec names ("" if none)."""
    names = contracts_of(spec)
    return names[0] if names else ""


class JobContractStatus(KubeModel):
    """One contract of a joint job, as the job's last reconcile read it."""

    name: ObjectName = Field(description="The DataContract's name.")
    phase: StrictStr = Field(
        description="The contract's phase as the job last read it (Active while it lets the "
        "job run; Suspended, Expired, Revoked or Exhausted once it stops it; Missing if it no "
        "longer exists)."
    )
    stopped_job: StrictBool | None = Field(
        None,
        description="True for the contract that stopped the job (the Finished condition names it).",
    )
