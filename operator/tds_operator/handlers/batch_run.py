"""Act on a TrainingJob's run in the clean room: its batch Job, rendezvous Service, pods.

Objects are looked up by name, but only those labelled with this very TrainingJob's uid count as
its own: a namespace shared by name with another contract's must never hand over, or lose, a Job,
and a later TrainingJob of the same name (the earlier one deleted) adopts none of what the earlier
one left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from tds_operator import API_VERSION
from tds_operator.api.jobcontracts import contracts_of
from tds_operator.api.resources import TRAINING_JOB, Manifest
from tds_operator.api.trainingjob import TrainingJob, of_contract
from tds_operator.desired.cleanroom import clean_room_namespace, cluster_ip, job_room
from tds_operator.desired.labels import controlled_by
from tds_operator.desired.outputs import MANIFEST_LABEL, output_claim_name, with_output_volume
from tds_operator.desired.queues import queued_batch_job
from tds_operator.desired.trainingjob import (
    JOB_NAME_LABEL,
    JOB_NAMESPACE_LABEL,
    JOB_UID_LABEL,
    METERING_FINALIZER,
    batch_job,
    rendezvous_service,
)
from tds_operator.kube import Kube, KubeError
from tds_operator.policy.rules import HubRules


def batch_job_of(body: Manifest) -> tuple[str, str]:
    """Name and namespace of a TrainingJob's batch Job and Service in its clean room, a joint
    job's own room (read from the raw object, so that it works for a job whose spec no longer
    parses)."""
    metadata = body["metadata"]
    contracts = contracts_of(body.get("spec") or {})
    return metadata["name"], job_room(contracts, metadata.get("uid") or "")


def joint(body: Manifest) -> bool:
    """Whether a TrainingJob (as read) names several contracts."""
    return len(contracts_of(body.get("spec") or {})) > 1


def made_for(live: Manifest | None, body: Manifest) -> bool:
    """Whether a clean-room object was made for this very TrainingJob: it carries the job's uid
    label. An object made before objects carried the uid counts by the job's namespace and name
    labels, if it is no older than the job (an earlier job of the same name made it before)."""
    if live is None:
        return False
    live_metadata = live.get("metadata") or {}
    labels = live_metadata.get("labels") or {}
    metadata = body["metadata"]
    if JOB_UID_LABEL in labels:
        return bool(metadata.get("uid")) and labels[JOB_UID_LABEL] == metadata.get("uid")
    return (
        labels.get(JOB_NAMESPACE_LABEL) == metadata["namespace"]
        and labels.get(JOB_NAME_LABEL) == metadata["name"]
        and str(live_metadata.get("creationTimestamp") or "")
        >= str(metadata.get("creationTimestamp") or "")
    )


def with_pods(jobs: list[Manifest], pods: list[Manifest]) -> list[tuple[Manifest, list[Manifest]]]:
    """Each TrainingJob with the worker pods made for it."""
    return [(job, [pod for pod in pods if made_for(pod, job)]) for job in jobs]


class BatchRun:
    """The clean-room objects that run one TrainingJob's workers."""

    def __init__(self, kube: Kube, queue: str | None = None) -> None:
        """`queue`: the clean room's Kueue LocalQueue its batch Jobs wait in (created suspended),
        or None to start them at once."""
        self.kube = kube
        self.queue = queue

    async def batch_job(self, body: Manifest) -> Manifest | None:
        """The live batch Job, if there is one."""
        name, namespace = batch_job_of(body)
        live = await self.kube.get("batch/v1", "Job", name, namespace)
        return live if made_for(live, body) else None

    async def clean_room_ready(self, body: Manifest, contract_uid: str) -> bool:
        """Whether the contract's clean room exists and was made for this very contract (a
        joint job's room: for this very job)."""
        live = await self.kube.get("v1", "Namespace", batch_job_of(body)[1])
        if len(contracts_of(body.get("spec") or {})) > 1:
            return made_for(live, body)
        return controlled_by(live, contract_uid)

    async def start(
        self,
        job: TrainingJob,
        rules: HubRules,
        deadline_seconds: int,
        datasets: Mapping[str, str],
        output_claim: str | None = None,
    ) -> Manifest:
        """Apply the rendezvous Service, then the batch Job with its cluster IP; the live batch
        Job. `datasets` maps each dataset the job reads to its IP and port."""
        service = await self.kube.apply(rendezvous_service(job))
        master = cluster_ip(service)
        if master is None:  # the API server allocates one to every ClusterIP Service
            raise RuntimeError(f"the rendezvous Service of {job.metadata.name} has no cluster IP")
        desired = batch_job(job, rules, deadline_seconds, str(master), datasets)
        if output_claim is not None:
            desired = with_output_volume(desired, output_claim)
        if self.queue is not None:
            desired = queued_batch_job(desired, self.queue)
        return await self.kube.apply(desired)

    async def pods(self, body: Manifest) -> list[Manifest]:
        """The job's worker pods (not the manifest step of its output)."""
        _, namespace = batch_job_of(body)
        selector = (
            f"{JOB_NAMESPACE_LABEL}={body['metadata']['namespace']},"
            f"{JOB_NAME_LABEL}={body['metadata']['name']},!{MANIFEST_LABEL}"
        )
        pods = await self.kube.list("v1", "Pod", namespace, selector)
        return [pod for pod in pods if made_for(pod, body)]

    async def leftovers(self, body: Manifest) -> list[str]:
        """The clean-room objects of the job's names (batch Job, rendezvous Service, output
        claim) made for another TrainingJob: an earlier one of the same name, gone without
        leaving (its finalizer removed by hand). Its own objects cannot be made until they go."""
        name, namespace = batch_job_of(body)
        found = []
        for api_version, kind, object_name in (
            ("batch/v1", "Job", name),
            ("v1", "Service", name),
            ("v1", "PersistentVolumeClaim", output_claim_name(name)),
        ):
            live = await self.kube.get(api_version, kind, object_name, namespace)
            if live is not None and not made_for(live, body):
                found.append(f"{kind} {namespace}/{object_name}")
        return found

    async def contract_jobs(self, contract: str) -> list[tuple[Manifest, list[Manifest]]]:
        """Every live TrainingJob of the contract, each with its own worker pods (a joint
        job's in its own room: each of its contracts is charged its full GPU-seconds)."""
        jobs = await self.contract_jobs_in_phase(contract)
        return with_pods(jobs, await self.contract_pods(contract, jobs))

    async def contract_pods(
        self, contract: str, jobs: list[Manifest] | None = None
    ) -> list[Manifest]:
        """Every worker pod in the contract's clean room, and in the rooms of its joint `jobs`
        (its live TrainingJobs, read now if not given)."""
        if jobs is None:
            jobs = await self.contract_jobs_in_phase(contract)
        rooms = [clean_room_namespace(contract)]
        rooms += sorted({batch_job_of(job)[1] for job in jobs if joint(job)})
        pods = []
        for room in rooms:
            pods += await self.kube.list("v1", "Pod", room, f"!{MANIFEST_LABEL}")
        return pods

    async def contract_jobs_in_phase(
        self, contract: str, phase: str | None = None
    ) -> list[Manifest]:
        """The contract's TrainingJobs (only those in `phase`, if given)."""
        return [
            job
            for job in await self.kube.list(
                API_VERSION, TRAINING_JOB, field_selector=of_contract(contract)
            )
            if contract in contracts_of(job.get("spec") or {})
            and (phase is None or (job.get("status") or {}).get("phase") == phase)
        ]

    async def contract_batch_jobs(self, contract: str) -> list[Manifest]:
        """Every batch Job of the contract's TrainingJobs in its clean room (not the manifest
        steps of their outputs)."""
        selector = f"{JOB_NAME_LABEL},!{MANIFEST_LABEL}"
        return await self.kube.list("batch/v1", "Job", clean_room_namespace(contract), selector)

    async def keep_deadline(self, batch: Manifest, seconds: int | None) -> None:
        """Set the batch Job's activeDeadlineSeconds (its backstop) if it moved."""
        if seconds is None or (batch.get("spec") or {}).get("activeDeadlineSeconds") == seconds:
            return
        metadata = batch["metadata"]
        await self.kube.merge_patch(
            "batch/v1",
            "Job",
            metadata["name"],
            {"spec": {"activeDeadlineSeconds": seconds}},
            metadata["namespace"],
        )

    async def stop_workers(self, body: Manifest) -> None:
        """Delete the batch Job (and so its pods)."""
        await self._delete_own("batch/v1", "Job", body)

    async def stop(self, body: Manifest, pods: list[Manifest]) -> list[Manifest]:
        """Delete the batch Job and the worker `pods` (just listed) all at once: without their
        batch Job (gone, or deleted in the background) they would run on until the garbage
        collector came to them, and a pod deleted first does not make the batch Job replace it
        (its backoffLimit of 0 fails it instead). The pods as their deletes left them:
        terminating, held by the metering finalizer, each showing its finish if it had ended by
        then (the Job controller may have ended it first); a pod gone meanwhile, as listed."""
        _, *answers = await asyncio.gather(
            self._stop_batch_job(body, pods), *(self._delete_pod(pod) for pod in pods)
        )
        return [
            answer if answer is not None and answer.get("kind") == "Pod" else listed
            for listed, answer in zip(pods, answers, strict=True)
        ]

    async def _stop_batch_job(self, body: Manifest, pods: list[Manifest]) -> None:
        """Delete the batch Job: the one its pods name as their owner, with no read first; else
        (no pods, or that one is gone) the one of its name made for this job, if any."""
        name, namespace = batch_job_of(body)
        owners = {
            reference["uid"]
            for pod in pods
            for reference in pod["metadata"].get("ownerReferences") or []
            if reference.get("kind") == "Job" and reference.get("name") == name
        }
        for uid in owners:
            if await self.kube.delete("batch/v1", "Job", name, namespace, uid=uid):
                return
        await self.stop_workers(body)

    async def release_pods(self, body: Manifest) -> None:
        """Once the job's final figure is recorded: remove the metering finalizer from its
        worker pods, which may then go."""
        for pod in await self.pods(body):
            await self._release(pod)

    async def _release(self, pod: Manifest) -> None:
        """Remove the metering finalizer from one pod (if it still carries it)."""
        metadata = pod["metadata"]
        finalizers = metadata.get("finalizers") or []
        if METERING_FINALIZER not in finalizers:
            return
        kept = [f for f in finalizers if f != METERING_FINALIZER]
        patch = {"finalizers": kept or None, "resourceVersion": metadata["resourceVersion"]}
        try:
            await self.kube.merge_patch(
                "v1", "Pod", metadata["name"], {"metadata": patch}, metadata["namespace"]
            )
        except KubeError as error:
            if error.status != 404:
                raise

    async def _delete_pod(self, pod: Manifest) -> Manifest | None:
        metadata = pod["metadata"]
        return await self.kube.delete_answered(
            "v1", "Pod", metadata["name"], metadata["namespace"], uid=metadata["uid"]
        )

    async def remove_rendezvous(self, body: Manifest) -> None:
        """Delete the rendezvous Service, which holds no GPU."""
        await self._delete_own("v1", "Service", body)

    async def _delete_own(self, api_version: str, kind: str, body: Manifest) -> None:
        name, namespace = batch_job_of(body)
        live = await self.kube.get(api_version, kind, name, namespace)
        if live is not None and made_for(live, body):
            await self.kube.delete(api_version, kind, name, namespace, uid=live["metadata"]["uid"])
