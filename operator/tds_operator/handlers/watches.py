"""Every watch of the operator, in one place: which change enqueues which reconcile.

kopf only delivers events; each handler here maps an event to the keys of the objects whose
reconcile it may affect, and enqueues them. Nothing is registered at import: `register` adds the
handlers to the registry the operator runs with.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import kopf

from tds_operator import API_VERSION, FIELD_MANAGER, GROUP, VERSION
from tds_operator.api.resources import (
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
from tds_operator.audit.events import job_key
from tds_operator.desired.labels import MANAGED_BY, SPACE_LABEL
from tds_operator.desired.trainingjob import JOB_NAME_LABEL, JOB_NAMESPACE_LABEL
from tds_operator.handlers.children import key_of, space_of_child
from tds_operator.handlers.context import SPACE_CHILD_KINDS, Operator
from tds_operator.handlers.gather import jobs_of_contract, known_contracts_of_space
from tds_operator.handlers.kueue import workload_changed as kueue_workload_changed
from tds_operator.kube import resource_of

SPACE_CHILD_RESOURCES = tuple(
    (api_version, resource_of(api_version, kind).plural) for api_version, kind in SPACE_CHILD_KINDS
)
"""What a space makes: a change to any of them (drift, deletion) reconciles the space."""
WORKLOAD_RESOURCES = (("batch/v1", "jobs"), ("v1", "pods"), ("v1", "persistentvolumeclaims"))
"""What runs a TrainingJob in the clean room (and its output claim): a change reconciles the job."""


async def space_changed(name: str, event: kopf.RawEvent, memo: Operator, **_: Any) -> None:
    """A DataSpace changed: reconcile it (unless the change is the operator's own write), and
    the contracts that name it (datasets, existence, readiness)."""
    body = dict(event["object"])
    if event.get("type") == "DELETED":
        memo.space_writes.forget(key_of(body))
    if not memo.space_writes.is_echo(body):
        memo.enqueue(DATA_SPACE, name)
    for contract in await known_contracts_of_space(memo, name):
        memo.enqueue(DATA_CONTRACT, contract["metadata"]["name"])


async def space_child_changed(
    event: kopf.RawEvent, labels: Mapping[str, str], memo: Operator, **_: Any
) -> None:
    """A child of a space changed or vanished: keep it in the index, and reconcile the space
    (repairs drift), unless the event only echoes the operator's own write."""
    space = space_of_child(labels)
    deleted = event.get("type") == "DELETED"
    if space and memo.children.observe(dict(event["object"]), deleted):
        memo.enqueue(DATA_SPACE, space)


async def contract_changed(
    name: str, body: kopf.Body, event: kopf.RawEvent, memo: Operator, **_: Any
) -> None:
    """A DataContract changed: keep it in the index, reconcile it; its spaces may now be
    deletable; its jobs enforce it at once (revoked, expired, exhausted...)."""
    memo.contracts.observe(dict(event["object"]), event.get("type") == "DELETED")
    memo.enqueue(DATA_CONTRACT, name)
    spec = body.get("spec") or {}
    for party in ("provider", "consumer"):
        space = (spec.get(party) or {}).get("space")
        if space:
            memo.enqueue(DATA_SPACE, space)
    for job in await jobs_of_contract(memo, name):
        metadata = job["metadata"]
        memo.enqueue(TRAINING_JOB, job_key(metadata["namespace"], metadata["name"]))


async def training_job_changed(
    name: str, namespace: str | None, body: kopf.Body, memo: Operator, **_: Any
) -> None:
    """A TrainingJob changed: reconcile it, and its contract (usage, running jobs)."""
    memo.enqueue(TRAINING_JOB, job_key(namespace or "", name))
    contract = (body.get("spec") or {}).get("contract")
    if contract:
        memo.enqueue(DATA_CONTRACT, contract)


async def workload_changed(labels: Mapping[str, str], memo: Operator, **_: Any) -> None:
    """A clean-room batch Job or worker pod changed: reconcile its TrainingJob (phase, metering)."""
    namespace, name = labels.get(JOB_NAMESPACE_LABEL), labels.get(JOB_NAME_LABEL)
    if namespace and name:
        memo.enqueue(TRAINING_JOB, job_key(namespace, name))


async def release_changed(
    name: str, namespace: str | None, body: kopf.Body, memo: Operator, **_: Any
) -> None:
    """A ModelRelease changed (asked for, reviewed): reconcile it."""
    memo.enqueue(MODEL_RELEASE, job_key(namespace or "", name))


def register(registry: kopf.OperatorRegistry, *, kueue: bool = True) -> None:
    """Add every watch to `registry` (with `kueue`, Kueue's Workloads: a cluster without Kueue
    only logs that it does not serve them)."""
    tds = (GROUP, VERSION)
    kopf.on.event(*tds, DATA_SPACES, registry=registry)(space_changed)
    kopf.on.event(*tds, DATA_CONTRACTS, registry=registry)(contract_changed)
    kopf.on.event(*tds, TRAINING_JOBS, registry=registry)(training_job_changed)
    kopf.on.event(*tds, MODEL_RELEASES, registry=registry)(release_changed)
    _watch_own_objects(
        registry, SPACE_CHILD_RESOURCES, SPACE_LABEL, "space-child", space_child_changed
    )
    _watch_own_objects(registry, WORKLOAD_RESOURCES, JOB_NAME_LABEL, "workload", workload_changed)
    if kueue:
        group, version = KUEUE.split("/")
        kopf.on.event(group, version, "workloads", registry=registry)(kueue_workload_changed)


def _watch_own_objects(
    registry: kopf.OperatorRegistry,
    resources: tuple[tuple[str, str], ...],
    key_label: str,
    prefix: str,
    handler: Callable[..., Awaitable[None]],
) -> None:
    """Watch the operator's own objects of these resources that carry `key_label`."""
    for group_version, plural in resources:
        kopf.on.event(
            group_version,
            plural,
            labels={MANAGED_BY: FIELD_MANAGER, key_label: kopf.PRESENT},
            id=f"{prefix}-{plural}",
            registry=registry,
        )(handler)


async def fill_indexes(memo: Operator) -> None:
    """LIST every child of every space, and every contract, into the indexes, before this
    replica reconciles."""
    selector = f"{MANAGED_BY}={FIELD_MANAGER},{SPACE_LABEL}"
    for api_version, kind in SPACE_CHILD_KINDS:
        items = await memo.kube.list(api_version, kind, None, selector)
        # A list's items do not repeat their apiVersion and kind.
        memo.children.fill({"apiVersion": api_version, "kind": kind, **item} for item in items)
    memo.children.synced = True
    memo.contracts.fill(await memo.kube.list(API_VERSION, DATA_CONTRACT))
    memo.contracts.synced = True


async def resync(memo: Operator) -> None:
    """Enqueue every DataSpace, DataContract, TrainingJob and ModelRelease: what a replica does
    when it becomes the leader, so that nothing the previous leader left half done waits for
    its next change."""
    kube = memo.kube
    for kind in (DATA_SPACE, DATA_CONTRACT):
        for body in await kube.list(API_VERSION, kind):
            memo.enqueue(kind, body["metadata"]["name"])
    for kind in (TRAINING_JOB, MODEL_RELEASE):
        for body in await kube.list(API_VERSION, kind):
            metadata = body["metadata"]
            memo.enqueue(kind, job_key(metadata["namespace"], metadata["name"]))
