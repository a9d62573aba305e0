"""A TrainingJob's admission, decided and recorded in one place: the webhook's immediate answer,
the operator's own queue and Kueue's contract check all gather the same case, ask the same
decision (policy/job_admission.py) and record it the same way."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from tds_operator import API_VERSION
from tds_operator.api.resources import DATA_CONTRACT, TRAINING_JOB, Manifest
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.audit.chain import AuditEntry
from tds_operator.audit.events import admission_event, job_key
from tds_operator.audit.usage import admitted_jobs
from tds_operator.handlers.context import Operator, utcnow
from tds_operator.handlers.gather import admission_input
from tds_operator.metrics import count_admission
from tds_operator.policy.admissioncheck import gpus_admitted
from tds_operator.policy.decision import Decision
from tds_operator.policy.joint_admission import ContractCase, decide_joint_admission
from tds_operator.policy.training import AdmissionInput


async def admission_case(
    op: Operator,
    job: TrainingJob,
    contract: Manifest | None,
    recorded: list[AuditEntry] | None = None,
    *,
    kueue: bool = False,
    name: str | None = None,
) -> AdmissionInput:
    """The job's case against its contract `name` (default: its first). In Kueue (`kueue`),
    which orders the jobs itself, the GPUs held by others are those of the contract's other
    admitted, unfinished jobs (as the ledger records admissions), and no job is ahead of it."""
    name = name or job.spec.contract
    if recorded is None:
        recorded = (await op.ledger.load(name)).entries
    case = await admission_input(op, job, contract, recorded, name)
    if not kueue:
        return case
    admitted = admitted_jobs(recorded)
    jobs = await op.kube.list(API_VERSION, TRAINING_JOB)
    held = gpus_admitted(jobs, name, admitted, except_uid=job.metadata.uid or "")
    return dataclasses.replace(case, gpus_held_by_others=held, queued_ahead=0)


async def decide(
    op: Operator,
    job: TrainingJob,
    contracts: Mapping[str, Manifest | None],
    recorded: Mapping[str, list[AuditEntry]] | None = None,
    *,
    waiting: bool,
    kueue: bool = False,
) -> tuple[Decision, list[AdmissionInput]]:
    """Every contract's answer to the job, and the joint terms (policy/joint_admission.py),
    with the cases judged, one per contract in the order the job names them. `contracts` (and
    `recorded`, their ledgers, if loaded) are keyed by name."""
    items = []
    for name in job.spec.contract_names:
        ledger = None if recorded is None else recorded[name]
        case = await admission_case(op, job, contracts[name], ledger, kueue=kueue, name=name)
        items.append(ContractCase(case, contracts[name]))
    # A joint job runs in a clean room of its own (desired/joint_room.py).
    decision = decide_joint_admission(items, op.rules, waiting=waiting)
    return decision, [item.case for item in items]


async def contracts_of_job(
    op: Operator, job: TrainingJob, *, first: Manifest | None = None
) -> dict[str, Manifest | None]:
    """Each contract the job names, as live (None if there is none of that name); `first`, if
    given, is its first contract as already read."""
    contracts: dict[str, Manifest | None] = {}
    for name in job.spec.contract_names:
        if first is not None and name == job.spec.contract:
            contracts[name] = first
        else:
            contracts[name] = await op.kube.get(API_VERSION, DATA_CONTRACT, name)
    return contracts


def count(job: TrainingJob, contracts: Mapping[str, Manifest | None], decision: Decision) -> None:
    """Count one admission decision (allowed or refused) in the operator's metrics, once per
    contract of the job."""
    for name, contract in contracts.items():
        known = name if contract is not None else None
        count_admission(known, decision.allowed, decision.reason)


async def record(
    op: Operator,
    job: TrainingJob,
    contracts: Mapping[str, Manifest | None],
    decision: Decision,
    every: Mapping[str, Manifest | None] | None = None,
) -> None:
    """Record the job's admission (or denial) on each of `contracts`' ledgers (those not
    recorded yet), and count it; a joint job's entry names every other contract of the job
    (`every`, default `contracts`) and its provider space."""
    key = job_key(job.metadata.namespace or "", job.metadata.name or "")
    providers = {
        name: str((((live or {}).get("spec") or {}).get("provider") or {}).get("space") or "")
        for name, live in (every or contracts).items()
    }
    for name in contracts:
        others = {n: p for n, p in providers.items() if n != name} if job.spec.joint else None
        event = admission_event(
            name,
            job.metadata.uid or "",
            key,
            job.spec.total_gpus,
            decision.allowed,
            decision.reason,
            utcnow(),
            others,
        )
        await op.ledger.record(name, [event])
    count(job, contracts, decision)
