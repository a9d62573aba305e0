"""Admission: the immediate, identity-aware answer, from the same policies the reconcilers use.

DataContract changes are checked against who asks (the AdmissionReview's userInfo) and stamped
with a signature for each consent given; DataSpace deletion is refused while the space is party
to an active contract. The reconcilers enforce the same rules again (defence in depth).
"""

from __future__ import annotations

import json
from typing import Any

import kopf
from pydantic import ValidationError

from tds_operator import API_VERSION
from tds_operator.api.datacontract import DataContractSpec
from tds_operator.api.dataspace import DataSpaceSpec
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.handlers.common import OperatorContext, utcnow
from tds_operator.handlers.contracts import SIGNATURES_ANNOTATION
from tds_operator.handlers.spaces import validation_message
from tds_operator.handlers.trainingjobs import TrainingJobReconciler
from tds_operator.policy.consent import admit_contract_change, new_signatures
from tds_operator.policy.identity import UserInfo
from tds_operator.policy.rules import HubRules
from tds_operator.policy.space import space_may_be_deleted


def _deny(reason: str, message: str) -> kopf.AdmissionError:
    return kopf.AdmissionError(f"{reason}: {message}", code=403)


def _spec(body: kopf.Body | None) -> DataContractSpec | None:
    if not body or not body.get("spec"):
        return None
    try:
        return DataContractSpec.model_validate(dict(body["spec"]))
    except ValidationError as error:
        raise _deny("InvalidSpec", validation_message(error)) from None


async def _space_spec(ctx: OperatorContext, name: str) -> DataSpaceSpec | None:
    body = await ctx.kube.get(API_VERSION, "DataSpace", name)
    if body is None:
        return None
    try:
        return DataSpaceSpec.model_validate(body.get("spec") or {})
    except ValidationError:
        return None


def _stamped(annotations: dict[str, str] | None) -> list[dict[str, Any]]:
    raw = (annotations or {}).get(SIGNATURES_ANNOTATION)
    try:
        value = json.loads(raw) if raw else []
    except json.JSONDecodeError:
        return []
    return value if isinstance(value, list) else []


@kopf.on.mutate(
    "tds.io", "v1alpha1", "datacontracts", operations=["CREATE", "UPDATE"], id="contract-consent"
)
async def admit_contract(
    body: kopf.Body,
    userinfo: kopf.UserInfo,
    patch: kopf.Patch,
    memo: kopf.Memo,
    old: kopf.Body | None = None,
    **_: Any,
) -> None:
    """Refuse changes the requester may not make; sign each consent they give."""
    ctx: OperatorContext = memo.ctx
    rules: HubRules = memo.rules
    new_spec = _spec(body)
    if new_spec is None:
        raise _deny("InvalidSpec", "spec is required")
    old_spec = _spec(old)
    requester = UserInfo.from_admission(dict(userinfo))
    now = utcnow()
    decision = admit_contract_change(
        old_spec,
        new_spec,
        requester,
        await _space_spec(ctx, new_spec.provider.space),
        await _space_spec(ctx, new_spec.consumer.space),
        rules,
        now,
    )
    if not decision.allowed:
        raise _deny(decision.reason, decision.message)
    # Signatures come only from here: whatever the request says about them is replaced by the
    # stored ones plus the consents this very request gives.
    stored = _stamped(dict(old.metadata.annotations) if old is not None else None)
    signatures = stored + new_signatures(old_spec, new_spec, requester, now, stored)
    requested = dict(body.metadata.annotations)
    value = json.dumps(signatures, sort_keys=True, separators=(",", ":")) if signatures else None
    if requested.get(SIGNATURES_ANNOTATION) != value:
        patch.setdefault("metadata", {}).setdefault("annotations", {})[SIGNATURES_ANNOTATION] = (
            value
        )


@kopf.on.validate(
    "tds.io", "v1alpha1", "trainingjobs", operations=["CREATE"], id="training-admission"
)
async def admit_training_job(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A TrainingJob that its contract does not allow is refused at once, naming the term."""
    ctx: OperatorContext = memo.ctx
    try:
        job = TrainingJob.model_validate(dict(body))
    except ValidationError as error:
        raise _deny("InvalidSpec", validation_message(error)) from None
    if not job.metadata.namespace:
        job = job.model_copy(
            update={
                "metadata": job.metadata.model_copy(
                    update={"namespace": body.get("metadata", {}).get("namespace")}
                )
            }
        )
    contract = await ctx.kube.get(API_VERSION, "DataContract", job.spec.contract)
    reconciler: TrainingJobReconciler = memo.training_jobs
    decision = await reconciler.decide(job, job.metadata.uid or "", contract)
    if not decision.allowed:
        raise _deny(decision.reason, decision.message)


@kopf.on.validate("tds.io", "v1alpha1", "dataspaces", operations=["DELETE"], id="space-deletion")
async def admit_space_deletion(name: str, memo: kopf.Memo, **_: Any) -> None:
    """A space that is party to an active contract cannot be deleted."""
    ctx: OperatorContext = memo.ctx
    decision = space_may_be_deleted(name, await ctx.kube.list(API_VERSION, "DataContract"))
    if not decision.allowed:
        raise _deny(decision.reason, decision.message)
