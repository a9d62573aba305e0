"""The dataset gateways of a joint job's room: one per contract of the job and volume dataset the
job reads, in that contract's provider's namespace.

A contract's own gateway (desired/gateway.py) serves that contract's clean-room workers alone, by
a static rule of its proxy; it never consults grants. A joint room's worker is another identity
(`joint_worker_identity`), so each joint job gets gateways of its own, built like a contract's
(the same pod, account, binding, Service and API-server policy), whose proxy names the joint
room's workers alone: no other job's room, no contract's clean room. Each is controlled by its
contract and labelled with it like the contract's own gateways, so the contract's revocation
kills its pod at once and removes it with them (handlers/cleanroom.py); it also carries the job's
labels, so the job's end takes it away with the providers' grants (handlers/joint_room.py). Its
Service is where the joint room's `TDS_DATASET_ENDPOINTS` sends the workers, and the room's
egress reaches its pod alone. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping

from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import DataSpace, VolumeSource, space_namespace
from tds_operator.api.resources import Manifest
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.desired.cleanroom import DatasetEndpoint, dataset_endpoint, dataset_endpoints
from tds_operator.desired.gateway import GATEWAY_LABEL, gateway_name, gateway_set, volume_datasets
from tds_operator.desired.gateway_network import gateway_policy
from tds_operator.desired.gateway_pod import GATEWAY_PORT
from tds_operator.desired.joint_room import joint_datasets, joint_worker_identity, provider_metadata
from tds_operator.policy.rules import HubRules


def joint_gateway_name(job_uid: str, contract_uid: str, dataset: str) -> str:
    """`tds-gw-<dataset>-<digest>` like a contract's gateway, the digest of the job's uid, the
    contract's uid and the dataset: no contract's gateway, nor another job's, has it."""
    return gateway_name(f"{job_uid}/{contract_uid}", dataset)


def joint_volume_datasets(
    job: TrainingJob, contract: DataContract, provider: DataSpace
) -> dict[str, VolumeSource]:
    """The contract's volume datasets the joint job reads: each gets a gateway of the job's."""
    read = set(joint_datasets(job, contract, provider))
    return {name: v for name, v in volume_datasets(contract, provider).items() if name in read}


def joint_gateway_names(
    job: TrainingJob, contract: DataContract, provider: DataSpace
) -> dict[str, str]:
    """The name of each joint gateway (and of its Service), by dataset."""
    uid, contract_uid = job.metadata.uid or "", contract.metadata.uid or ""
    return {
        dataset: joint_gateway_name(uid, contract_uid, dataset)
        for dataset in sorted(joint_volume_datasets(job, contract, provider))
    }


def joint_endpoints(
    job: TrainingJob,
    contract: DataContract,
    provider: DataSpace,
    services: Mapping[str, Manifest | None],
) -> dict[str, DatasetEndpoint]:
    """Where the joint room reaches this contract's datasets: one served over the network at the
    provider's Service, a volume dataset the job reads at the job's own gateway (`services` holds
    the live Service of each, or None)."""
    endpoints = dataset_endpoints(contract, provider, services)
    for dataset, name in joint_gateway_names(job, contract, provider).items():
        address = dataset_endpoint(services.get(dataset), GATEWAY_PORT).address
        endpoints[dataset] = DatasetEndpoint(GATEWAY_PORT, {GATEWAY_LABEL: name}, address)
    return endpoints


def _metadata(job: TrainingJob, contract: DataContract, name: str, namespaced: bool) -> Manifest:
    metadata = provider_metadata(job, contract, name)
    metadata["labels"][GATEWAY_LABEL] = name
    if not namespaced:
        del metadata["namespace"]
    return metadata


def joint_gateways(
    job: TrainingJob,
    contract: DataContract,
    provider: DataSpace,
    rules: HubRules,
    api_server: list[Manifest],
) -> list[Manifest]:
    """Each joint gateway of this contract: its API-server policy (none without `api_server`:
    the gateway then refuses every read), then its account, binding, Deployment and Service,
    its proxy serving the joint room's workers alone."""
    namespace = space_namespace(contract.spec.provider.space)
    identity = joint_worker_identity(job.metadata.uid or "")
    volumes = joint_volume_datasets(job, contract, provider)
    policies, objects = [], []
    for dataset, name in joint_gateway_names(job, contract, provider).items():

        def metadata(where: str | None, name: str = name) -> Manifest:
            return _metadata(job, contract, name, where is not None)

        if api_server:
            policies.append(gateway_policy(metadata(namespace), api_server))
        served = (dataset, volumes[dataset], identity)
        objects += gateway_set(name, namespace, metadata, served, rules)
    return [*policies, *objects]
