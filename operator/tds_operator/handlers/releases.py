"""ModelRelease reconciler: the contract's outputs clause and the provider's sealed review decide
(for a joint job's output, every contract's clause and each reviewing provider's review); the
output's volume moves into the consumer's namespace, or is deleted; every step on the ledger.

gather (release_inputs, release_parts, the ledger's record of the output: one snapshot) → decide
(policy/releases.py, pure) → record (the request, a review that counts) → act (OutputVolume: move
or delete; the provider owners' access to review) → report (typed status, one Event on change).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from tds_operator import API_VERSION
from tds_operator.api.common import INVALID_SPEC
from tds_operator.api.dataspace import space_namespace
from tds_operator.api.jobcontracts import first_contract_of
from tds_operator.api.modelrelease import (
    ENDED,
    ENDED_PHASES,
    RELEASED,
    ModelRelease,
    ModelReleaseStatus,
)
from tds_operator.api.resources import DATA_CONTRACT, MODEL_RELEASE, TRAINING_JOB, Manifest
from tds_operator.audit.chain import AuditEvent
from tds_operator.audit.events import (
    MANIFEST_FIELD,
    OUTPUT_DELETED,
    OUTPUT_RELEASED,
    RELEASE_REQUESTED,
    job_key,
    output_event,
    output_steps,
)
from tds_operator.desired.outputs import review_access, review_role_name
from tds_operator.handlers.context import Operator, utcnow
from tds_operator.handlers.gather import ReleaseInputs, release_inputs
from tds_operator.handlers.objects import (
    post_events,
    record_event,
    validation_message,
    write_status,
)
from tds_operator.handlers.outputs import OutputVolume
from tds_operator.handlers.release_parts import (
    JointContract,
    joint_contracts,
    joint_parts,
    record_on,
    release_ledger,
    review_event,
    reviewing_providers,
)
from tds_operator.policy.conditions import set_decision, timestamp
from tds_operator.policy.decision import Decision
from tds_operator.policy.releases import (
    ReleasePlan,
    ReleaseSnapshot,
    decide_release,
)
from tds_operator.policy.reports import release_events

# While the volume moves, look again this soon (each step is one API write).
MOVE_RECHECK_SECONDS = 0.5
FAILED_PHASES = frozenset({"Refused", "Rejected"})
"""Ends reported as a Warning."""


@dataclass(frozen=True)
class Gathered:
    """One reconcile's reads: the release, its inputs and the snapshot decided from."""

    body: Manifest
    release: ModelRelease
    inputs: ReleaseInputs
    snapshot: ReleaseSnapshot
    joint: tuple[JointContract, ...] = ()
    """Every contract of a joint job; empty for a job of one contract."""

    @property
    def contracts(self) -> tuple[str, ...]:
        """The ledgers the output's end is recorded on: every contract of the job."""
        return tuple(c.name for c in self.joint) or (self.snapshot.contract,)


class ReleaseReconciler:
    """Makes the world match one ModelRelease."""

    def __init__(self, op: Operator) -> None:
        self.op = op
        self.kube = op.kube
        self.outputs = OutputVolume(op.kube, op.rules)

    async def __call__(self, key: str) -> float | None:
        namespace, name = key.split("/", 1)
        body = await self.kube.get(API_VERSION, MODEL_RELEASE, name, namespace)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None
        if (body.get("status") or {}).get("phase") in ENDED_PHASES:
            return None
        try:
            release = ModelRelease.model_validate(body)
        except ValidationError as error:
            invalid = Decision.deny(INVALID_SPEC, validation_message(error))
            await self._report(body, ReleasePlan("Refused", invalid))
            return None
        gathered = await self._gather(body, release)
        plan = decide_release(gathered.snapshot, self.op.signing_key)
        if plan.record_request or plan.record_review or plan.record_reviews:
            gathered = await self._record(gathered, plan)
            # Two releases of one job reconciled at once: the ledger keeps the first request only.
            plan = decide_release(gathered.snapshot, self.op.signing_key)
        return await self._act(gathered, plan)

    async def _gather(self, body: Manifest, release: ModelRelease) -> Gathered:
        metadata = body["metadata"]
        inputs = await release_inputs(
            self.op, metadata["namespace"], release.spec.training_job, metadata["name"]
        )
        job = inputs.job_body
        contract = first_contract_of((job or {}).get("spec") or {})
        job_uid = job["metadata"]["uid"] if job else None
        steps = (
            output_steps((await self.op.ledger.load(contract)).entries, job_uid) if job_uid else {}
        )
        provider = inputs.provider
        snapshot = ReleaseSnapshot(
            release_uid=metadata["uid"],
            job=release.spec.training_job,
            job_uid=job_uid,
            output_state=inputs.output_state,
            clause=inputs.clause,
            contract=contract,
            review=release.spec.review,
            provider_owners=tuple(provider.spec.owners) if provider else (),
            provider_space=(provider.metadata.name or "") if provider else "(none)",
            ledger=release_ledger(steps),
        )
        joint = await joint_contracts(self.op, metadata["namespace"], job)
        if joint and job_uid:
            reviews = release.spec.reviews or []
            parts = await joint_parts(self.op, joint, reviews, job_uid)
            snapshot = replace(snapshot, parts=parts)
        return Gathered(body, release, inputs, snapshot, joint)

    async def _record(self, gathered: Gathered, plan: ReleasePlan) -> Gathered:
        """The request (on every contract's ledger), a counting review, by whom the webhook said."""
        snapshot, body = gathered.snapshot, gathered.body
        contract, uid, now = snapshot.contract, snapshot.job_uid or "", utcnow()
        events: list[AuditEvent] = []
        if plan.record_request:
            requester = gathered.release.spec.requested_by
            details = {
                "release": job_key(body["metadata"]["namespace"], body["metadata"]["name"]),
                "releaseUid": snapshot.release_uid,
                "groups": requester.groups if requester else [],
            }
            actor = requester.user if requester else ""
            await record_on(self.op, gathered.contracts[1:], uid, RELEASE_REQUESTED, details, actor)
            events.append(output_event(contract, uid, RELEASE_REQUESTED, details, now, actor=actor))
        review = snapshot.review
        if plan.record_review is not None and review is not None:
            event = review_event(contract, uid, review, body["metadata"]["name"], now)
            events.extend([event] if event else [])
        for given in plan.record_reviews:
            # Each provider's review on its own contract's ledger.
            event = review_event(given.contract, uid, given, body["metadata"]["name"], now)
            if event is not None:
                await self.op.ledger.record(given.contract, [event])
        chain = await self.op.ledger.record(contract, events)
        ledger = release_ledger(output_steps(chain, uid))
        return replace(gathered, snapshot=replace(snapshot, ledger=ledger))

    async def _act(self, gathered: Gathered, plan: ReleasePlan) -> float | None:
        body, inputs, ledger = gathered.body, gathered.inputs, gathered.snapshot.ledger
        job = inputs.job_body
        if plan.act == "open-review":
            await self._open_review(body, gathered)
        if job is None or plan.act not in ("release", "delete"):
            await self._report(body, plan)
            return None
        if plan.act == "delete":
            if not await self.outputs.delete(job, ledger.volume or None):
                return MOVE_RECHECK_SECONDS
            details = {
                "reason": plan.decision.reason,
                "release": body["metadata"]["name"],
                "volume": ledger.volume,
            }
            await self._record_end(gathered, OUTPUT_DELETED, details)
            await self._report(body, plan)
            return None
        return await self._release(gathered, plan, job)

    async def _release(self, gathered: Gathered, plan: ReleasePlan, job: Manifest) -> float | None:
        body, volume = gathered.body, gathered.snapshot.ledger.volume
        name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
        size = str((job["spec"].get("output") or {}).get("size") or "")
        claim = await self.outputs.release(job, volume, name, namespace, size)
        if claim is None or (claim.get("status") or {}).get("phase") != "Bound":
            moving = Decision.deny("Moving", f"moving volume {volume} into {namespace}")
            await self._report(body, replace(plan, decision=moving))
            return MOVE_RECHECK_SECONDS
        details = {
            "release": name,
            "claim": job_key(namespace, name),
            "volume": volume,
            MANIFEST_FIELD: gathered.snapshot.ledger.manifest_digest,
        }
        await self._record_end(gathered, OUTPUT_RELEASED, details)
        done = Decision.allow(
            plan.decision.reason,
            f"{plan.decision.message}; volume {volume} is bound to claim {name} in {namespace}",
        )
        report = replace(plan.report, claim=name, volume=volume, released_at=timestamp(utcnow()))
        await self._report(body, replace(plan, phase="Released", decision=done, report=report))
        return None

    async def _record_end(self, gathered: Gathered, kind: str, details: dict[str, Any]) -> None:
        """On every contract's ledger: each provider's record shows where its data's output went."""
        job = gathered.inputs.job_body or {}
        await record_on(self.op, gathered.contracts, job["metadata"]["uid"], kind, details)
        for contract in gathered.contracts:
            self.op.enqueue(DATA_CONTRACT, contract)
        metadata = job["metadata"]
        self.op.enqueue(TRAINING_JOB, job_key(metadata["namespace"], metadata["name"]))

    async def _open_review(self, body: Manifest, gathered: Gathered) -> None:
        """Let the reviewing providers' owners reach this one release (the webhook checks who
        decides, and for which contract), and tell them in their spaces' Events."""
        providers = reviewing_providers(gathered.joint, gathered.snapshot.parts)
        if not gathered.joint and gathered.inputs.provider is not None:
            providers = [gathered.inputs.provider]
        if not providers:
            return
        metadata = body["metadata"]
        owners = [owner for provider in providers for owner in provider.spec.owners]
        fresh = False
        for manifest in review_access(
            metadata["name"], metadata["uid"], metadata["namespace"], owners
        ):
            fresh = await self.kube.ensure(manifest) or fresh
        how = (
            "add a review of your contract to its spec.reviews (kubectl patch modelrelease "
            "--type=json, op add, path /spec/reviews/-)"
            if gathered.joint
            else "set its spec.review.decision to Approved or Rejected (kubectl patch "
            "modelrelease --type=merge)"
        )
        for provider in providers if fresh else []:
            space = space_namespace(provider.metadata.name or "")
            notice = {**body, "metadata": {**metadata, "namespace": space}}
            message = (
                f"ModelRelease {metadata['namespace']}/{metadata['name']} waits for the review "
                f"of an owner of this space: {how}"
            )
            await record_event(self.kube, notice, reason="ReviewRequested", message=message)

    async def _close_review(self, body: Manifest) -> None:
        metadata = body["metadata"]
        name = review_role_name(metadata["uid"])
        for kind in ("RoleBinding", "Role"):
            await self.kube.delete(
                "rbac.authorization.k8s.io/v1", kind, name, metadata["namespace"]
            )

    async def _report(self, body: Manifest, plan: ReleasePlan) -> None:
        """Write the typed status once; an Event per condition that changed; close the review
        once ended. Ended is True however the release ended, for `kubectl wait`."""
        generation = body["metadata"].get("generation")
        old = (body.get("status") or {}).get("conditions") or []
        ended = plan.phase in ENDED_PHASES
        decision, now = plan.decision, utcnow()
        conditions = set_decision(old, RELEASED, decision, generation=generation, now=now)
        if ended:
            # However it ended (refused too), with its why.
            end = Decision(True, decision.reason, decision.message)
            conditions = set_decision(conditions, ENDED, end, generation=generation, now=now)
        report = plan.report
        status = ModelReleaseStatus(
            phase=plan.phase,
            conditions=conditions,
            observed_generation=generation,
            contract=report.contract,
            clause=report.clause,
            manifest_digest=report.manifest_digest,
            claim=report.claim,
            volume=report.volume,
            released_at=report.released_at,
            contracts=list(report.contracts) if report.contracts is not None else None,
        )
        await write_status(self.kube, body, status)
        events = release_events(old, conditions, phase=plan.phase, failed=FAILED_PHASES)
        await post_events(self.kube, body, events)
        if ended:
            await self._close_review(body)
