"""What a TrainingJob gone without the operator's finalizer left in its clean room (the finalizer
removed by a path the API server's policy does not cover: hub staff, the policy itself gone).
Nothing meters or ends its workers any more, so the operator does, as for a job deleted the
ordinary way: its workers are stopped at once and metered to that moment, on the contract's
ledger (and so in its usage); its output is discarded, on the ledger too; then its pods, Service
and claim go. The sweep runs for a job's names when that job is seen gone, before a new job of
the same name starts, when the operator takes the lead and every ORPHAN_SWEEP_SECONDS after.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from tds_operator import API_VERSION
from tds_operator.api.resources import DATA_CONTRACT, TRAINING_JOB, Manifest
from tds_operator.audit.chain import AuditEntry, AuditEvent
from tds_operator.audit.events import (
    OUTPUT_DELETED,
    job_end_event,
    job_key,
    output_event,
    output_steps,
    recorded_output_state,
    usage_event,
)
from tds_operator.audit.usage import usage_by_job
from tds_operator.desired.joint_room import JOINT_ROOM_LABEL
from tds_operator.desired.orphans import Orphan, gpus_per_worker, orphans_of
from tds_operator.desired.trainingjob import JOB_NAME_LABEL, JOB_NAMESPACE_LABEL
from tds_operator.handlers.context import utcnow
from tds_operator.handlers.joint_room import close_joint_room
from tds_operator.handlers.trainingjob.parts import JobParts
from tds_operator.policy.metering import gpu_seconds

logger = logging.getLogger(__name__)

ORPHAN_SWEEP_SECONDS = 60.0
"""How often the leader sweeps every clean room for what gone TrainingJobs left."""
JOB_GONE = "TrainingJobGone"
"""The reason recorded for the stop, and the output's discard, of a job gone without its
finalizer."""
JOB_END_KINDS = ("JobSucceeded", "JobFailed", "JobStopped")

WORKLOADS = (
    ("batch/v1", "Job"),
    ("v1", "Pod"),
    ("v1", "Service"),
    ("v1", "PersistentVolumeClaim"),
)


async def keep_sweeping(parts: JobParts, leading: Callable[[], bool]) -> None:
    """Sweep every clean room at once, then every ORPHAN_SWEEP_SECONDS, while `leading`. A
    sweep that fails (the API server or a ledger unreachable) is logged and tried again on
    the next round: what it did not end stays for it."""
    while leading():
        try:
            found = await sweep(parts)
            if found:
                logger.info("swept what %d gone TrainingJobs left", len(found))
            # Discarded outputs whose storage failed to erase them after their discard's
            # last look: their objects go (the bytes are the storage's to erase).
            await parts.outputs.sweep_discarded()
        except Exception:
            logger.exception("sweeping the clean rooms failed; trying again later")
        await asyncio.sleep(ORPHAN_SWEEP_SECONDS)


async def sweep(parts: JobParts, selector: str | None = None) -> list[Orphan]:
    """Find the gone TrainingJobs whose objects (those matching `selector` too, if given) are
    left in their clean rooms, and end each; the orphans ended."""
    kube = parts.kube
    labels = JOB_NAME_LABEL if selector is None else f"{JOB_NAME_LABEL},{selector}"
    objects: list[Manifest] = []
    for api_version, kind in WORKLOADS:
        objects.extend(await kube.list(api_version, kind, None, labels))
    # A joint room with none of them left: its namespace alone says whose it is.
    rooms = await kube.list("v1", "Namespace", None, f"{JOINT_ROOM_LABEL}=true,{labels}")
    objects.extend(r for r in rooms if not r["metadata"].get("deletionTimestamp"))
    if not objects:
        return []
    # Listed after the objects: a job created meanwhile is live, never taken for gone.
    jobs = await kube.list(API_VERSION, TRAINING_JOB)
    found = orphans_of(objects, jobs)
    for orphan in found:
        await end(parts, orphan)
    return found


async def end(parts: JobParts, orphan: Orphan) -> None:
    """Stop the gone job's workers, meter them to now on the record, discard its output on
    the record, then remove what is left of it."""
    body, batch_run = orphan.body(), parts.batch_run
    logger.warning(
        "TrainingJob %s/%s (uid %s) of contract %s is gone without its final figure: its "
        "workers are stopped and metered, its output discarded",
        orphan.namespace, orphan.name, orphan.uid or "unknown", orphan.contract,
    )  # fmt: skip
    pods = await batch_run.pods(body)
    ended = await batch_run.stop(body, pods)
    used = gpu_seconds(ended, gpus_per_worker(pods), utcnow())
    claim = await parts.outputs.claim(body)
    volume = ((claim or {}).get("spec") or {}).get("volumeName")

    # On the record before anything is let go: the pods' metering finalizer holds their
    # finish until then, and a failed append leaves everything for the next sweep. A joint
    # job's on each contract's ledger: each is charged its full GPU-seconds.
    for contract in orphan.contracts or (orphan.contract,):
        each = replace(orphan, contract=contract)

        def events(recorded: list[AuditEntry], each: Orphan = each) -> list[AuditEvent]:
            return orphan_events(each, recorded, used, bool(pods), claim)

        await parts.op.ledger.record_from(contract, events, urgent=True)
    if claim is not None:
        await parts.outputs.delete(body, volume)
    await batch_run.release_pods(body)
    await batch_run.remove_rendezvous(body)
    if orphan.contracts:
        await close_joint_room(parts.op, body)
    for contract in orphan.contracts or (orphan.contract,):
        parts.op.enqueue(DATA_CONTRACT, contract)


def orphan_events(
    orphan: Orphan, recorded: list[AuditEntry], used: int, ran: bool, claim: Manifest | None
) -> list[AuditEvent]:
    """The ledger entries of a gone job not yet recorded: its usage up to now and its stop (if
    its workers ran and no end is recorded), its output's discard (if it has one not released
    or deleted already). A job whose uid is unknown (objects made before they carried it) is
    found by its name among the jobs the ledger admitted, the latest of that name."""
    uid = orphan.uid or _admitted_uid(orphan, recorded)
    if not uid:
        return []
    now, contract = utcnow(), orphan.contract
    found: list[AuditEvent] = []
    already = usage_by_job(recorded).get(uid, 0)
    ended = any(e.kind in JOB_END_KINDS and e.details.get("uid") == uid for e in recorded)
    # A recorded end holds the final figure: pods still terminating after it add nothing.
    if used > already and not ended:
        key = job_key(orphan.namespace, orphan.name)
        found.append(usage_event(contract, uid, key, used, already, now))
    if ran and not ended:
        found.append(job_end_event(contract, uid, "Stopped", JOB_GONE, max(used, already), now))
    state = recorded_output_state(output_steps(recorded, uid))
    if state in ("Writable", "Quarantined") or (state is None and claim is not None):
        volume = ((claim or {}).get("spec") or {}).get("volumeName")
        details = {"reason": JOB_GONE, "volume": volume}
        found.append(output_event(contract, uid, OUTPUT_DELETED, details, now))
    return found


def _admitted_uid(orphan: Orphan, recorded: list[AuditEntry]) -> str:
    key = job_key(orphan.namespace, orphan.name)
    uids = [e.details.get("uid") for e in recorded if e.details.get("job") == key]
    return str(uids[-1]) if uids and uids[-1] else ""


def of_name(namespace: str, name: str) -> str:
    """A label selector of the clean-room objects made for TrainingJobs `namespace/name`."""
    return f"{JOB_NAMESPACE_LABEL}={namespace},{JOB_NAME_LABEL}={name}"
