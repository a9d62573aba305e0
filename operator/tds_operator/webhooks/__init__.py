"""Admission: the immediate, identity-aware answer, from the same policies the reconcilers use.

DataContract changes are checked against who asks (the AdmissionReview's userInfo); each consent
given or withdrawn, and the revocation, is stamped and sealed with the operator's key. A
TrainingJob its contract does not allow is refused; a new DataSpace gets the operator's finalizer;
DataSpace deletion is refused while the space is party to an active contract; only a space's
owners register its signing keys, and a signed consent must verify with one of them. The webhooks
call the same gatherers and policies as the reconcilers, which enforce the same rules again.
One module per kind (contracts, jobs, releases, spaces) on what they share (common).
"""

from __future__ import annotations

import kopf

from tds_operator import GROUP, VERSION
from tds_operator.api.resources import (
    CONTRACT_PROPOSALS,
    DATA_CONTRACTS,
    DATA_SPACES,
    MODEL_RELEASES,
    TRAINING_JOBS,
)
from tds_operator.webhooks.common import Refusal, measured
from tds_operator.webhooks.contracts import admit_contract
from tds_operator.webhooks.jobs import admit_training
from tds_operator.webhooks.proposals import admit_proposal
from tds_operator.webhooks.releases import admit_release
from tds_operator.webhooks.spaces import (
    add_space_finalizer,
    admit_space_deletion,
    admit_space_keys_change,
)

__all__ = [
    "Refusal",
    "add_space_finalizer",
    "admit_contract",
    "admit_proposal",
    "admit_release",
    "admit_space_deletion",
    "admit_space_keys_change",
    "admit_training",
    "measured",
    "register",
]


def register(registry: kopf.OperatorRegistry) -> None:
    """Add the admission handlers to `registry`."""
    tds = (GROUP, VERSION)
    kopf.on.mutate(
        *tds,
        DATA_CONTRACTS,
        operations=["CREATE", "UPDATE"],
        id="contract-consent",
        registry=registry,
    )(measured("DataContract", admit_contract))
    kopf.on.mutate(
        *tds,
        CONTRACT_PROPOSALS,
        operations=["CREATE", "UPDATE"],
        id="contract-proposal",
        registry=registry,
    )(measured("ContractProposal", admit_proposal))
    kopf.on.validate(
        *tds, TRAINING_JOBS, operations=["CREATE"], id="training-admission", registry=registry
    )(measured("TrainingJob", admit_training))
    kopf.on.mutate(
        *tds, DATA_SPACES, operations=["CREATE"], id="space-finalizer", registry=registry
    )(measured("DataSpace", add_space_finalizer))
    kopf.on.validate(
        *tds, DATA_SPACES, operations=["CREATE", "UPDATE"], id="space-keys", registry=registry
    )(measured("DataSpace", admit_space_keys_change))
    kopf.on.validate(
        *tds, DATA_SPACES, operations=["DELETE"], id="space-deletion", registry=registry
    )(measured("DataSpace", admit_space_deletion))
    kopf.on.mutate(
        *tds, MODEL_RELEASES, operations=["CREATE", "UPDATE"], id="model-release", registry=registry
    )(measured("ModelRelease", admit_release))
