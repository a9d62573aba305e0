"""A DataContract created from a ContractProposal: the operator's create, judged as the proposer's.

The operator relays a proposal by creating the DataContract with the proposal's sealed stamp
(policy/proposals.py). Its create is admitted only if the stamp verifies, is for the proposal
named in the contract's annotation and for these very terms, the contract's name is the one
derived from that proposal, and the stamped user is still an owner of the proposal's space;
then the create is judged (consent, terms) as the stamped proposer's request. Names kept for
proposals are refused to every other create, with one answer whether or not they are taken.
"""

from __future__ import annotations

import kopf

from tds_operator.api.dataspace import space_namespace
from tds_operator.handlers.context import Operator
from tds_operator.handlers.gather import data_space
from tds_operator.policy.identity import UserInfo, speaks_for
from tds_operator.policy.proposals import (
    NAME_RESERVED,
    PROPOSAL_ANNOTATION,
    PROPOSER_ANNOTATION,
    UNSTAMPED,
    contract_name,
    name_is_reserved,
    stamp_fits,
    verified_proposer,
)
from tds_operator.webhooks.common import deny


async def acting_for(body: kopf.Body, requester: UserInfo, memo: Operator) -> UserInfo:
    """Whom a DataContract create speaks for: the stamped proposer of a relayed proposal, or the
    requester itself. Refuses a create under a name kept for proposals unless relayed."""
    name = body.metadata.name or ""
    annotations = dict(body.metadata.annotations)
    relayed = PROPOSER_ANNOTATION in annotations or PROPOSAL_ANNOTATION in annotations
    if not relayed or requester.username != memo.identity or not memo.identity:
        if name_is_reserved(name) or relayed:
            raise deny(
                NAME_RESERVED,
                "DataContract names ending in '-p' and 16 hex digits, and the tds.io/proposer "
                "and tds.io/proposal annotations, are kept for contracts made from a "
                "ContractProposal: propose under another name, or apply a ContractProposal",
            )
        return requester
    proposer = verified_proposer(memo.signing_key, annotations.get(PROPOSER_ANNOTATION))
    namespace, _, proposal = str(annotations.get(PROPOSAL_ANNOTATION) or "").partition("/")
    space_name = namespace.removeprefix("tds-")
    space = await data_space(memo, space_name)
    spec = dict(body.get("spec") or {})
    if (
        proposer is None
        or not stamp_fits(proposer, namespace, proposal, spec)
        or space is None
        or space_namespace(space_name) != namespace
        or name != contract_name(space_name, proposal)
        or not speaks_for(space.spec.owners, proposer.user)
    ):
        raise deny(
            UNSTAMPED,
            "a DataContract made from a ContractProposal needs the stamp the admission webhook "
            "sealed for that proposal's terms, written by an owner of its space",
        )
    return proposer.user
