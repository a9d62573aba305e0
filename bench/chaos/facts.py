"""After the chaos campaign settled: the facts its invariants judge, read from the hub."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client, dynamic
from kubernetes.client.exceptions import ApiException

from bench.chaos.churn import JobRecord, Ledger
from bench.chaos.judge import (
    ContractEnd,
    ContractFacts,
    JobFacts,
    Owned,
    PodRun,
    SpaceChildren,
)
from bench.chaos.observe import Observer, _stamp
from bench.hubkit.hub import Hub, audit_verify, clean_room
from bench.hubkit.manifests import condition
from tds_operator.api.dataspace import DataSpace
from tds_operator.desired.space import space_children

JOB_NAME, JOB_NAMESPACE = "tds.io/training-job", "tds.io/training-job-namespace"


def job_facts(hub: Hub, record: JobRecord, observer: Observer) -> JobFacts:
    body = hub.get("trainingjobs", record.name, record.namespace)
    status = (body or {}).get("status") or {}
    finished = condition(body, "Finished") if body else None
    pods = tuple(
        PodRun(seen.start, seen.end, seen.gpus)
        for seen in observer.pods_of(record.namespace, record.name)
        if seen.start is not None and seen.end is not None
    )
    return JobFacts(
        namespace=record.namespace,
        name=record.name,
        uid=record.uid,
        contract=record.contract,
        gpus=record.gpus,
        run_for=record.run_for,
        deleted=record.deleted,
        phase=status.get("phase") if body else None,
        reason=(finished or {}).get("reason"),
        start=_stamp(status.get("startTime")),
        gpu_seconds=status.get("gpuSeconds"),
        stopped_seen=observer.finished_seen.get((record.namespace, record.name)),
        pods=pods,
    )


def _end(body: dict[str, Any], entries: list[dict[str, Any]], ledger: Ledger) -> ContractEnd | None:
    name, phase = body["metadata"]["name"], (body.get("status") or {}).get("phase")
    if phase == "Revoked":
        return ContractEnd(phase, ledger.revoked_at.get(name, 0.0))
    if phase == "Expired":
        return ContractEnd(phase, _stamp(body["spec"]["validity"]["notAfter"]) or 0.0)
    if phase == "Exhausted":
        at = next(
            e["at"]
            for e in entries
            if e["kind"] == "PhaseChanged" and e["details"].get("phase") == "Exhausted"
        )
        return ContractEnd(phase, _stamp(at) or 0.0)
    return None


def contract_facts(hub: Hub, name: str, ledger: Ledger) -> ContractFacts:
    body = hub.get("datacontracts", name) or {}
    status = body.get("status") or {}
    entries = hub.entries(name)
    admissions: dict[str, int] = {}
    metered: dict[str, int] = {}
    for entry in entries:
        uid = entry["details"].get("uid")
        if entry["kind"] == "JobAdmitted" and uid:
            admissions[uid] = admissions.get(uid, 0) + 1
        if uid and isinstance(entry["details"].get("gpuSeconds"), int):
            metered[uid] = max(metered.get(uid, 0), entry["details"]["gpuSeconds"])
    verified = audit_verify(name)
    return ContractFacts(
        name=name,
        phase=status.get("phase"),
        end=_end(body, entries, ledger) if body else None,
        budget_gpu_seconds=float(body["spec"]["compute"]["maxGpuHours"]) * 3600,
        usage_gpu_seconds=float((status.get("usage") or {}).get("gpuHours", 0)) * 3600,
        ledger_verified=verified.returncode == 0,
        ledger_message=(verified.stdout + verified.stderr).strip()[-300:],
        sequences=tuple(int(entry["sequence"]) for entry in entries),
        admissions=admissions,
        metered=metered,
        clean_room=hub.has_namespace(clean_room(name)),
    )


def contracts_facts(hub: Hub, ledger: Ledger) -> list[ContractFacts]:
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda n: contract_facts(hub, n, ledger), sorted(ledger.planned)))


def owned_objects(hub: Hub, contracts: list[str]) -> tuple[list[Owned], set[tuple[str, str, str]]]:
    """The clean rooms of the campaign's contracts and the batch Jobs, pods and Services in them
    that belong to a TrainingJob, each with the owner it names; and the owners that exist."""
    owned: list[Owned] = []
    owners: set[tuple[str, str, str]] = set()
    for name in contracts:
        room = clean_room(name)
        if hub.get("datacontracts", name) is not None:
            owners.add(("DataContract", "", name))
        if not hub.has_namespace(room):
            continue
        owned.append(Owned("Namespace", "", room, ("DataContract", "", name)))
        selector = JOB_NAME
        jobs = hub.batch.list_namespaced_job(room, label_selector=selector).items
        for job in jobs:
            owners.add(("Job", room, job.metadata.name))
        lists = [
            ("Job", jobs),
            ("Service", hub.core.list_namespaced_service(room, label_selector=selector).items),
            ("Pod", hub.core.list_namespaced_pod(room, label_selector=selector).items),
        ]
        for kind, items in lists:
            for item in items:
                if item.metadata.deletion_timestamp is not None:
                    continue
                owned.append(Owned(kind, room, item.metadata.name, _owner(kind, room, item)))
    return owned, owners


def _owner(kind: str, room: str, item: Any) -> tuple[str, str, str] | None:
    if kind == "Pod":
        controller = next((r for r in item.metadata.owner_references or [] if r.controller), None)
        return ("Job", room, controller.name) if controller else None
    labels = item.metadata.labels or {}
    if JOB_NAME not in labels:
        return None
    return ("TrainingJob", labels.get(JOB_NAMESPACE, ""), labels[JOB_NAME])


def existing_jobs(hub: Hub, records: list[JobRecord]) -> set[tuple[str, str, str]]:
    return {
        ("TrainingJob", r.namespace, r.name)
        for r in records
        if hub.get("trainingjobs", r.name, r.namespace) is not None
    }


def space_facts(hub: Hub, api: client.ApiClient, spaces: list[str]) -> list[SpaceChildren]:
    """Each space's children as the operator builds them, and which of them exist."""
    resources = dynamic.DynamicClient(api).resources
    facts = []
    for name in spaces:
        body = hub.get("dataspaces", name)
        if body is None:
            facts.append(SpaceChildren(name, frozenset({"the DataSpace itself"}), frozenset()))
            continue
        expected, present = set(), set()
        for child in space_children(DataSpace.model_validate(body)):
            meta = child["metadata"]
            label = f"{child['kind']} {meta.get('namespace', '')}/{meta['name']}".replace(" /", " ")
            expected.add(label)
            resource = resources.get(api_version=child["apiVersion"], kind=child["kind"])
            try:
                resource.get(name=meta["name"], namespace=meta.get("namespace"))
                present.add(label)
            except (ApiException, dynamic.exceptions.NotFoundError):
                pass
        facts.append(SpaceChildren(name, frozenset(expected), frozenset(present)))
    return facts


def dump(path: str, **facts: Any) -> None:
    """The facts as JSON, for a look afterwards."""
    with open(path, "w") as handle:
        json.dump(facts, handle, default=lambda o: getattr(o, "__dict__", str(o)), indent=1)
