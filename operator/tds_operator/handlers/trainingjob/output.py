"""A TrainingJob's output volume: opened before its workers start, listed into its manifest once
the job finished, held Quarantined in the clean room until released or its retention passed,
then discarded; every step on the ledger."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from tds_operator import API_VERSION
from tds_operator.api.datacontract import DataContract
from tds_operator.api.jobcontracts import first_contract_of
from tds_operator.api.output import OutputState, OutputStatus
from tds_operator.api.resources import DATA_CONTRACT, Manifest
from tds_operator.api.rfc3339 import parse
from tds_operator.api.terms import ModelExport
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.audit.chain import AuditEntry
from tds_operator.audit.events import (
    MANIFEST_BYTES_FIELD,
    MANIFEST_FIELD,
    MANIFEST_FILES_FIELD,
    MANIFEST_MESSAGE_FIELD,
    OUTPUT_CREATED,
    OUTPUT_DELETED,
    OUTPUT_QUARANTINED,
    OUTPUT_RELEASED,
    job_key,
    output_event,
    output_steps,
    recorded_output_state,
)
from tds_operator.desired.outputs import output_claim_name
from tds_operator.handlers.context import utcnow
from tds_operator.handlers.trainingjob.parts import JobParts
from tds_operator.handlers.trainingjob.report import JobReport
from tds_operator.policy.conditions import timestamp
from tds_operator.policy.job_run import WAKE_MARGIN_SECONDS
from tds_operator.policy.manifest import ManifestSummary, manifest_outcome, writers_overdue
from tds_operator.policy.outputs import UNLISTED_UNDER_DENIED, lists_output, quarantine_ends

OUTPUT_JOB_DELETED = "TrainingJobDeleted"
OUTPUT_RETENTION_PASSED = "RetentionPassed"
# While the manifest step runs, look again this often (its pod's changes wake the job sooner).
MANIFEST_RECHECK_SECONDS = 5.0
# While a discarded output's volume is not gone yet, look again this often.
DISCARD_RECHECK_SECONDS = 2.0


async def open_output(parts: JobParts, report: JobReport, job: TrainingJob) -> str | None:
    """The job's output claim in the clean room, created (and recorded) before its workers."""
    live = await parts.outputs.ensure_claim(job, report.body)
    if live is None:
        return None
    name = str(live["metadata"]["name"])
    details = {"claim": name, "size": job.spec.output.size if job.spec.output else None}
    await record_output(parts, job, report.body["metadata"]["uid"], OUTPUT_CREATED, details)
    report_output(report, job, "Writable")
    return name


async def record_output(
    parts: JobParts, job: TrainingJob, uid: str, kind: str, details: Mapping[str, Any]
) -> None:
    """A step of the job's output on every contract's ledger (each provider's record shows what
    became of its data's output), the first's last: its record is the one the next step reads,
    so a step it shows is on every other (an entry's id makes a repeat a no-op)."""
    now = utcnow()
    first, *others = job.spec.contract_names
    for contract in [*others, first]:
        await parts.op.ledger.record(contract, [output_event(contract, uid, kind, details, now)])


async def keep_output(parts: JobParts, report: JobReport, job: TrainingJob) -> float | None:
    """A finished job's output: list it into its manifest, then report where it is; discard
    it once its retention passed."""
    if job.spec.output is None:
        return None
    contract, uid = job.spec.contract, report.body["metadata"]["uid"]
    steps = output_steps((await parts.op.ledger.load(contract)).entries, uid)
    if recorded_output_state(steps) == "Writable":
        wait = await _inventory(parts, report, job)
        if wait is not None:
            return wait
        steps = output_steps((await parts.op.ledger.load(contract)).entries, uid)
    state = recorded_output_state(steps)
    quarantined = steps.get(OUTPUT_QUARANTINED)
    until = parse(str(quarantined.details.get("until"))) if quarantined else None
    if state == "Quarantined" and until is not None and utcnow() >= until:
        state = "Discarded"
    if state == "Discarded":
        # Until its volume is gone (the storage erases it, or failed to: its object goes).
        gone = await discard_output(parts, report, OUTPUT_RETENTION_PASSED)
        return None if gone else DISCARD_RECHECK_SECONDS
    release = next(
        (s.details.get("release") for s in steps.values() if "release" in s.details), None
    )
    report_output(
        report, job, state or "Quarantined", release=release, until=until, quarantined=quarantined
    )
    if state == "Quarantined" and until is not None:
        return max(0.0, (until - utcnow()).total_seconds()) + WAKE_MARGIN_SECONDS
    return None


async def _inventory(parts: JobParts, report: JobReport, job: TrainingJob) -> float | None:
    """The manifest step: run the operator's image on the output, read back the manifest
    its container states, record the output Quarantined with it (or with why there is
    none). The seconds to wait while it runs, else None once recorded."""
    body = report.body
    claim = await parts.outputs.claim(body)
    outcome: ManifestSummary | str | None
    if claim is None:
        outcome = "the output's claim is gone"
    elif not all([lists_output(await _clause(parts, name)) for name in job.spec.contract_names]):
        outcome = UNLISTED_UNDER_DENIED
    elif not parts.op.rules.operator_image:
        outcome = "no operator image to run the manifest step (hub rule TDS_OPERATOR_IMAGE)"
    else:
        outcome = await _manifest_step(parts, body, job, claim["metadata"]["name"])
        if outcome is None:
            report_output(report, job, "Inventorying")
            return MANIFEST_RECHECK_SECONDS
    details = _quarantine_details(parts, body, job, claim, outcome)
    await record_output(parts, job, body["metadata"]["uid"], OUTPUT_QUARANTINED, details)
    await parts.outputs.remove_manifest_pod(body)
    return None


async def _manifest_step(
    parts: JobParts, body: Manifest, job: TrainingJob, claim: str
) -> ManifestSummary | str | None:
    """The manifest step's outcome, or why there is none; None while it runs, or waits for
    the pods that may still write to the output: a stopped worker in its grace period may
    still write, so the hash is taken only after, but never after WRITERS_WAIT_SECONDS."""
    pod = await parts.outputs.manifest_pod(body)
    if pod is not None:
        return manifest_outcome(pod)
    writers = await parts.outputs.claim_writers(body, claim)
    if not writers:
        await parts.outputs.start_manifest(body, job, claim)
        return None
    ended = (body.get("status") or {}).get("completionTime")
    return writers_overdue(writers, parse(str(ended)) if ended else None, utcnow())


async def _clause(parts: JobParts, contract: str) -> ModelExport | None:
    """A contract's outputs.modelExport, None if the contract is gone or unreadable. A joint
    job's output is listed only if no contract of the job denies export: a manifest's figures
    would otherwise reach the consumer against that contract's clause."""
    body = await parts.kube.get(API_VERSION, DATA_CONTRACT, contract)
    try:
        return DataContract.model_validate(body).spec.outputs.model_export if body else None
    except ValidationError:
        return None


def _quarantine_details(
    parts: JobParts,
    body: Manifest,
    job: TrainingJob,
    claim: Manifest | None,
    manifest: ManifestSummary | str,
) -> dict[str, Any]:
    """The ledger entry's details of a finished job's output, held in the clean room, with its
    manifest (or why it has none)."""
    until = quarantine_ends(utcnow(), parts.op.rules)
    listed = manifest if isinstance(manifest, ManifestSummary) else None
    return {
        "job": job_key(body["metadata"]["namespace"], body["metadata"]["name"]),
        "claim": (claim or {}).get("metadata", {}).get("name"),
        "volume": ((claim or {}).get("spec") or {}).get("volumeName"),
        "until": timestamp(until),
        MANIFEST_FIELD: listed.digest if listed else None,
        MANIFEST_FILES_FIELD: listed.files if listed else None,
        MANIFEST_BYTES_FIELD: listed.bytes if listed else None,
        MANIFEST_MESSAGE_FIELD: None if listed else str(manifest),
    }


async def discard_output(parts: JobParts, report: JobReport, reason: str) -> bool:
    """Delete the output (claim and volume), on the record (once: the discard and the volume
    it erases); True once the claim and the volume are gone, else call again (the storage may
    delete the volume, or fail to, only after this call)."""
    body = report.body
    contract, uid = first_contract_of(body["spec"]), body["metadata"]["uid"]
    steps = output_steps((await parts.op.ledger.load(contract)).entries, uid)
    if OUTPUT_RELEASED in steps:
        return True
    claim = await parts.outputs.claim(body)
    if claim is None and not steps:
        return True  # never made (the job never started): nothing to erase or record
    known = steps.get(OUTPUT_DELETED) or steps.get(OUTPUT_QUARANTINED)
    volume = known.details.get("volume") if known else None
    if volume is None:
        volume = ((claim or {}).get("spec") or {}).get("volumeName")
    if OUTPUT_DELETED not in steps:
        # Recorded before the claim goes, with the volume: a later pass still finds it.
        details = {"reason": reason, "volume": volume}
        event = output_event(contract, uid, OUTPUT_DELETED, details, utcnow())
        await parts.op.ledger.record(contract, [event])
        report.wake(DATA_CONTRACT, contract)
    gone = await parts.outputs.delete(body, volume)
    if not body["metadata"].get("deletionTimestamp"):
        report_output(report, None, "Discarded")
    return gone


def report_output(
    report: JobReport,
    job: TrainingJob | None,
    state: OutputState,
    *,
    release: str | None = None,
    until: datetime | None = None,
    quarantined: AuditEntry | None = None,
) -> None:
    """Report the output's state, where it is and what its manifest lists."""
    size = job.spec.output.size if job is not None and job.spec.output else None
    manifest = quarantined.details if quarantined is not None else {}
    output = OutputStatus(
        state=state,
        claim=output_claim_name(report.body["metadata"]["name"]),
        size=size,
        release=release,
        quarantined_until=until if state == "Quarantined" else None,
        manifest_digest=manifest.get(MANIFEST_FIELD),
        manifest_files=manifest.get(MANIFEST_FILES_FIELD),
        manifest_bytes=manifest.get(MANIFEST_BYTES_FIELD),
        manifest_message=manifest.get(MANIFEST_MESSAGE_FIELD),
    )
    report.output(output)
