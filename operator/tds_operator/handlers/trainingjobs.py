"""TrainingJob reconciler: admit against the contract, run in the clean room, meter, stop.

Admission happens once per job, under a per-contract lock so that two jobs cannot both take the
last GPUs. Enforcement happens on every reconcile: the moment the contract is not Active, the
batch Job is deleted and the TrainingJob ends as Stopped with the contract's reason.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
from pydantic import ValidationError

from tds_operator import API_VERSION
from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import DataSpace
from tds_operator.api.resources import DATA_CONTRACT, TRAINING_JOB
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.audit.chain import AuditEntry, AuditEvent
from tds_operator.audit.store import AuditLedger
from tds_operator.audit.usage import admitted_jobs, contract_usage, usage_by_job
from tds_operator.desired.cleanroom import clean_room_namespace
from tds_operator.desired.labels import MANAGED_BY
from tds_operator.desired.trainingjob import (
    JOB_NAME_LABEL,
    JOB_NAMESPACE_LABEL,
    batch_job,
    headless_service,
)
from tds_operator.handlers.common import (
    OperatorContext,
    ensure_finalizer,
    record_event,
    remove_finalizer,
    utcnow,
    write_status,
)
from tds_operator.handlers.spaces import validation_message
from tds_operator.kube import Kube, Manifest
from tds_operator.policy.conditions import Decision, set_condition, timestamp
from tds_operator.policy.rules import HubRules
from tds_operator.policy.training import (
    FINISHED_PHASES,
    AdmissionInput,
    admit_training_job,
    gpu_seconds,
    gpus_held,
    next_metering,
    remaining_seconds,
)

logger = logging.getLogger(__name__)

ADMITTED = "Admitted"
FINISHED = "Finished"
# While workers run, usage is metered this often; it is what budget enforcement sees.
METERING_INTERVAL_SECONDS = 2.0
# Usage is also metered at the whole second the budget runs out; wake just after it.
WAKE_MARGIN_SECONDS = 0.05
# The batch Job's deadline ends a job this long after its share of the budget, should the
# operator be unable to stop it sooner (down, or cut off from the API server).
BUDGET_DEADLINE_GRACE_SECONDS = 5 * int(METERING_INTERVAL_SECONDS)
# Usage is recorded in the ledger when it grew by this many GPU-seconds, and when the job ends.
LEDGER_CHECKPOINT_GPU_SECONDS = 3600


def job_key(namespace: str, name: str) -> str:
    """The queue key of a TrainingJob."""
    return f"{namespace}/{name}"


class TrainingJobReconciler:
    """Makes the world match one TrainingJob."""

    def __init__(self, ctx: OperatorContext, ledger: AuditLedger, rules: HubRules) -> None:
        self.ctx = ctx
        self.kube: Kube = ctx.kube
        self.ledger = ledger
        self.rules = rules
        self._admission_locks: dict[str, asyncio.Lock] = {}

    async def __call__(self, key: str) -> float | None:
        namespace, name = key.split("/", 1)
        body = await self.kube.get(API_VERSION, TRAINING_JOB, name, namespace)
        if body is None:
            return None
        status = body.get("status") or {}
        if body["metadata"].get("deletionTimestamp"):
            if status.get("phase") not in FINISHED_PHASES and status.get("job"):
                await self._stop(body, Decision.deny("Deleted", "the TrainingJob was deleted"))
            await self._delete_workload(body)
            await remove_finalizer(self.kube, body)
            return None
        await ensure_finalizer(self.kube, body)
        try:
            job = TrainingJob.model_validate(body)
        except ValidationError as error:
            await self._deny(body, Decision.deny("InvalidSpec", validation_message(error)))
            return None
        if status.get("phase") in FINISHED_PHASES:
            return None
        contract_body = await self.kube.get(API_VERSION, DATA_CONTRACT, job.spec.contract)
        contract_phase = ((contract_body or {}).get("status") or {}).get("phase")
        if status.get("phase") in (None, "Pending"):
            admitted = await self._admit(body, job, contract_body)
            if not admitted:
                return None
            body = await self.kube.get(API_VERSION, TRAINING_JOB, name, namespace) or body
        if contract_phase != "Active" or _revoked(contract_body):
            await self._stop(body, _contract_stop_reason(contract_body))
            return None
        assert contract_body is not None
        return await self._run(body, job, DataContract.model_validate(contract_body))

    # --- Admission ----------------------------------------------------------------------------

    async def _admit(
        self, body: Manifest, job: TrainingJob, contract_body: Manifest | None
    ) -> bool:
        contract_name = job.spec.contract
        lock = self._admission_locks.setdefault(contract_name, asyncio.Lock())
        async with lock:
            uid = body["metadata"]["uid"]
            chain = (await self.ledger.load(contract_name)).entries
            if uid in admitted_jobs(chain):
                decision = Decision.allow(ADMITTED, "admitted (recorded in the audit ledger)")
            else:
                decision = await self.decide(job, body["metadata"]["uid"], contract_body, chain)
                await self.ledger.record(
                    contract_name,
                    [
                        AuditEvent(
                            id=f"job/{uid}/{'admitted' if decision.allowed else 'denied'}",
                            kind="JobAdmitted" if decision.allowed else "JobDenied",
                            contract=contract_name,
                            actor="tds-operator",
                            at=utcnow(),
                            details={
                                "uid": uid,
                                "job": job_key(
                                    job.metadata.namespace or "", job.metadata.name or ""
                                ),
                                "reason": decision.reason,
                                "gpus": job.spec.total_gpus,
                            },
                        )
                    ],
                )
            if not decision.allowed:
                await self._deny(body, decision)
                return False
            await self._write(body, phase="Admitted", condition=(ADMITTED, decision))
        await record_event(self.kube, body, reason=ADMITTED, message=decision.message)
        self.ctx.enqueue(DATA_CONTRACT, contract_name)
        return True

    async def decide(
        self,
        job: TrainingJob,
        uid: str,
        contract_body: Manifest | None,
        chain: list[AuditEntry] | None = None,
    ) -> Decision:
        """Whether the job may run under its contract now: the webhook's and the reconciler's
        answer alike."""
        if chain is None:
            chain = (await self.ledger.load(job.spec.contract)).entries
        contract = DataContract.model_validate(contract_body) if contract_body else None
        jobs = await self.kube.list(API_VERSION, TRAINING_JOB)
        usage = contract_usage(chain, jobs)
        return admit_training_job(
            AdmissionInput(
                job=job.spec,
                namespace=job.metadata.namespace or "",
                contract=contract,
                contract_phase=((contract_body or {}).get("status") or {}).get("phase"),
                gpus_held_by_others=gpus_held(jobs, job.spec.contract, except_uid=uid),
                jobs_admitted=int(usage["jobs"]),
                gpu_hours_used=float(usage["gpuHours"]),
            )
        )

    async def _deny(self, body: Manifest, decision: Decision) -> None:
        await self._write(body, phase="Denied", condition=(ADMITTED, decision))
        await record_event(
            self.kube, body, reason=decision.reason, message=decision.message, warning=True
        )

    # --- Running ------------------------------------------------------------------------------

    async def _run(self, body: Manifest, job: TrainingJob, contract: DataContract) -> float | None:
        namespace = clean_room_namespace(job.spec.contract)
        name = job.metadata.name or ""
        status = body.get("status") or {}
        batch = await self.kube.get("batch/v1", "Job", name, namespace)
        if batch is None:
            if status.get("job"):
                await self._finish(
                    body,
                    "Failed",
                    Decision.deny("JobLost", f"batch Job {namespace}/{name} vanished"),
                )
                return None
            if await self.kube.get("v1", "Namespace", namespace) is None:
                return 1.0  # the contract reconciler is still opening the clean room
            provider = await self._provider(contract)
            deadline = remaining_seconds(
                job.spec, _budget_left(contract) / 3600, BUDGET_DEADLINE_GRACE_SECONDS
            )
            await self.kube.apply(headless_service(job))
            batch = await self.kube.apply(batch_job(job, contract, provider, self.rules, deadline))
        pods = await self._pods(body)
        now = utcnow()
        used = gpu_seconds(pods, job.spec.gpus_per_worker, now)
        outcome = _batch_outcome(batch, pods)
        if outcome is not None:
            phase, decision = outcome
            await self._finish(body, phase, decision, used=used)
            return None
        running = any((p.get("status") or {}).get("phase") == "Running" for p in pods)
        phase = "Running" if running else "Admitted"
        await self._write(
            body,
            phase=phase,
            used=used,
            extra={"job": name, "cleanRoom": namespace, **_start_time(status, pods)},
        )
        await self._checkpoint(body, used)
        if phase == "Running" and status.get("phase") != "Running":
            await record_event(
                self.kube, body, reason="Running", message=f"workers run in {namespace}"
            )
        if not running:
            return None
        # What the contract has left now: its recorded usage, less this job's part of it as last
        # written, less what this job has used since.
        left = _budget_left(contract) + int(status.get("gpuSeconds") or 0) - used
        workers = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Running")
        wake = next_metering(
            left, workers * job.spec.gpus_per_worker, now, METERING_INTERVAL_SECONDS
        )
        return wake + WAKE_MARGIN_SECONDS

    async def _provider(self, contract: DataContract) -> DataSpace | None:
        provider_body = await self.kube.get(API_VERSION, "DataSpace", contract.spec.provider.space)
        return DataSpace.model_validate(provider_body) if provider_body else None

    async def _pods(self, body: Manifest) -> list[Manifest]:
        contract = (body.get("spec") or {}).get("contract", "")
        selector = (
            f"{JOB_NAMESPACE_LABEL}={body['metadata']['namespace']},"
            f"{JOB_NAME_LABEL}={body['metadata']['name']}"
        )
        return await self.kube.list("v1", "Pod", clean_room_namespace(contract), selector)

    async def _checkpoint(self, body: Manifest, used: int) -> None:
        """Record usage in the ledger when it grew by a checkpoint's worth."""
        contract = body["spec"]["contract"]
        event = await self._usage_event(body, used, final=False)
        if event is not None:
            await self.ledger.record(contract, [event])

    async def _usage_event(self, body: Manifest, used: int, *, final: bool) -> AuditEvent | None:
        """The ledger entry of the usage not yet recorded (at a checkpoint, or at the end)."""
        contract = body["spec"]["contract"]
        uid = body["metadata"]["uid"]
        recorded = usage_by_job((await self.ledger.load(contract)).entries).get(uid, 0)
        if used <= recorded or (not final and used - recorded < LEDGER_CHECKPOINT_GPU_SECONDS):
            return None
        return AuditEvent(
            id=f"usage/{uid}/{used}",
            kind="UsageMetered",
            contract=contract,
            actor="tds-operator",
            at=utcnow(),
            details={
                "uid": uid,
                "job": job_key(body["metadata"]["namespace"], body["metadata"]["name"]),
                "gpuSeconds": used,
                "increment": used - recorded,
            },
        )

    # --- Ending -------------------------------------------------------------------------------

    async def _stop(self, body: Manifest, decision: Decision) -> None:
        """Stop the workers now: meter up to this instant, then delete the batch Job."""
        used = gpu_seconds(await self._pods(body), _gpus_per_worker(body), utcnow())
        name, namespace = _workload(body)
        await self.kube.delete("batch/v1", "Job", name, namespace)
        await self._finish(body, "Stopped", decision, used=used)
        # The rendezvous Service holds no GPU: it goes once the stop is recorded.
        await self.kube.delete("v1", "Service", name, namespace)

    async def _delete_workload(self, body: Manifest) -> None:
        name, namespace = _workload(body)
        await self.kube.delete("batch/v1", "Job", name, namespace)
        await self.kube.delete("v1", "Service", name, namespace)

    async def _finish(
        self, body: Manifest, phase: str, decision: Decision, *, used: int | None = None
    ) -> None:
        events: list[AuditEvent] = []
        if used is not None:
            # The status never goes down; the ledger records the same final figure.
            used = max(used, int((body.get("status") or {}).get("gpuSeconds") or 0))
            usage = await self._usage_event(body, used, final=True)
            events.extend([usage] if usage is not None else [])
        contract = (body.get("spec") or {}).get("contract", "")
        uid = body["metadata"]["uid"]
        events.append(
            AuditEvent(
                id=f"job/{uid}/{phase.lower()}",
                kind=f"Job{phase}",
                contract=contract,
                actor="tds-operator",
                at=utcnow(),
                details={"uid": uid, "reason": decision.reason, "gpuSeconds": used or 0},
            )
        )
        # One append: the final usage and the end of the job are recorded together.
        await self.ledger.record(contract, events)
        await self._write(
            body,
            phase=phase,
            used=used,
            condition=(FINISHED, decision),
            extra={"completionTime": timestamp(utcnow())},
        )
        await record_event(
            self.kube,
            body,
            reason=decision.reason,
            message=f"{phase}: {decision.message}",
            warning=phase != "Succeeded",
        )
        self.ctx.enqueue(DATA_CONTRACT, contract)

    async def _write(
        self,
        body: Manifest,
        *,
        phase: str,
        used: int | None = None,
        condition: tuple[str, Decision] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        status = body.get("status") or {}
        generation = body["metadata"].get("generation")
        conditions = status.get("conditions") or []
        if condition is not None:
            kind, decision = condition
            conditions = set_condition(
                conditions,
                type=kind,
                status=decision.allowed if kind == ADMITTED else phase == "Succeeded",
                reason=decision.reason,
                message=decision.message,
                generation=generation,
                now=utcnow(),
            )
        new_status: dict[str, Any] = {
            "phase": phase,
            "conditions": conditions,
            "observedGeneration": generation,
            **(extra or {}),
        }
        if used is not None:
            new_status["gpuSeconds"] = max(used, int(status.get("gpuSeconds") or 0))
        if status.get("completionTime"):
            new_status.pop("completionTime", None)
        await write_status(self.kube, body, new_status)


def _workload(body: Manifest) -> tuple[str, str]:
    """Name and namespace of a TrainingJob's batch Job and Service in the clean room."""
    contract = (body.get("spec") or {}).get("contract", "")
    return body["metadata"]["name"], clean_room_namespace(contract)


def _budget_left(contract: DataContract) -> float:
    """GPU-seconds of the contract's budget that its status does not show as used."""
    usage = contract.status.usage if contract.status else None
    return contract.spec.compute.max_gpu_hours * 3600 - (usage.gpu_hours if usage else 0.0) * 3600


def _gpus_per_worker(body: Manifest) -> int:
    return int((body.get("spec") or {}).get("gpusPerWorker", 1))


def _start_time(status: Manifest, pods: list[Manifest]) -> dict[str, str]:
    if status.get("startTime"):
        return {}
    starts = [(p.get("status") or {}).get("startTime") for p in pods]
    known = sorted(s for s in starts if s)
    return {"startTime": known[0]} if known else {}


def _revoked(contract_body: Manifest | None) -> bool:
    """Whether a party has revoked the contract: final, so it stops jobs before the contract's
    own reconcile has reported it."""
    return bool(((contract_body or {}).get("spec") or {}).get("revoked"))


def _contract_stop_reason(contract_body: Manifest | None) -> Decision:
    """Why the contract no longer lets jobs run, from its Active condition."""
    if contract_body is None:
        return Decision.deny("ContractDeleted", "the DataContract no longer exists")
    if _revoked(contract_body) and (contract_body.get("status") or {}).get("phase") != "Revoked":
        return Decision.deny(
            "Revoked",
            f"DataContract {contract_body['metadata']['name']} is Revoked: spec.revoked is "
            "true: a party has ended the contract for good",
        )
    status = contract_body.get("status") or {}
    active = next((c for c in status.get("conditions") or [] if c["type"] == "Active"), None)
    reason = (active or {}).get("reason") or "ContractNotActive"
    message = (active or {}).get("message") or "the contract is not Active"
    return Decision.deny(
        reason,
        f"DataContract {contract_body['metadata']['name']} is {status.get('phase')}: {message}",
    )


def _batch_outcome(batch: Manifest, pods: list[Manifest]) -> tuple[str, Decision] | None:
    """Succeeded or Failed (with the worker's own reason) once the batch Job has finished."""
    for condition in (batch.get("status") or {}).get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return "Succeeded", Decision.allow("Completed", "all workers completed")
        if condition.get("type") == "Failed":
            detail = _worker_failure(pods)
            return "Failed", Decision.deny(
                condition.get("reason") or "JobFailed",
                f"{condition.get('message') or 'the batch Job failed'}"
                + (f"; {detail}" if detail else ""),
            )
    return None


def _worker_failure(pods: list[Manifest]) -> str:
    for pod in pods:
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = (container.get("state") or {}).get("terminated") or {}
            if terminated.get("exitCode"):
                index = (
                    pod["metadata"]
                    .get("annotations", {})
                    .get("batch.kubernetes.io/job-completion-index", "?")
                )
                return (
                    f"worker {index} exited with code {terminated['exitCode']}"
                    f" ({terminated.get('reason', '')}: {terminated.get('message', '')})"
                )
    return ""


def _key_of_workload(labels: Any) -> str | None:
    namespace, name = labels.get(JOB_NAMESPACE_LABEL), labels.get(JOB_NAME_LABEL)
    return job_key(namespace, name) if namespace and name else None


@kopf.on.event("tds.io", "v1alpha1", "trainingjobs")
async def training_job_changed(
    name: str, namespace: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any
) -> None:
    """A TrainingJob changed: reconcile it, and its contract (usage, running jobs)."""
    memo.ctx.enqueue(TRAINING_JOB, job_key(namespace or "", name))
    contract = (body.get("spec") or {}).get("contract")
    if contract:
        memo.ctx.enqueue(DATA_CONTRACT, contract)


@kopf.on.event(
    "batch/v1", "jobs", labels={MANAGED_BY: "tds-operator", JOB_NAME_LABEL: kopf.PRESENT}
)
async def batch_job_changed(labels: Any, memo: kopf.Memo, **_: Any) -> None:
    """A clean-room batch Job changed: reconcile its TrainingJob."""
    key = _key_of_workload(labels)
    if key:
        memo.ctx.enqueue(TRAINING_JOB, key)


@kopf.on.event("v1", "pods", labels={MANAGED_BY: "tds-operator", JOB_NAME_LABEL: kopf.PRESENT})
async def worker_pod_changed(labels: Any, memo: kopf.Memo, **_: Any) -> None:
    """A worker pod started or stopped: reconcile its TrainingJob (phase, metering)."""
    key = _key_of_workload(labels)
    if key:
        memo.ctx.enqueue(TRAINING_JOB, key)


@kopf.on.event("tds.io", "v1alpha1", "datacontracts", id="jobs-of-contract")
async def contract_changed_for_jobs(name: str, memo: kopf.Memo, **_: Any) -> None:
    """A contract changed (revoked, expired, exhausted...): its jobs enforce it at once."""
    ctx: OperatorContext = memo.ctx
    for job in await ctx.kube.list(API_VERSION, TRAINING_JOB):
        if (job.get("spec") or {}).get("contract") == name:
            ctx.enqueue(
                TRAINING_JOB, job_key(job["metadata"]["namespace"], job["metadata"]["name"])
            )
