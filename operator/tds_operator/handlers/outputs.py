"""Act on a job's output volume: its claim in the clean room, and the move of its volume into the
consumer's namespace or its deletion. No byte passes through the operator: a release re-binds the
very PersistentVolume the job wrote to a claim in the consumer's namespace.
"""

from __future__ import annotations

import logging

from tds_operator.api.resources import Manifest
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.desired.outputs import (
    MANIFEST_LABEL,
    claims_volume,
    manifest_pod,
    manifest_pod_name,
    output_claim,
    output_claim_name,
    released_claim,
    reservation_seen,
)
from tds_operator.handlers.batch_run import batch_job_of, made_for
from tds_operator.kube import Kube, KubeError
from tds_operator.policy.manifest import claim_writers
from tds_operator.policy.rules import HubRules

logger = logging.getLogger(__name__)
PVC = ("v1", "PersistentVolumeClaim")
DISCARDED_LABEL = "tds.io/output-discarded"
"""On the volume of an output being erased: its storage deletes it, or, if that fails, the
operator deletes its object (every discard path, and the sweep of the clean rooms)."""
PV = ("v1", "PersistentVolume")


class OutputVolume:
    """One TrainingJob's output: a claim in the clean room until it is released or deleted."""

    def __init__(self, kube: Kube, rules: HubRules) -> None:
        self.kube = kube
        self.rules = rules

    async def ensure_claim(self, job: TrainingJob, body: Manifest) -> Manifest | None:
        """Create the job's output claim in the clean room if it has none; the live claim. A
        claim of its name made for another job (an earlier one of the same name) is never
        adopted: that is an error until it is gone."""
        desired = output_claim(job, self.rules)
        if desired is None:
            return None
        metadata = desired["metadata"]
        live = await self.kube.get(*PVC, metadata["name"], metadata["namespace"])
        if live is None:
            live = await self.kube.create(desired)
        if not made_for(live, body):
            where = f"{metadata['namespace']}/{metadata['name']}"
            raise KubeError(409, "ClaimNameTaken", f"claim {where} is another job's")
        return live

    async def claim(self, body: Manifest) -> Manifest | None:
        """The job's live output claim in the clean room, if it is this job's own."""
        _, namespace = batch_job_of(body)
        live = await self.kube.get(*PVC, output_claim_name(body["metadata"]["name"]), namespace)
        return live if made_for(live, body) else None

    async def manifest_pod(self, body: Manifest) -> Manifest | None:
        """The pod making the manifest of the job's output, if it is the operator's: labelled
        for this job and as a manifest step, owned by no controller (no Job's worker), running
        the operator's image. Nobody else writes pods in a clean room."""
        name, room = batch_job_of(body)
        live = await self.kube.get("v1", "Pod", manifest_pod_name(name), room)
        if live is None or not made_for(live, body):
            return None
        metadata, spec = live["metadata"], live.get("spec") or {}
        images = {container.get("image") for container in spec.get("containers") or []}
        own = (
            (metadata.get("labels") or {}).get(MANIFEST_LABEL) == "true"
            and not metadata.get("ownerReferences")
            and images == {self.rules.operator_image}
        )
        return live if own else None

    async def claim_writers(self, body: Manifest, claim: str) -> list[str]:
        """The clean room's pods that may still write to the job's output claim."""
        name, room = batch_job_of(body)
        pods = await self.kube.list("v1", "Pod", room)
        return claim_writers(pods, claim, manifest_pod=manifest_pod_name(name))

    async def start_manifest(self, body: Manifest, job: TrainingJob, claim: str) -> None:
        """Run the manifest step: the operator's image, the claim mounted read-only. A pod of
        that name that is not the operator's own (say, of the image before an upgrade) is
        deleted first; the step starts on a later call."""
        desired = manifest_pod(job, claim, self.rules.operator_image, self.rules.gpu_toleration_key)
        metadata = desired["metadata"]
        stale = await self.kube.get("v1", "Pod", metadata["name"], metadata["namespace"])
        if stale is None:
            await self.kube.create(desired)
        elif made_for(stale, body) and not stale["metadata"].get("deletionTimestamp"):
            uid = stale["metadata"]["uid"]
            await self.kube.delete("v1", "Pod", metadata["name"], metadata["namespace"], uid=uid)

    async def remove_manifest_pod(self, body: Manifest) -> None:
        """Delete the manifest step's pod (it holds the claim while it exists)."""
        live = await self.manifest_pod(body)
        if live is not None and not live["metadata"].get("deletionTimestamp"):
            metadata = live["metadata"]
            await self.kube.delete(
                "v1", "Pod", metadata["name"], metadata["namespace"], uid=metadata["uid"]
            )

    async def release(
        self, body: Manifest, volume: str, claim: str, namespace: str, size: str
    ) -> Manifest | None:
        """Move `volume` from the job's clean-room claim to `claim` in `namespace`, one step per
        call: retain the volume, delete the clean-room claim, point the volume at the new claim,
        create that claim. The consumer's claim once it exists, else None (call again)."""
        _, room = batch_job_of(body)
        room_claim = output_claim_name(body["metadata"]["name"])
        live = await self.kube.get(*PV, volume)
        if live is None:
            raise KubeError(404, "VolumeLost", f"PersistentVolume {volume} is gone")
        if live["spec"].get("persistentVolumeReclaimPolicy") != "Retain":
            await self.kube.merge_patch(
                *PV, volume, {"spec": {"persistentVolumeReclaimPolicy": "Retain"}}
            )
        own = await self.claim(body)
        if own is not None:
            await self._let_go(body, own)
            return None
        if claims_volume(live, room, room_claim):
            reference = {"namespace": namespace, "name": claim, "uid": None}
            patch = {"spec": {"claimRef": {**reference, "resourceVersion": None}}}
            live = await self.kube.merge_patch(*PV, volume, patch)
        elif not claims_volume(live, namespace, claim):
            raise KubeError(409, "VolumeTaken", f"PersistentVolume {volume} is bound elsewhere")
        existing = await self.kube.get(*PVC, claim, namespace)
        if existing is None:
            if not reservation_seen(live, namespace, claim):
                return None  # the binder has yet to see the volume reserved: call again
            desired = released_claim(claim, namespace, size, self.rules.output_storage_class)
            existing = await self.kube.create(desired)
        if (existing.get("spec") or {}).get("volumeName") not in (None, volume):
            raise KubeError(409, "ClaimNameTaken", f"claim {namespace}/{claim} exists already")
        return existing

    async def _let_go(self, body: Manifest, own: Manifest) -> None:
        """Delete the clean-room claim, the manifest step's pod and the finished batch Job whose
        pods still hold it (the claim is protected while any pod names it)."""
        await self.remove_manifest_pod(body)
        name, room = batch_job_of(body)
        batch = await self.kube.get("batch/v1", "Job", name, room)
        if batch is not None and made_for(batch, body):
            await self.kube.delete("batch/v1", "Job", name, room, uid=batch["metadata"]["uid"])
        if not own["metadata"].get("deletionTimestamp"):
            await self.kube.delete(*PVC, own["metadata"]["name"], room, uid=own["metadata"]["uid"])

    async def delete(self, body: Manifest, volume: str | None) -> bool:
        """Erase the output, not only its objects: the volume's reclaim policy becomes Delete
        (and it is labelled DISCARDED_LABEL) before its clean-room claim goes, so that once the
        claim is gone the PV controller has its storage delete it (a CSI driver's DeleteVolume,
        an in-tree deleter; on the hub the hostPath deleter removes the directory) and then
        removes the volume. A volume whose storage cannot delete it ends Failed: its object is
        deleted then, and its bytes are left to the storage's own erasure (say so in the hub's
        storage class). True once the claim and the volume are gone: until then call again (the
        storage may fail only after this call; `sweep_discarded` catches any left behind)."""
        _, room = batch_job_of(body)
        room_claim = output_claim_name(body["metadata"]["name"])
        own = await self.claim(body)
        volume = volume or ((own or {}).get("spec") or {}).get("volumeName")
        live = await self.kube.get(*PV, volume) if volume else None
        ours = live is not None and claims_volume(live, room, room_claim)
        if live is not None and ours:
            labels = live["metadata"].get("labels") or {}
            reclaim = live["spec"].get("persistentVolumeReclaimPolicy")
            if reclaim != "Delete" or labels.get(DISCARDED_LABEL) != "true":
                patch = {
                    "metadata": {"labels": {DISCARDED_LABEL: "true"}},
                    "spec": {"persistentVolumeReclaimPolicy": "Delete"},
                }
                await self.kube.merge_patch(*PV, live["metadata"]["name"], patch)
            await self._erase_failed(live)
        if own is not None:
            await self._let_go(body, own)
        return own is None and not ours

    async def sweep_discarded(self) -> int:
        """Delete the object of every discarded output's volume its storage failed to delete
        (whatever discarded it: a job deleted, its retention passed, a rejection, a job gone);
        how many."""
        failed = 0
        for live in await self.kube.list(*PV, None, f"{DISCARDED_LABEL}=true"):
            failed += await self._erase_failed(live)
        return failed

    async def _erase_failed(self, live: Manifest) -> bool:
        """Delete a discarded output's volume whose storage could not delete it (Failed),
        logging that its bytes are the storage's to erase; whether it was one."""
        status = live.get("status") or {}
        if status.get("phase") != "Failed":
            return False
        logger.warning(
            "PersistentVolume %s of a discarded output could not be deleted by its storage "
            "(%s): its object is deleted, its bytes are the storage's to erase",
            live["metadata"]["name"],
            status.get("message") or "no message",
        )
        await self.kube.delete(*PV, live["metadata"]["name"], uid=live["metadata"]["uid"])
        return True
