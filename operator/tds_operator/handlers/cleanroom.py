"""Act on a contract's clean room: open it while the contract is Active, cut it off otherwise."""

from __future__ import annotations

from tds_operator.api.datacontract import (
    CLEAN_ROOM_OPEN,
    CLEAN_ROOM_REJECTED,
    CONTRACT_NOT_ACTIVE,
    DataContract,
)
from tds_operator.api.dataspace import DataSpace, space_namespace
from tds_operator.desired.cleanroom import (
    DATASETS_POLICY,
    EGRESS_POLICY,
    DatasetEndpoint,
    clean_room_children,
    clean_room_namespace,
    dataset_endpoints,
    provider_policy_name,
)
from tds_operator.desired.isolation import DNS_POLICY
from tds_operator.desired.labels import Manifest
from tds_operator.handlers.objects import REJECTED_STATUSES
from tds_operator.kube import Kube, KubeError
from tds_operator.policy.decision import Decision

NETWORK_POLICY = ("networking.k8s.io/v1", "NetworkPolicy")


class CleanRoom:
    """The operator-owned namespace in which a contract's jobs run next to the provider's data."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    async def converge(
        self,
        contract: DataContract,
        provider: DataSpace | None,
        services: dict[str, Manifest | None],
        active: bool,
    ) -> Decision:
        """Open the clean room while the contract is Active; close it otherwise. `services`
        holds the live Service of each contracted dataset served over the network."""
        name = contract.metadata.name or ""
        if not active or provider is None:
            await self.close(name, contract.spec.provider.space, force_remove=False)
            return Decision.deny(
                CONTRACT_NOT_ACTIVE, "no clean room while the contract is not Active"
            )
        endpoints = dataset_endpoints(contract, provider, services)
        for child in clean_room_children(contract, endpoints):
            try:
                await self.kube.ensure(child)
            except KubeError as error:
                if error.status not in REJECTED_STATUSES:
                    raise
                return Decision.deny(
                    CLEAN_ROOM_REJECTED,
                    f"the API server rejected {child['kind']} {child['metadata']['name']}: "
                    f"{error.message}",
                )
        await self._remove_stale_policies(contract, endpoints)
        egress = contract.spec.egress
        return Decision.allow(
            CLEAN_ROOM_OPEN,
            f"clean room {clean_room_namespace(name)} may reach "
            + (", ".join(sorted(endpoints)) or "no network dataset")
            + (f" and {len(egress)} egress destination(s)" if egress else ""),
        )

    async def close(self, contract: str, provider: str | None, *, force_remove: bool) -> None:
        """Cut the clean room's access at once; remove the clean room once no job runs in it
        (at once when `force_remove`)."""
        namespace = clean_room_namespace(contract)
        live = await self.kube.get("v1", "Namespace", namespace)
        if provider:
            await self.kube.delete(
                *NETWORK_POLICY, provider_policy_name(contract), space_namespace(provider)
            )
        if live is None:
            return
        for policy in (DATASETS_POLICY, EGRESS_POLICY):
            await self.kube.delete(*NETWORK_POLICY, policy, namespace)
        active_jobs = [
            job
            for job in await self.kube.list("batch/v1", "Job", namespace)
            if (job.get("status") or {}).get("active")
        ]
        if (force_remove or not active_jobs) and not live["metadata"].get("deletionTimestamp"):
            await self.kube.delete("v1", "Namespace", namespace)

    async def _remove_stale_policies(
        self, contract: DataContract, endpoints: dict[str, DatasetEndpoint]
    ) -> None:
        namespace = clean_room_namespace(contract.metadata.name or "")
        # Clean rooms made before they were sealed may still allow DNS.
        if await self.kube.get(*NETWORK_POLICY, DNS_POLICY, namespace) is not None:
            await self.kube.delete(*NETWORK_POLICY, DNS_POLICY, namespace)
        if not endpoints:
            await self.kube.delete(*NETWORK_POLICY, DATASETS_POLICY, namespace)
        if not contract.spec.egress:
            await self.kube.delete(*NETWORK_POLICY, EGRESS_POLICY, namespace)
