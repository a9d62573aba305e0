"""The Contracts a DataContract must have: one copy in each party's space namespace, nowhere else.

Each copy carries the terms as they stand, which side the namespace's space takes, the phase,
usage and conditions the contract's reconcile just reported; never a consent's signature, the
stamps of who consented, or the ledger's head. Both copies are owned by the DataContract, so the
cluster's garbage collector removes them with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tds_operator import API_VERSION
from tds_operator.api.contract import ContractSpec, ContractStatus
from tds_operator.api.datacontract import DataContract, DataContractStatus, Party
from tds_operator.api.dataspace import space_namespace
from tds_operator.api.resources import CONTRACT, DATA_CONTRACT, Manifest
from tds_operator.desired.labels import CONTRACT_LABEL, managed_labels, owner_reference
from tds_operator.policy.contract import PARTIES


def _spec(contract: DataContract, side: Party) -> ContractSpec:
    spec = contract.spec
    other = spec.consumer.space if side == "provider" else spec.provider.space
    return ContractSpec(
        contract=contract.metadata.name or "",
        side=side,
        counterparty=other,
        provider=spec.provider,
        consumer=spec.consumer,
        purpose=spec.purpose,
        validity=spec.validity,
        compute=spec.compute,
        max_jobs=spec.max_jobs,
        egress=spec.egress,
        outputs=spec.outputs,
        consent={
            "provider": spec.consent.provider.approved,
            "consumer": spec.consent.consumer.approved,
        },
        revoked=spec.revoked,
    )


MIRRORED_STATUS = ("phase", "usage", "activeSince", "expiresAt", "conditions")
"""The status fields of a DataContract its copies repeat."""


def _status(status: DataContractStatus, live: Mapping[str, Any]) -> dict[str, Any]:
    """The contract's status once `status` is written over the `live` one (a merge: fields the
    reconcile left out keep their live value)."""
    written = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    merged = {key: written.get(key, live.get(key)) for key in MIRRORED_STATUS}
    return ContractStatus.model_validate(
        {key: value for key, value in merged.items() if value is not None}
    ).model_dump(mode="json", by_alias=True, exclude_none=True)


def mirror_namespaces(contract: DataContract) -> dict[str, Party]:
    """The namespaces that hold a copy of the contract, and the side each one's space takes."""
    spaces = {"provider": contract.spec.provider.space, "consumer": contract.spec.consumer.space}
    return {space_namespace(spaces[party]): party for party in PARTIES}


def contract_mirrors(
    contract: DataContract, uid: str, status: DataContractStatus, live: Mapping[str, Any]
) -> list[Manifest]:
    """The Contract in each party's namespace, as the DataContract (uid `uid`) and the status
    its reconcile writes (`status`) over the `live` one make it."""
    name = contract.metadata.name or ""
    owner = owner_reference(DATA_CONTRACT, name, uid)
    mirrored = _status(status, live)
    manifests = []
    for namespace, side in mirror_namespaces(contract).items():
        body: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": CONTRACT,
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {**managed_labels(), CONTRACT_LABEL: name},
                "ownerReferences": [owner],
            },
            "spec": _spec(contract, side).model_dump(mode="json", by_alias=True, exclude_none=True),
            "status": mirrored,
        }
        manifests.append(body)
    return manifests
