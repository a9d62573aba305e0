"""Gather: read an object's inputs from the API server in one place, for the pure decisions.

The reconcilers and the admission webhook call the same gatherers, so the webhook's immediate
answer and the reconciler's enforced one are decided from the same kind of snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from tds_operator import API_VERSION
from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import DataSpace
from tds_operator.api.resources import DATA_CONTRACT, DATA_SPACE, TRAINING_JOB
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.audit.chain import AuditEntry
from tds_operator.audit.usage import contract_usage
from tds_operator.desired.labels import Manifest
from tds_operator.handlers.context import Operator
from tds_operator.policy.signatures import signatures_of, verified_stamps
from tds_operator.policy.training import AdmissionInput, gpus_held


async def data_space(op: Operator, name: str) -> DataSpace | None:
    """The DataSpace of that name, or None if it does not exist or does not parse."""
    body = await op.kube.get(API_VERSION, DATA_SPACE, name)
    if body is None:
        return None
    try:
        return DataSpace.model_validate(body)
    except ValidationError:
        return None


async def jobs_of_contract(op: Operator, contract: str) -> list[Manifest]:
    """The live TrainingJobs that name the contract."""
    return [
        job
        for job in await op.kube.list(API_VERSION, TRAINING_JOB)
        if (job.get("spec") or {}).get("contract") == contract
    ]


async def contracts_of_space(op: Operator, space: str) -> list[Manifest]:
    """The live DataContracts in which the space is provider or consumer."""
    return [
        contract
        for contract in await op.kube.list(API_VERSION, DATA_CONTRACT)
        if space
        in (
            ((contract.get("spec") or {}).get("provider") or {}).get("space"),
            ((contract.get("spec") or {}).get("consumer") or {}).get("space"),
        )
    ]


@dataclass(frozen=True)
class ContractInputs:
    """What one reconcile of a contract decides from: a frozen snapshot."""

    contract: DataContract
    provider: DataSpace | None
    consumer: DataSpace | None
    signatures: list[dict[str, Any]]
    """The stamps the operator sealed for this contract; forged ones are left out."""
    jobs: list[Manifest]
    recorded: list[AuditEntry]


async def contract_inputs(op: Operator, body: Manifest, contract: DataContract) -> ContractInputs:
    """The contract's parties, stamped signatures, live jobs and audit ledger."""
    name = contract.metadata.name or ""
    return ContractInputs(
        contract=contract,
        provider=await data_space(op, contract.spec.provider.space),
        consumer=await data_space(op, contract.spec.consumer.space),
        signatures=verified_stamps(
            signatures_of(body["metadata"].get("annotations")), op.signing_key, name
        ),
        jobs=await jobs_of_contract(op, name),
        recorded=(await op.ledger.load(name)).entries,
    )


async def admission_input(
    op: Operator,
    job: TrainingJob,
    contract_body: Manifest | None,
    recorded: list[AuditEntry] | None = None,
) -> AdmissionInput:
    """A job asking to run under its contract, with what the contract already uses."""
    if recorded is None:
        recorded = (await op.ledger.load(job.spec.contract)).entries
    jobs = await op.kube.list(API_VERSION, TRAINING_JOB)
    usage = contract_usage(recorded, jobs)
    return AdmissionInput(
        job=job.spec,
        namespace=job.metadata.namespace or "",
        contract=DataContract.model_validate(contract_body) if contract_body else None,
        contract_phase=((contract_body or {}).get("status") or {}).get("phase"),
        gpus_held_by_others=gpus_held(jobs, job.spec.contract, except_uid=job.metadata.uid or ""),
        jobs_admitted=usage.jobs,
        gpu_hours_used=usage.gpu_hours,
    )
