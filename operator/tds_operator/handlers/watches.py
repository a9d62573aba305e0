"""Every watch of the operator, in one place: which change enqueues which reconcile.

kopf only delivers events; each handler here maps an event to the keys of the objects whose
reconcile it may affect, and enqueues them. Nothing is registered at import: `register` adds the
handlers to the registry the operator runs with. The children of spaces are watched without
kopf (child_watches.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from tds_operator import API_VERSION, FIELD_MANAGER, GROUP, VERSION
from tds_operator.api.jobcontracts import contracts_of
from tds_operator.api.resources import (
    CONTRACT_PROPOSAL,
    CONTRACT_PROPOSALS,
    DATA_CONTRACT,
    DATA_CONTRACTS,
    DATA_SPACE,
    DATA_SPACES,
    KUEUE,
    MODEL_RELEASE,
    MODEL_RELEASES,
    TRAINING_JOB,
    TRAINING_JOBS,
)
from tds_operator.api.trainingjob import FINISHED_PHASES
from tds_operator.desired.labels import MANAGED_BY
from tds_operator.desired.outputs import MANIFEST_LABEL
from tds_operator.desired.trainingjob import JOB_NAME_LABEL, JOB_NAMESPACE_LABEL
from tds_operator.handlers.children import key_of
from tds_operator.handlers.context import Operator
from tds_operator.handlers.contract_index import change_reaches_spaces, parties
from tds_operator.handlers.gather import jobs_of_contract, known_contracts_of_space
from tds_operator.handlers.kueue import workload_changed as kueue_workload_changed
from tds_operator.handlers.queue import queue_key
from tds_operator.policy.backstop import deadline_of
from tds_operator.policy.contract import TERMINAL_PHASES
from tds_operator.policy.enforcement import contract_lets_jobs_run, stop_order
from tds_operator.policy.wakes import METERING_INTERVAL_MAX_SECONDS, contract_change_reaches_jobs

USAGE_REPORT_SECONDS = METERING_INTERVAL_MAX_SECONDS
"""A contract reports the usage its running jobs' metering passes moved within this long."""
WORKLOAD_RESOURCES = (("batch/v1", "jobs"), ("v1", "pods"), ("v1", "persistentvolumeclaims"))
"""What runs a TrainingJob in the clean room (and its output claim): a change reconciles the job."""


async def space_changed(name: str, event: kopf.RawEvent, memo: Operator, **_: Any) -> None:
    """A DataSpace changed: reconcile it (unless the change is the operator's own write), the
    contracts that name it (datasets, existence, readiness) and the proposals refused while
    naming it (it may exist now, offer the dataset, hold the key)."""
    if memo.spaces.observe(dict(event["object"]), event.get("type") == "DELETED"):
        memo.enqueue(DATA_SPACE, name)
    for proposal in sorted(memo.refused_proposals.get(name, ())):
        memo.enqueue(CONTRACT_PROPOSAL, proposal)
    for contract in await known_contracts_of_space(memo, name):
        memo.enqueue(DATA_CONTRACT, contract["metadata"]["name"])


async def contract_changed(
    name: str, body: kopf.Body, event: kopf.RawEvent, memo: Operator, **_: Any
) -> None:
    """A DataContract changed: keep it in the index, reconcile it (unless the change is its own
    reconcile's status write); its spaces may now be deletable or read more ledger pages; its
    jobs enforce it at once (revoked, expired, exhausted...). The spaces and jobs are not woken
    by a change that moves nothing they act on (its usage reported after a metering pass)."""
    previous, contract = memo.contracts.get(name), dict(event["object"])
    deleted = event.get("type") == "DELETED"
    memo.contracts.observe(contract, deleted)
    if deleted:
        memo.contract_reports.forget(key_of(contract))
    if not memo.contract_reports.is_echo(contract):
        memo.enqueue(DATA_CONTRACT, name)
    if deleted or change_reaches_spaces(previous, contract):
        for space in sorted(parties(contract)):
            memo.enqueue(DATA_SPACE, space)
    # Jobs whose contract no longer lets them run are stopped ahead of routine work.
    stop = not contract_lets_jobs_run(body)
    if not (stop or deleted or contract_change_reaches_jobs(previous, contract)):
        return
    jobs = await jobs_of_contract(memo, name)
    for job in stop_order(jobs) if stop else jobs:
        metadata = job["metadata"]
        urgent = stop and not settled(TRAINING_JOB, job)
        memo.enqueue(
            TRAINING_JOB, queue_key(metadata["namespace"], metadata["name"]), urgent=urgent
        )


async def training_job_changed(
    name: str,
    namespace: str | None,
    body: kopf.Body,
    event: kopf.RawEvent,
    memo: Operator,
    **_: Any,
) -> None:
    """A TrainingJob changed: reconcile it (unless the change is a metering pass's own write of
    its status), and its contract (usage, running jobs): at once, or within USAGE_REPORT_SECONDS
    for a metering pass's write (the usage it moved is reported once for all the passes of the
    contract's jobs meanwhile)."""
    job = dict(event["object"])
    if event.get("type") == "DELETED":
        memo.metering_writes.forget(key_of(job))
    metering = memo.metering_writes.is_echo(job)
    if not metering:
        # A job just submitted goes ahead of the metering passes: its submitter waits.
        new = not (body.get("status") or {}).get("phase")
        memo.enqueue(TRAINING_JOB, queue_key(namespace or "", name), new=new)
    for contract in contracts_of(body.get("spec") or {}):
        memo.enqueue(DATA_CONTRACT, contract, USAGE_REPORT_SECONDS if metering else 0.0)


async def workload_changed(
    labels: Mapping[str, str], event: kopf.RawEvent, memo: Operator, **_: Any
) -> None:
    """A clean-room batch Job or worker pod changed: reconcile its TrainingJob (phase, metering).
    A batch Job's deadline is noted: once it has come, the job's reconcile stops it (urgent)."""
    namespace, name = labels.get(JOB_NAMESPACE_LABEL), labels.get(JOB_NAME_LABEL)
    if not (namespace and name):
        return
    key = queue_key(namespace, name)
    body = event["object"]
    if body.get("kind") == "Job" and MANIFEST_LABEL not in labels:
        memo.note_deadline(key, None if event.get("type") == "DELETED" else deadline_of(body))
    memo.enqueue(TRAINING_JOB, key)


async def release_changed(
    name: str, namespace: str | None, body: kopf.Body, memo: Operator, **_: Any
) -> None:
    """A ModelRelease changed (asked for, reviewed): reconcile it."""
    memo.enqueue(MODEL_RELEASE, queue_key(namespace or "", name))


async def proposal_changed(name: str, namespace: str | None, memo: Operator, **_: Any) -> None:
    """A ContractProposal changed (applied, edited): reconcile it."""
    memo.enqueue(CONTRACT_PROPOSAL, queue_key(namespace or "", name))


def register(registry: kopf.OperatorRegistry, *, kueue: bool = True) -> None:
    """Add every watch to `registry` (with `kueue`, Kueue's Workloads: a cluster without Kueue
    only logs that it does not serve them)."""
    tds = (GROUP, VERSION)
    kopf.on.event(*tds, DATA_SPACES, registry=registry)(space_changed)
    kopf.on.event(*tds, DATA_CONTRACTS, registry=registry)(contract_changed)
    kopf.on.event(*tds, TRAINING_JOBS, registry=registry)(training_job_changed)
    kopf.on.event(*tds, MODEL_RELEASES, registry=registry)(release_changed)
    kopf.on.event(*tds, CONTRACT_PROPOSALS, registry=registry)(proposal_changed)
    if kueue:
        group, version = KUEUE.split("/")
        kopf.on.event(group, version, "workloads", registry=registry)(kueue_workload_changed)
    # The operator's own clean-room objects, by the TrainingJob label they carry.
    for group_version, plural in WORKLOAD_RESOURCES:
        kopf.on.event(
            group_version,
            plural,
            labels={MANAGED_BY: FIELD_MANAGER, JOB_NAME_LABEL: kopf.PRESENT},
            id=f"workload-{plural}",
            registry=registry,
        )(workload_changed)


async def fill_indexes(memo: Operator) -> None:
    """LIST every contract into the index, before this replica reconciles (the children of
    spaces are listed by their own watches: child_watches.py)."""
    memo.contracts.fill(await memo.kube.list(API_VERSION, DATA_CONTRACT))
    memo.contracts.synced = True


async def resync(memo: Operator) -> None:
    """Enqueue every DataSpace, DataContract, TrainingJob, ModelRelease and ContractProposal:
    what a replica does when it becomes the leader, so that nothing the previous leader left
    half done waits for its next change. Those with work left go ahead of everything the
    watches queued while this replica stood by; a job that finished or a contract that ended
    only gets looked over after."""
    kube = memo.kube
    halted: set[str] = set()
    for kind in (DATA_SPACE, DATA_CONTRACT, TRAINING_JOB, MODEL_RELEASE, CONTRACT_PROPOSAL):
        bodies = await kube.list(API_VERSION, kind)
        if kind == DATA_SPACE:
            # A list's items do not repeat their apiVersion and kind.
            memo.spaces.fill({"apiVersion": API_VERSION, "kind": kind, **b} for b in bodies)
        if kind == DATA_CONTRACT:
            halted = {c["metadata"]["name"] for c in bodies if not contract_lets_jobs_run(c)}
        keys = [(_key(body), settled(kind, body)) for body in bodies]
        if kind == TRAINING_JOB:
            # Jobs whose contract no longer lets them run are stopped first, ahead of all.
            for body in bodies:
                names = contracts_of(body.get("spec") or {})
                if not settled(kind, body) and halted.intersection(names):
                    memo.enqueue(kind, _key(body), urgent=True)
        memo.queues[kind].put_first(key for key, done in keys if not done)
        for key, done in keys:
            if done:
                memo.enqueue(kind, key)


def _key(body: Mapping[str, Any]) -> str:
    metadata = body["metadata"]
    namespace = metadata.get("namespace")
    return queue_key(namespace, metadata["name"]) if namespace else str(metadata["name"])


def settled(kind: str, body: Mapping[str, Any]) -> bool:
    """Whether an object is at rest as far as its status says: a finished TrainingJob, an ended
    DataContract, a Ready DataSpace, none of them being deleted."""
    if (body.get("metadata") or {}).get("deletionTimestamp"):
        return False
    phase = (body.get("status") or {}).get("phase")
    if kind == TRAINING_JOB:
        return phase in FINISHED_PHASES
    if kind == DATA_CONTRACT:
        return phase in TERMINAL_PHASES
    return kind == DATA_SPACE and phase == "Ready"
