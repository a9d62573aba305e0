"""ContractProposal reconciler: the relay that makes a DataContract from a party's proposal.

gather (the proposal, the DataContract under the name derived from it) → decide
(policy/proposals.py, pure) → act (create the DataContract with the proposer's sealed stamp; its
webhook checks the stamp and judges the create as the proposer's) → report (the proposal's
status: Created and the contract's name, or Refused with the reason; an Event when that changes).

The relay only ever creates: once the contract exists, it belongs to both parties and is changed
on itself (consent, revocation); edits to the proposal are reported as ignored, and deleting the
proposal leaves the contract as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from tds_operator import API_VERSION
from tds_operator.api.proposal import REFUSED
from tds_operator.api.resources import CONTRACT_PROPOSAL, DATA_CONTRACT, Manifest
from tds_operator.handlers.context import Operator
from tds_operator.handlers.objects import record_event
from tds_operator.kube import KubeError
from tds_operator.policy.proposals import (
    NOT_A_SPACE_NAMESPACE,
    PROPOSAL_ANNOTATION,
    PROPOSER_ANNOTATION,
    ProposalOutcome,
    contract_name,
    decide_proposal,
    stamp_fits,
    verified_proposer,
)

logger = logging.getLogger(__name__)

SPACE_PREFIX = "tds-"
DENIED_PREFIX = "denied the request: "


def refusal_of(error: KubeError) -> tuple[str, str]:
    """The reason and message of an API refusal (a webhook's `Reason: message`)."""
    message = error.message.split(DENIED_PREFIX, 1)[-1]
    reason, sep, rest = message.partition(": ")
    if sep and reason.isalnum():
        return reason, rest
    return error.reason or "Refused", message


class ProposalReconciler:
    """Makes each proposal's DataContract, once, and reports on the proposal."""

    def __init__(self, op: Operator) -> None:
        self.op = op

    def _note(self, key: str, parties: Iterable[str], *, refused: bool) -> None:
        """Remember (or forget) a proposal the DataContract's webhook refused while it named
        these spaces: a change of one tries it again (it may exist now, offer the dataset, hold
        the signing key)."""
        waiting = self.op.refused_proposals
        for space in [space for space, keys in waiting.items() if key in keys]:
            waiting[space].discard(key)
            if not waiting[space]:
                del waiting[space]
        for space in parties if refused else ():
            waiting.setdefault(space, set()).add(key)

    async def __call__(self, key: str) -> float | None:
        namespace, name = key.split("/", 1)
        kube = self.op.kube
        body = await kube.get(API_VERSION, CONTRACT_PROPOSAL, name, namespace)
        if body is None or body["metadata"].get("deletionTimestamp"):
            self._note(key, (), refused=False)
            return None
        outcome, contract = await self._outcome(body, namespace, name)
        spec = body.get("spec") or {}
        parties = [str((spec.get(side) or {}).get("space")) for side in ("provider", "consumer")]
        self._note(key, parties, refused=outcome.retry)
        status = {
            "phase": outcome.phase,
            "contract": contract,
            "reason": outcome.reason,
            "message": outcome.message,
            "observedGeneration": body["metadata"].get("generation"),
        }
        before = body.get("status") or {}
        if {k: before.get(k) for k in status} != status:
            await kube.patch_status(API_VERSION, CONTRACT_PROPOSAL, name, status, namespace)
        if (before.get("phase"), before.get("reason")) != (outcome.phase, outcome.reason):
            warning = outcome.phase == REFUSED
            await record_event(
                kube, body, reason=outcome.reason, message=outcome.message, warning=warning
            )
        return None

    async def _outcome(
        self, body: Manifest, namespace: str, name: str
    ) -> tuple[ProposalOutcome, str | None]:
        if not namespace.startswith(SPACE_PREFIX):
            message = f"{namespace} is not a space namespace (tds-<space>)"
            return ProposalOutcome(False, "Refused", NOT_A_SPACE_NAMESPACE, message), None
        contract = contract_name(namespace.removeprefix(SPACE_PREFIX), name)
        spec = dict(body.get("spec") or {})
        stamp = (body["metadata"].get("annotations") or {}).get(PROPOSER_ANNOTATION)
        proposer = verified_proposer(self.op.signing_key, stamp)
        stamped = stamp_fits(proposer, namespace, name, spec)
        live = await self.op.kube.get(API_VERSION, DATA_CONTRACT, contract)
        outcome = decide_proposal(contract, stamped, live, f"{namespace}/{name}", spec)
        if outcome.create:
            outcome = await self._create(contract, namespace, name, spec, stamp or "", outcome)
        return outcome, contract

    async def _create(
        self,
        contract: str,
        namespace: str,
        name: str,
        spec: dict[str, Any],
        stamp: str,
        created: ProposalOutcome,
    ) -> ProposalOutcome:
        manifest = {
            "apiVersion": API_VERSION,
            "kind": DATA_CONTRACT,
            "metadata": {
                "name": contract,
                "annotations": {
                    PROPOSAL_ANNOTATION: f"{namespace}/{name}",
                    PROPOSER_ANNOTATION: stamp,
                },
            },
            "spec": spec,
        }
        try:
            await self.op.kube.create(manifest)
        except KubeError as error:
            if error.status == 409:
                live = await self.op.kube.get(API_VERSION, DATA_CONTRACT, contract)
                return decide_proposal(contract, True, live, f"{namespace}/{name}", spec)
            if error.status not in (400, 403, 422):
                raise
            reason, message = refusal_of(error)
            logger.info("ContractProposal %s/%s refused: %s %s", namespace, name, reason, message)
            return ProposalOutcome(False, "Refused", reason, message, retry=True)
        logger.info("ContractProposal %s/%s: DataContract %s created", namespace, name, contract)
        return created
