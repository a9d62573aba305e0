"""Gather: read an object's inputs from the API server in one place, for the pure decisions.

The reconcilers and the admission webhook call the same gatherers, so the webhook's immediate
answer and the reconciler's enforced one are decided from the same kind of snapshot.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from tds_operator import API_VERSION
from tds_operator.api.compare import is_subset
from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import DataSpace, space_namespace
from tds_operator.api.jobcontracts import contracts_of, first_contract_of
from tds_operator.api.resources import (
    DATA_CONTRACT,
    DATA_SPACE,
    MODEL_RELEASE,
    TRAINING_JOB,
    Manifest,
)
from tds_operator.api.terms import ModelExport
from tds_operator.api.trainingjob import TrainingJob, of_contract
from tds_operator.audit.chain import AuditEntry
from tds_operator.audit.usage import contract_usage
from tds_operator.desired.cleanroom import clean_room_namespace, clean_room_policies
from tds_operator.desired.gateway import all_dataset_endpoints, gateway_name, volume_datasets
from tds_operator.desired.gateway_network import API_SERVER_SLICE, api_server_egress
from tds_operator.desired.isolation import DNS_POLICY
from tds_operator.desired.trainingjob import dataset_addresses
from tds_operator.handlers.claims import dataset_claims
from tds_operator.handlers.context import Operator
from tds_operator.kube import Kube, KubeError
from tds_operator.policy.outputs import effective_clause
from tds_operator.policy.sealing import CleanRoomObservation
from tds_operator.policy.signatures import signatures_of, verified_stamps
from tds_operator.policy.training import AdmissionInput, gpus_held, queued_ahead

logger = logging.getLogger(__name__)


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
    return await contract_training_jobs(op.kube, contract)


async def contract_training_jobs(kube: Kube, contract: str) -> list[Manifest]:
    """The live TrainingJobs that name the contract, selected by the API server: those of the
    contract alone, and the joint jobs (no spec.contract) that name it among others."""
    alone = await kube.list(API_VERSION, TRAINING_JOB, field_selector=of_contract(contract))
    joint = await kube.list(API_VERSION, TRAINING_JOB, field_selector=of_contract(""))
    return [job for job in alone + joint if contract in contracts_of(job.get("spec") or {})]


async def known_contracts_of_space(op: Operator, space: str) -> list[Manifest]:
    """The DataContracts in which the space is provider or consumer, as the watch delivered them
    (listed from the API server until a LIST has filled the index)."""
    if op.contracts.synced:
        return op.contracts.of_space(space)
    return await contracts_of_space(op, space)


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


async def dataset_services(
    op: Operator, contract: DataContract, provider: DataSpace | None
) -> dict[str, Manifest | None]:
    """The live Service (None if missing) of each contracted dataset: the provider's own for a
    dataset served over the network, its gateway's for a dataset on a volume."""
    services: dict[str, Manifest | None] = {}
    namespace = space_namespace(contract.spec.provider.space)
    for name in contract.spec.provider.datasets:
        dataset = provider.spec.dataset(name) if provider else None
        if dataset is not None and dataset.source.service is not None:
            service = dataset.source.service.name
            services[name] = await op.kube.get("v1", "Service", service, namespace)
        elif dataset is not None and dataset.source.volume is not None:
            gateway = gateway_name(contract.metadata.uid or "", name)
            services[name] = await op.kube.get("v1", "Service", gateway, namespace)
    return services


async def api_server_slice(
    op: Operator, contract: DataContract, provider: DataSpace | None
) -> Manifest | None:
    """Where the API server publishes its addresses, read only for a contract with gateways
    (None if the operator may not read it: they then refuse every read, and the log says why)."""
    if provider is None or not volume_datasets(contract, provider):
        return None
    api_version, kind, name, namespace = API_SERVER_SLICE
    try:
        return await op.kube.get(api_version, kind, name, namespace)
    except KubeError as error:
        if error.status != 403:
            raise
        gateways = "dataset gateways cannot reach the API server, and refuse every read"
        logger.warning("cannot read EndpointSlice %s/%s (%s): %s", namespace, name, error, gateways)
        return None


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
    dataset_services: dict[str, Manifest | None]
    dataset_claims: dict[str, bool]
    api_server: list[Manifest]
    """The dataset gateways' way to the API server (egress rules to its published addresses)."""


async def contract_inputs(op: Operator, body: Manifest, contract: DataContract) -> ContractInputs:
    """The contract's parties, stamped signatures, live jobs and audit ledger."""
    name = contract.metadata.name or ""
    provider = await data_space(op, contract.spec.provider.space)
    return ContractInputs(
        contract=contract,
        provider=provider,
        consumer=await data_space(op, contract.spec.consumer.space),
        signatures=verified_stamps(
            signatures_of(body["metadata"].get("annotations")), op.signing_key, name
        ),
        jobs=await jobs_of_contract(op, name),
        recorded=(await op.ledger.load(name)).entries,
        dataset_services=await dataset_services(op, contract, provider),
        dataset_claims=await dataset_claims(op.kube, contract, provider),
        api_server=api_server_egress(await api_server_slice(op, contract, provider)),
    )


async def admission_input(
    op: Operator,
    job: TrainingJob,
    contract_body: Manifest | None,
    recorded: list[AuditEntry] | None = None,
    name: str | None = None,
) -> AdmissionInput:
    """A job asking to run under its contract `name` (default: its first), with what the
    contract already uses."""
    name = name or job.spec.contract
    if recorded is None:
        recorded = (await op.ledger.load(name)).entries
    jobs = await contract_training_jobs(op.kube, name)
    usage = contract_usage(recorded, jobs)
    return AdmissionInput(
        job=job.spec,
        namespace=job.metadata.namespace or "",
        contract=DataContract.model_validate(contract_body) if contract_body else None,
        contract_phase=((contract_body or {}).get("status") or {}).get("phase"),
        gpus_held_by_others=gpus_held(jobs, name, except_uid=job.metadata.uid or ""),
        jobs_admitted=usage.jobs,
        gpu_hours_used=usage.gpu_hours,
        queued_ahead=queued_ahead(jobs, name, uid=job.metadata.uid or ""),
        contract_name=name,
    )


NETWORK_POLICY = ("networking.k8s.io/v1", "NetworkPolicy")


@dataclass(frozen=True)
class CleanRoomInputs:
    """A contract's clean room as the API server shows it, and where a job finds its datasets."""

    observation: CleanRoomObservation
    datasets: dict[str, str | None]


async def clean_room_inputs(
    op: Operator, job: TrainingJob, contract: DataContract
) -> CleanRoomInputs:
    """Read back every NetworkPolicy that seals the contract's clean room, and the address of
    each dataset the job reads."""
    namespace = clean_room_namespace(contract.metadata.name or "")
    if await op.kube.get("v1", "Namespace", namespace) is None:
        return CleanRoomInputs(CleanRoomObservation(namespace, namespace_exists=False), {})
    provider = await data_space(op, contract.spec.provider.space)
    services = await dataset_services(op, contract, provider)
    endpoints = all_dataset_endpoints(contract, provider, services) if provider else {}
    policies = clean_room_policies(contract, endpoints)
    # Read back together: a job's start waits for these reads.
    *found, dns = await asyncio.gather(
        *(
            op.kube.get(
                *NETWORK_POLICY, policy["metadata"]["name"], policy["metadata"]["namespace"]
            )
            for policy in policies
        ),
        op.kube.get(*NETWORK_POLICY, DNS_POLICY, namespace),
    )
    missing, altered = [], []
    for policy, live in zip(policies, found, strict=True):
        metadata = policy["metadata"]
        where = f"{metadata['namespace']}/{metadata['name']}"
        if live is None:
            missing.append(where)
        elif not is_subset(policy["spec"], live.get("spec")):
            altered.append(where)
    datasets = dataset_addresses(job, contract, endpoints)
    observation = CleanRoomObservation(
        namespace=namespace,
        namespace_exists=True,
        policies_missing=missing,
        policies_altered=altered,
        dns_policy=f"{namespace}/{DNS_POLICY}" if dns is not None else None,
        datasets_without_address=[d for d, address in datasets.items() if address is None],
    )
    return CleanRoomInputs(observation, datasets)


@dataclass(frozen=True)
class ReleaseInputs:
    """A ModelRelease's job, contract and parties, as one snapshot."""

    job_body: Manifest | None
    contract: DataContract | None
    contract_active: bool
    provider: DataSpace | None
    consumer: DataSpace | None
    other_releases: tuple[str, ...]

    @property
    def clause(self) -> ModelExport:
        """The contract's outputs.modelExport as it applies now (review once not Active)."""
        clause: ModelExport = self.contract.spec.outputs.model_export if self.contract else "review"
        return effective_clause(clause, self.contract_active)

    @property
    def output_state(self) -> str | None:
        """The job's reported output state; None if it has no output."""
        if self.job_body is None or not (self.job_body.get("spec") or {}).get("output"):
            return None
        return str(
            ((self.job_body.get("status") or {}).get("output") or {}).get("state") or "Pending"
        )


async def release_inputs(op: Operator, namespace: str, job: str, release: str) -> ReleaseInputs:
    """What a release of `job`'s output (in `namespace`) is decided from."""
    job_body = await op.kube.get(API_VERSION, TRAINING_JOB, job, namespace)
    name = first_contract_of((job_body or {}).get("spec") or {})
    body = await op.kube.get(API_VERSION, DATA_CONTRACT, name) if name else None
    try:
        contract = DataContract.model_validate(body) if body else None
    except ValidationError:
        contract = None
    if contract is not None and space_namespace(contract.spec.consumer.space) != namespace:
        # A job outside its contract's consumer namespace never ran under it: the release is
        # told nothing of the contract (its parties, its clause), as if it did not exist.
        body, contract = None, None
    others = tuple(
        r["metadata"]["name"]
        for r in await op.kube.list(API_VERSION, MODEL_RELEASE, namespace)
        if (r.get("spec") or {}).get("trainingJob") == job and r["metadata"]["name"] != release
    )
    return ReleaseInputs(
        job_body=job_body,
        contract=contract,
        contract_active=((body or {}).get("status") or {}).get("phase") == "Active",
        provider=await data_space(op, contract.spec.provider.space) if contract else None,
        consumer=await data_space(op, contract.spec.consumer.space) if contract else None,
        other_releases=others,
    )
