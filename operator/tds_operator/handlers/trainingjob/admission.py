"""A TrainingJob's admission, decided and recorded in one place: the webhook's immediate answer,
the operator's own queue and Kueue's contract check all gather the same case, ask the same
decision (policy/job_admission.py) and record it the same way."""

from __future__ import annotations

import dataclasses

from tds_operator import API_VERSION
from tds_operator.api.resources import TRAINING_JOB, Manifest
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.audit.chain import AuditEntry
from tds_operator.audit.events import admission_event, job_key
from tds_operator.audit.usage import admitted_jobs
from tds_operator.handlers.context import Operator, utcnow
from tds_operator.handlers.gather import admission_input
from tds_operator.metrics import count_admission
from tds_operator.policy.admissioncheck import gpus_admitted
from tds_operator.policy.decision import Decision
from tds_operator.policy.job_admission import decide_admission
from tds_operator.policy.training import AdmissionInput


async def admission_case(
    op: Operator,
    job: TrainingJob,
    contract: Manifest | None,
    recorded: list[AuditEntry] | None = None,
    *,
    kueue: bool = False,
) -> AdmissionInput:
    """The job's case against its contract. In Kueue (`kueue`), which orders the jobs itself,
    the GPUs held by others are those of the contract's other admitted, unfinished jobs (as the
    ledger records admissions), and no job is ahead of it."""
    if recorded is None:
        recorded = (await op.ledger.load(job.spec.contract)).entries
    case = await admission_input(op, job, contract, recorded)
    if not kueue:
        return case
    admitted = admitted_jobs(recorded)
    jobs = await op.kube.list(API_VERSION, TRAINING_JOB)
    held = gpus_admitted(jobs, job.spec.contract, admitted, except_uid=job.metadata.uid or "")
    return dataclasses.replace(case, gpus_held_by_others=held, queued_ahead=0)


async def decide(
    op: Operator,
    job: TrainingJob,
    contract: Manifest | None,
    recorded: list[AuditEntry] | None = None,
    *,
    waiting: bool,
    kueue: bool = False,
) -> tuple[Decision, AdmissionInput]:
    """The contract's answer to the job (policy/job_admission.py), with the case it judged."""
    case = await admission_case(op, job, contract, recorded, kueue=kueue)
    return decide_admission(case, contract, op.rules, waiting=waiting), case


def count(job: TrainingJob, contract: Manifest | None, decision: Decision) -> None:
    """Count one admission decision (allowed or refused) in the operator's metrics."""
    name = job.spec.contract
    count_admission(name if contract is not None else None, decision.allowed, decision.reason)


async def record(
    op: Operator, job: TrainingJob, contract: Manifest | None, decision: Decision
) -> None:
    """Record the job's admission (or denial) on its contract's ledger, and count it."""
    name = job.spec.contract
    key = job_key(job.metadata.namespace or "", job.metadata.name or "")
    event = admission_event(
        name,
        job.metadata.uid or "",
        key,
        job.spec.total_gpus,
        decision.allowed,
        decision.reason,
        utcnow(),
    )
    await op.ledger.record(name, [event])
    count(job, contract, decision)
