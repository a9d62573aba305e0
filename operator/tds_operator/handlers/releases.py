"""ModelRelease reconciler: the contract's outputs clause and the provider's review decide; the
output's volume moves into the consumer's namespace, or is deleted; every step on the ledger.

gather (release_inputs, the ledger's record of the output) → decide (policy/outputs.py) → act
(OutputVolume: move or delete; the provider owners' access to review) → record → report.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from tds_operator import API_VERSION
from tds_operator.api.common import INVALID_SPEC
from tds_operator.api.dataspace import space_namespace
from tds_operator.api.modelrelease import (
    ENDED_PHASES,
    RELEASED,
    ModelRelease,
    ModelReleasePhase,
    ModelReleaseStatus,
)
from tds_operator.api.resources import DATA_CONTRACT, MODEL_RELEASE, TRAINING_JOB, Manifest
from tds_operator.audit.chain import AuditEvent
from tds_operator.audit.events import (
    MANIFEST_FIELD,
    OUTPUT_DELETED,
    OUTPUT_QUARANTINED,
    OUTPUT_RELEASED,
    RELEASE_REQUESTED,
    REVIEW_APPROVED,
    REVIEW_REJECTED,
    job_key,
    output_event,
    output_steps,
)
from tds_operator.desired.outputs import review_access, review_role_name
from tds_operator.handlers.context import Operator, utcnow
from tds_operator.handlers.gather import ReleaseInputs, release_inputs
from tds_operator.handlers.objects import record_event, validation_message, write_status
from tds_operator.handlers.outputs import OutputVolume
from tds_operator.policy.conditions import set_decision, timestamp
from tds_operator.policy.decision import Decision
from tds_operator.policy.identity import UserInfo
from tds_operator.policy.manifest import approval_binds_manifest
from tds_operator.policy.outputs import (
    ALREADY_REQUESTED,
    OUTPUT_NOT_QUARANTINED,
    ReleaseRequest,
    job_has_quarantined_output,
    release_action,
)

# While the volume moves, look again this soon (each step is one API write).
MOVE_RECHECK_SECONDS = 0.5


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
            await self._report(
                body, "Refused", Decision.deny(INVALID_SPEC, validation_message(error))
            )
            return None
        inputs = await release_inputs(self.op, namespace, release.spec.training_job, name)
        job = inputs.job_body
        contract = str(((job or {}).get("spec") or {}).get("contract") or "")
        steps = (
            output_steps((await self.op.ledger.load(contract)).entries, job["metadata"]["uid"])
            if job
            else {}
        )
        refused = self._refusal(body, inputs, steps)
        if refused is not None:
            await self._report(body, "Refused", refused)
            return None
        assert job is not None
        review = release.spec.review
        reviewer = review.reviewer.user if review and review.reviewer else None
        action, decision = release_action(
            inputs.clause, review.decision if review else None, reviewer
        )
        chain = await self.op.ledger.record(
            contract, self._steps_to_record(body, release, job, steps)
        )
        # Two releases of one job reconciled at once: the ledger keeps the first request only.
        steps = output_steps(chain, job["metadata"]["uid"])
        refused = self._refusal(body, inputs, steps)
        if refused is not None:
            await self._report(body, "Refused", refused)
            return None
        quarantined = steps.get(OUTPUT_QUARANTINED)
        digest = quarantined.details.get(MANIFEST_FIELD) if quarantined else None
        extra: dict[str, Any] = {
            "contract": contract,
            "clause": inputs.clause,
            "manifest_digest": digest,
        }
        if action == "wait":
            await self._open_review(body, inputs)
            await self._report(body, "AwaitingReview", decision, **extra)
            return None
        if action == "release" and review is not None:
            bound = approval_binds_manifest(review.decision, review.manifest_digest, digest)
            action, decision = ("refuse", bound) if not bound.allowed else (action, decision)
        if action == "refuse":
            await self._report(body, "Refused", decision, **extra)
            return None
        volume = str(quarantined.details.get("volume") or "") if quarantined else ""
        if action == "delete":
            if not await self.outputs.delete(job, volume or None):
                return MOVE_RECHECK_SECONDS
            await self._record_end(
                contract,
                job,
                OUTPUT_DELETED,
                {"reason": decision.reason, "release": name, "volume": volume},
            )
            await self._report(body, "Rejected", decision, **extra)
            return None
        size = str((job["spec"].get("output") or {}).get("size") or "")
        claim = await self.outputs.release(job, volume, name, namespace, size)
        if claim is None or (claim.get("status") or {}).get("phase") != "Bound":
            await self._report(
                body,
                "Releasing",
                Decision.deny("Moving", f"moving volume {volume} into {namespace}"),
                **extra,
            )
            return MOVE_RECHECK_SECONDS
        details = {
            "release": name,
            "claim": job_key(namespace, name),
            "volume": volume,
            MANIFEST_FIELD: digest,
        }
        await self._record_end(contract, job, OUTPUT_RELEASED, details)
        done = Decision.allow(
            decision.reason,
            f"{decision.message}; volume {volume} is bound to claim {name} in {namespace}",
        )
        await self._report(
            body,
            "Released",
            done,
            claim=name,
            volume=volume,
            released_at=timestamp(utcnow()),
            **extra,
        )
        return None

    def _refusal(
        self, body: Manifest, inputs: ReleaseInputs, steps: dict[str, Any]
    ) -> Decision | None:
        """Why this release cannot proceed (the webhook's checks, enforced again), or None."""
        requested = steps.get(RELEASE_REQUESTED)
        if requested is not None:
            if requested.details.get("releaseUid") != body["metadata"]["uid"]:
                return Decision.deny(
                    ALREADY_REQUESTED,
                    f"ModelRelease {requested.details.get('release')} already asked for the output",
                )
            return None
        request = ReleaseRequest(
            requester=UserInfo(""),
            consumer_owners=(),
            consumer_space="",
            job=body["spec"]["trainingJob"],
            job_exists=inputs.job_body is not None,
            output_state=inputs.output_state,
            clause=inputs.clause,
            other_releases=(),
        )
        decision = job_has_quarantined_output(request)
        if decision.allowed and OUTPUT_QUARANTINED not in steps:
            return Decision.deny(
                OUTPUT_NOT_QUARANTINED, "the ledger does not show this output Quarantined"
            )
        return None if decision.allowed else decision

    def _steps_to_record(
        self, body: Manifest, release: ModelRelease, job: Manifest, steps: dict[str, Any]
    ) -> list[AuditEvent]:
        """The request, and the provider's review once given, each by whom the webhook said."""
        contract, uid, now = job["spec"]["contract"], job["metadata"]["uid"], utcnow()
        events: list[AuditEvent] = []
        requester = release.spec.requested_by
        if RELEASE_REQUESTED not in steps:
            details = {
                "release": job_key(body["metadata"]["namespace"], body["metadata"]["name"]),
                "releaseUid": body["metadata"]["uid"],
                "groups": requester.groups if requester else [],
            }
            events.append(
                output_event(
                    contract,
                    uid,
                    RELEASE_REQUESTED,
                    details,
                    now,
                    actor=requester.user if requester else "",
                )
            )
        review = release.spec.review
        if review is not None and review.reviewer is not None:
            kind = REVIEW_APPROVED if review.decision == "Approved" else REVIEW_REJECTED
            if kind not in steps:
                details = {
                    "release": body["metadata"]["name"],
                    "groups": review.reviewer.groups,
                    **({MANIFEST_FIELD: review.manifest_digest} if kind == REVIEW_APPROVED else {}),
                }
                events.append(
                    output_event(contract, uid, kind, details, now, actor=review.reviewer.user)
                )
        return events

    async def _record_end(
        self, contract: str, job: Manifest, kind: str, details: dict[str, Any]
    ) -> None:
        await self.op.ledger.record(
            contract, [output_event(contract, job["metadata"]["uid"], kind, details, utcnow())]
        )
        metadata = job["metadata"]
        self.op.enqueue(TRAINING_JOB, job_key(metadata["namespace"], metadata["name"]))
        self.op.enqueue(DATA_CONTRACT, contract)

    async def _open_review(self, body: Manifest, inputs: ReleaseInputs) -> None:
        """Let the provider's owners reach this one release (the webhook checks who decides),
        and tell them in their space's Events."""
        if inputs.provider is None:
            return
        metadata = body["metadata"]
        owners = list(inputs.provider.spec.owners)
        fresh = False
        for manifest in review_access(metadata["name"], metadata["namespace"], owners):
            fresh = await self.kube.ensure(manifest) or fresh
        if fresh:
            notice = {
                **body,
                "metadata": {
                    **metadata,
                    "namespace": space_namespace(inputs.provider.metadata.name or ""),
                },
            }
            await record_event(
                self.kube,
                notice,
                reason="ReviewRequested",
                message=(
                    f"ModelRelease {metadata['namespace']}/{metadata['name']} waits for the "
                    "review of an owner of this space: set its spec.review.decision to Approved "
                    "or Rejected (kubectl patch modelrelease --type=merge)"
                ),
            )

    async def _close_review(self, body: Manifest) -> None:
        metadata = body["metadata"]
        name = review_role_name(metadata["name"])
        for kind in ("RoleBinding", "Role"):
            await self.kube.delete(
                "rbac.authorization.k8s.io/v1", kind, name, metadata["namespace"]
            )

    async def _report(
        self, body: Manifest, phase: ModelReleasePhase, decision: Decision, **fields: Any
    ) -> None:
        generation = body["metadata"].get("generation")
        conditions = set_decision(
            (body.get("status") or {}).get("conditions") or [],
            RELEASED,
            decision,
            generation=generation,
            now=utcnow(),
        )
        status = ModelReleaseStatus(
            phase=phase, conditions=conditions, observed_generation=generation, **fields
        )
        if await write_status(self.kube, body, status):
            warning = phase in ("Refused", "Rejected")
            await record_event(
                self.kube,
                body,
                reason=decision.reason,
                message=f"{phase}: {decision.message}",
                warning=warning,
            )
        if phase in ENDED_PHASES:
            await self._close_review(body)
