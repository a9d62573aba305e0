"""ContractProposal: a party proposes a DataContract by applying an object in its own namespace.

`kubectl apply` (client- or server-side) of a ContractProposal in `tds-<space>` asks the operator
to create the DataContract with these terms. The proposer is the user the API server
authenticated for the party's own write of the proposal: the admission webhook stamps it (and
seals it with the operator's key), and the DataContract's webhook checks that stamp when the
operator creates the contract, so neither the relay nor a hand-written annotation can invent it.
The contract's name is derived from the proposer's space and the proposal's name
(`contract_name`), a name no other space can take.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field, StrictInt, StrictStr

from tds_operator.api.common import CustomResource, KubeModel, PrinterColumn
from tds_operator.api.datacontract import DataContractSpec
from tds_operator.api.validation import object_name_rule

PROPOSAL_NAME_MAX_LENGTH: Final = 40
"""A proposal's name is part of its contract's name (with the space and a digest)."""

ProposalPhase = Literal["Created", "Refused"]
CREATED: Final = "Created"
REFUSED: Final = "Refused"


class ContractProposalStatus(KubeModel):
    """What became of the proposal."""

    phase: ProposalPhase | None = Field(
        None, description="Created: the DataContract exists; Refused: see reason and message."
    )
    contract: StrictStr | None = Field(
        None, description="Name of the DataContract this proposal makes (derived from the "
        "space and the proposal's name)."
    )  # fmt: skip
    reason: StrictStr | None = Field(None, description="Why, in one word.")
    message: StrictStr | None = Field(None, description="Why, in a sentence.")
    observed_generation: StrictInt | None = Field(
        None, description="The proposal's generation this status answers."
    )


class ContractProposal(CustomResource):
    """A party's proposal of a DataContract, applied in its own space namespace."""

    NAME_MAX_LENGTH = PROPOSAL_NAME_MAX_LENGTH
    NAME_RULE = object_name_rule(
        "ContractProposal",
        PROPOSAL_NAME_MAX_LENGTH,
        "it is part of the name of the DataContract it proposes",
    )
    PRINTER_COLUMNS = (
        PrinterColumn("Contract", ".status.contract", "string", "The DataContract it made."),
        PrinterColumn("Phase", ".status.phase", "string", "Created or Refused."),
        PrinterColumn("Reason", ".status.reason", "string", "Why."),
    )

    kind: Literal["ContractProposal"] = "ContractProposal"
    spec: DataContractSpec = Field(
        description="The DataContract's spec as proposed: terms and the proposer's own consent."
    )
    status: ContractProposalStatus | None = Field(None, description="What became of it.")
