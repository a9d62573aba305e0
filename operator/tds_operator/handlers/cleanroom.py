"""Act on a contract's clean room: open it while the contract is Active, cut it off otherwise.

Its namespace and the provider-side policy are named after the contract, so other objects can
share those names (another contract's, or a space's namespace). The operator touches them only if
their controller is this very contract (its uid): it creates them atomically, and checks before
it writes into, deletes from, or removes them.
"""

from __future__ import annotations

import asyncio
import logging

from tds_operator.api.datacontract import (
    CLEAN_ROOM_CLOSING,
    CLEAN_ROOM_NAME_TAKEN,
    CLEAN_ROOM_OPEN,
    CLEAN_ROOM_REJECTED,
    CONTRACT_NOT_ACTIVE,
    DataContract,
)
from tds_operator.api.dataspace import DataSpace, space_namespace
from tds_operator.api.resources import Manifest
from tds_operator.desired.cleanroom import (
    DATASETS_POLICY,
    EGRESS_POLICY,
    DatasetEndpoint,
    clean_room_children,
    clean_room_namespace,
    provider_policy_name,
)
from tds_operator.desired.gateway import GATEWAY_LABEL, all_dataset_endpoints, gateway_objects
from tds_operator.desired.gateway_network import gateway_policies
from tds_operator.desired.grants import RBAC, clean_room_access, grant_name, granted_datasets
from tds_operator.desired.isolation import DNS_POLICY
from tds_operator.desired.joint_room import JOINT_ROOM_LABEL
from tds_operator.desired.labels import CONTRACT_LABEL, controlled_by
from tds_operator.desired.outputs import OUTPUT_LABEL
from tds_operator.handlers.gateways import Ours, kill_gateway_pods, remove_gateways
from tds_operator.handlers.objects import REJECTED_STATUSES
from tds_operator.kube import Kube, KubeError
from tds_operator.policy.decision import Decision
from tds_operator.policy.enforcement import revoked
from tds_operator.policy.outputs import clean_room_may_be_removed
from tds_operator.policy.rules import HubRules

logger = logging.getLogger(__name__)
NETWORK_POLICY = ("networking.k8s.io/v1", "NetworkPolicy")


class CleanRoom:
    """The operator-owned namespace in which a contract's jobs run next to the provider's data."""

    def __init__(self, kube: Kube, rules: HubRules) -> None:
        self.kube = kube
        self.rules = rules

    async def converge(
        self,
        contract: DataContract,
        provider: DataSpace | None,
        services: dict[str, Manifest | None],
        active: bool,
        *,
        api_server: list[Manifest] | None = None,
    ) -> Decision:
        """Open the clean room while the contract is Active; close it otherwise. `services`
        holds the live Service of each contracted dataset served over the network; `api_server`
        the egress rules to the API server its dataset gateways ask (gateway_network.py)."""
        name, uid = contract.metadata.name or "", contract.metadata.uid or ""
        if not active or provider is None:
            await self.close(name, uid, contract.spec.provider.space, force_remove=False)
            return Decision.deny(
                CONTRACT_NOT_ACTIVE, "no clean room while the contract is not Active"
            )
        endpoints = all_dataset_endpoints(contract, provider, services)
        room = clean_room_namespace(name)
        closing = await self.kube.get("v1", "Namespace", room)
        if controlled_by(closing, uid) and (closing or {})["metadata"].get("deletionTimestamp"):
            return Decision.deny(
                CLEAN_ROOM_CLOSING,
                f"clean room {room} of an earlier Active period is still being removed; it "
                "reopens as soon as it is gone",
            )
        refused = await self._ensure_children(contract, provider, endpoints, room, api_server or [])
        if refused is not None:
            return refused
        await self._remove_stale_policies(contract, endpoints)
        datasets = granted_datasets(contract, provider)
        if not datasets:
            await self._revoke_grant(name, uid, space_namespace(contract.spec.provider.space))
        egress = contract.spec.egress
        return Decision.allow(
            CLEAN_ROOM_OPEN,
            f"clean room {clean_room_namespace(name)} may reach "
            + (", ".join(sorted(endpoints)) or "no network dataset")
            + (f" and {len(egress)} egress destination(s)" if egress else ""),
        )

    async def _ensure_children(
        self,
        contract: DataContract,
        provider: DataSpace,
        endpoints: dict[str, DatasetEndpoint],
        room: str,
        api_server: list[Manifest],
    ) -> Decision | None:
        """Claim and write every object of the clean room, its access and its gateways, in that
        order; None when all are in place, else the Decision that says why not."""
        name, uid = contract.metadata.name or "", contract.metadata.uid or ""
        try:
            children = clean_room_children(contract, endpoints, self.rules)
            # The grant comes last: nothing may read a dataset before the clean room is sealed.
            access = clean_room_access(contract, provider)
            gateways = [
                *gateway_policies(contract, provider, api_server),
                *gateway_objects(contract, provider, self.rules),
            ]
            for child in [*children, *access, *gateways]:
                taken = await self._claim(child, uid, room)
                if taken is not None:
                    return taken
                await self.kube.ensure(child)
        except KubeError as error:
            if error.status not in REJECTED_STATUSES:
                raise
            rejected = f"the API server rejected {child['kind']} {child['metadata']['name']}"
            # The operator's own log says it too: a refusal may be its missing right.
            logger.warning("DataContract %s: %s: %s", name, rejected, error.message)
            return Decision.deny(CLEAN_ROOM_REJECTED, f"{rejected}: {error.message}")
        return None

    async def _claim(self, child: Manifest, uid: str, room: str) -> Decision | None:
        """Create the clean room's namespace, or a policy outside it, if it does not exist yet;
        None if it is this contract's, CleanRoomNameTaken if the name belongs to another."""
        metadata = child["metadata"]
        where = metadata.get("namespace")
        if where == room:
            return None  # inside the clean room, which was claimed first
        live = await self.kube.get(child["apiVersion"], child["kind"], metadata["name"], where)
        if live is None:
            try:
                await self.kube.create(child)
                return None
            except KubeError as error:
                if error.status != 409:
                    raise
            live = await self.kube.get(child["apiVersion"], child["kind"], metadata["name"], where)
        if controlled_by(live, uid):
            return None
        place = f" in namespace {where}" if where else ""
        return Decision.deny(
            CLEAN_ROOM_NAME_TAKEN,
            f"{child['kind']} {metadata['name']}{place} exists but was not made for this "
            "contract: the operator will neither use nor remove it; recreate the contract "
            "under another name",
        )

    async def close(
        self, contract: str, uid: str, provider: str | None, *, force_remove: bool
    ) -> None:
        """Cut the clean room's access at once; remove the clean room once no job runs and no
        output waits in it (at once when `force_remove`). Only what this contract's uid controls
        is touched."""
        namespace = clean_room_namespace(contract)
        if provider:
            # The gateways' pods first, killed at once: their proxies keep answers for minutes,
            # so access ends with the pod. Then the grant, and the rest of the gateways.
            provider_namespace = space_namespace(provider)
            # Its joint rooms' gateways are the contract's too, and go with its own.
            gateways = f"{CONTRACT_LABEL}={contract},{GATEWAY_LABEL}"

            def ours(live: Manifest) -> bool:
                return controlled_by(live, uid)

            await kill_gateway_pods(self.kube, provider_namespace, gateways, ours)
            await self._revoke_grant(contract, uid, provider_namespace)
            await remove_gateways(self.kube, provider_namespace, gateways, ours)
            await self._delete_own(
                *NETWORK_POLICY, provider_policy_name(contract), uid, provider_namespace
            )
        live = await self.kube.get("v1", "Namespace", namespace)
        if live is None or not controlled_by(live, uid):
            return
        for policy in (DATASETS_POLICY, EGRESS_POLICY):
            await self.kube.delete(*NETWORK_POLICY, policy, namespace)
        active_jobs = [
            job
            for job in await self.kube.list("batch/v1", "Job", namespace)
            if (job.get("status") or {}).get("active")
        ]
        # Outputs waiting for a release keep the clean room (their claims live in it).
        held_outputs = await self.kube.list(
            "v1", "PersistentVolumeClaim", namespace, f"{OUTPUT_LABEL}=true"
        )
        removable = clean_room_may_be_removed(len(active_jobs), len(held_outputs), force_remove)
        if removable and not live["metadata"].get("deletionTimestamp"):
            await self.kube.delete("v1", "Namespace", namespace, uid=live["metadata"]["uid"])

    async def cut_off_if_revoked(self, body: Manifest) -> None:
        """A contract revoked and not yet reported so: its gateways' pods are killed, and the
        clean room's and its joint rooms' ways to them closed, side by side, before its
        reconcile gathers anything (which then closes the rest, as for any contract that is not
        Active)."""
        if not revoked(body) or (body.get("status") or {}).get("phase") == "Revoked":
            return
        name, uid = body["metadata"]["name"], body["metadata"].get("uid", "")
        provider = ((body.get("spec") or {}).get("provider") or {}).get("space")
        cuts = [self._close_way_to_datasets(name, uid)]
        if provider:

            def ours(live: Manifest) -> bool:
                return controlled_by(live, uid)

            namespace = space_namespace(provider)
            # Its joint rooms' gateways are the contract's too, and go with its own; so do the
            # policies admitting its joint rooms into the provider's namespace (a pod's kill
            # takes the kubelet's next look at its pods, a policy's removal does not).
            gateways = f"{CONTRACT_LABEL}={name},{GATEWAY_LABEL}"
            joint_ingress = f"{CONTRACT_LABEL}={name},{JOINT_ROOM_LABEL}=true"
            cuts.append(kill_gateway_pods(self.kube, namespace, gateways, ours))
            cuts.append(self._delete_all(NETWORK_POLICY, namespace, joint_ingress, ours))
        await asyncio.gather(*cuts)

    async def _delete_all(
        self, kind: tuple[str, str], namespace: str, selector: str, ours: Ours
    ) -> None:
        """Delete, together, the objects of `kind` matching `selector` that `ours` accepts."""
        api_version, kind_name = kind
        found = [
            o for o in await self.kube.list(api_version, kind_name, namespace, selector) if ours(o)
        ]
        await asyncio.gather(
            *(
                self.kube.delete(
                    api_version,
                    kind_name,
                    o["metadata"]["name"],
                    namespace,
                    uid=o["metadata"]["uid"],
                )
                for o in found
            )
        )

    async def _close_way_to_datasets(self, contract: str, uid: str) -> None:
        """The clean room's egress to its datasets removed, if the room is this contract's."""
        room = clean_room_namespace(contract)
        if controlled_by(await self.kube.get("v1", "Namespace", room), uid):
            await self.kube.delete(*NETWORK_POLICY, DATASETS_POLICY, room)

    async def _revoke_grant(self, contract: str, uid: str, provider_namespace: str) -> None:
        """Take back the clean room's grant in the provider's namespace, binding first; then
        every joint room's grant and ingress under this contract (desired/joint_room.py)."""
        for kind in ("RoleBinding", "Role"):
            await self._delete_own(RBAC, kind, grant_name(contract), uid, provider_namespace)
        selector = f"{CONTRACT_LABEL}={contract},{JOINT_ROOM_LABEL}=true"
        for joint_kind in ((RBAC, "RoleBinding"), (RBAC, "Role"), NETWORK_POLICY):
            await self._delete_all(
                joint_kind, provider_namespace, selector, lambda live: controlled_by(live, uid)
            )

    async def _delete_own(
        self, api_version: str, kind: str, name: str, uid: str, namespace: str
    ) -> None:
        """Delete an object only if this contract controls it (and it is still that object)."""
        live = await self.kube.get(api_version, kind, name, namespace)
        if live is not None and controlled_by(live, uid):
            await self.kube.delete(api_version, kind, name, namespace, uid=live["metadata"]["uid"])

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
