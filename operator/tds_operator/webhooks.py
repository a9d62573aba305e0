"""Admission: the immediate, identity-aware answer, from the same policies the reconcilers use.

DataContract changes are checked against who asks (the AdmissionReview's userInfo); each consent
given or withdrawn, and the revocation, is stamped and sealed with the operator's key. A
TrainingJob its contract does not allow is refused; a new DataSpace gets the operator's finalizer;
DataSpace deletion is refused while the space is party to an active contract; only a space's
owners register its signing keys, and a signed consent must verify with one of them. The webhooks
call the same gatherers and policies as the reconcilers, which enforce the same rules again.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import kopf
from pydantic import ValidationError

from tds_operator import GROUP, VERSION
from tds_operator.api.common import INVALID_SPEC
from tds_operator.api.datacontract import DataContractSpec
from tds_operator.api.dataspace import DataSpace, DataSpaceSpec
from tds_operator.api.modelrelease import ENDED_PHASES, Identity
from tds_operator.api.resources import (
    DATA_CONTRACT,
    DATA_CONTRACTS,
    DATA_SPACES,
    MODEL_RELEASES,
    TRAINING_JOBS,
)
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.handlers.context import Operator, utcnow
from tds_operator.handlers.gather import (
    contracts_of_space,
    data_space,
    release_inputs,
)
from tds_operator.handlers.objects import FINALIZER, validation_message
from tds_operator.handlers.trainingjob import admission
from tds_operator.metrics import (
    WEBHOOK_DENIALS,
    WEBHOOK_LATENCY,
    WEBHOOK_REQUESTS,
)
from tds_operator.policy.consent import admit_contract_change
from tds_operator.policy.consent_keys import (
    admit_consent_signatures,
    admit_space_keys,
    signed_stamp,
)
from tds_operator.policy.contract import PARTIES
from tds_operator.policy.identity import UserInfo
from tds_operator.policy.identity import speaks_for as speaks_for_space
from tds_operator.policy.manifest import approval_binds_manifest
from tds_operator.policy.metadata import Metadata, admit_metadata_change
from tds_operator.policy.outputs import (
    NOT_PROVIDER_OWNER,
    ReleaseRequest,
    admit_release_request,
    admit_review,
)
from tds_operator.policy.reviews import review_seal
from tds_operator.policy.signatures import (
    SIGNATURES_ANNOTATION,
    new_signatures,
    seal,
    signatures_annotation,
    signatures_of,
    verified_stamps,
)
from tds_operator.policy.space import space_may_be_deleted
from tds_operator.policy.training import must_wait


class Refusal(kopf.AdmissionError):
    """An admission refused for a reason the API names; the message starts with the reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}", code=403)
        self.reason = reason


def _deny(reason: str, message: str) -> Refusal:
    return Refusal(reason, message)


AdmissionHandler = Callable[..., Awaitable[None]]


def measured(kind: str, handler: AdmissionHandler) -> AdmissionHandler:
    """`handler`, counted and timed per kind, operation and result; refusals by reason."""

    @functools.wraps(handler)
    async def answer(**kwargs: Any) -> None:
        operation = str(kwargs.get("operation") or "")
        started = time.perf_counter()
        result = "error"
        try:
            await handler(**kwargs)
            result = "allowed"
        except kopf.AdmissionError as refusal:
            result = "denied"
            reason = getattr(refusal, "reason", "Refused")
            WEBHOOK_DENIALS.labels(kind=kind, operation=operation, reason=reason).inc()
            raise
        finally:
            WEBHOOK_REQUESTS.labels(kind=kind, operation=operation, result=result).inc()
            WEBHOOK_LATENCY.labels(kind=kind, operation=operation).observe(
                time.perf_counter() - started
            )

    return answer


def _spec(body: kopf.Body | None) -> DataContractSpec | None:
    if not body or not body.get("spec"):
        return None
    try:
        return DataContractSpec.model_validate(dict(body["spec"]))
    except ValidationError as error:
        raise _deny(INVALID_SPEC, validation_message(error)) from None


async def admit_contract(
    body: kopf.Body,
    userinfo: kopf.UserInfo,
    patch: kopf.Patch,
    memo: Operator,
    old: kopf.Body | None = None,
    **_: Any,
) -> None:
    """Refuse changes the requester may not make; stamp each consent, withdrawal and revocation."""
    new_spec = _spec(body)
    if new_spec is None:
        raise _deny(INVALID_SPEC, "spec is required")
    if not body.metadata.name:
        # The API server names a generateName object only after admission.
        raise _deny(
            "NameRequired",
            "metadata.name is required: consents are sealed for the contract's name, so "
            "generateName cannot be used for a DataContract",
        )
    old_spec = _spec(old)
    requester = UserInfo.from_admission(dict(userinfo))
    now = utcnow()
    provider = await data_space(memo, new_spec.provider.space)
    consumer = await data_space(memo, new_spec.consumer.space)
    metadata = admit_metadata_change(
        Metadata.of(old.get("metadata") if old is not None else None),
        Metadata.of(body.get("metadata")),
        requester,
        [*(provider.spec.owners if provider else ()), *(consumer.spec.owners if consumer else ())],
        memo.identity,
    )
    if not metadata.allowed:
        raise _deny(metadata.reason, metadata.message)
    decision = admit_contract_change(
        old_spec,
        new_spec,
        requester,
        provider.spec if provider else None,
        consumer.spec if consumer else None,
        memo.rules,
        now,
    )
    if not decision.allowed:
        raise _deny(decision.reason, decision.message)
    _check_signatures(body, old_spec, new_spec, requester, (provider, consumer), memo)
    value = _stamped(body, old, old_spec, new_spec, requester, (provider, consumer), memo)
    if dict(body.metadata.annotations).get(SIGNATURES_ANNOTATION) != value:
        annotations = patch.setdefault("metadata", {}).setdefault("annotations", {})
        annotations[SIGNATURES_ANNOTATION] = value


def _check_signatures(
    body: kopf.Body,
    old_spec: DataContractSpec | None,
    new_spec: DataContractSpec,
    requester: UserInfo,
    parties: tuple[DataSpace | None, DataSpace | None],
    memo: Operator,
) -> None:
    """Refuse a consent whose signature is not its side's own registered key over these terms
    (or, under the hub rule, a consent with no signature)."""
    provider, consumer = parties
    spaces = {"provider": provider.spec if provider else None}
    spaces["consumer"] = consumer.spec if consumer else None
    signed = admit_consent_signatures(
        body.metadata.name or "", old_spec, new_spec, spaces, requester,
        memo.rules.require_signed_consent,
    )  # fmt: skip
    if not signed.allowed:
        raise _deny(signed.reason, signed.message)


def _stamped(
    body: kopf.Body,
    old: kopf.Body | None,
    old_spec: DataContractSpec | None,
    new_spec: DataContractSpec,
    requester: UserInfo,
    spaces: tuple[DataSpace | None, DataSpace | None],
    memo: Operator,
) -> str | None:
    """The signatures annotation after this change.

    Stamps come only from here: whatever the request says about them is replaced by the stored
    ones the operator sealed, plus what this very request does, sealed.
    """
    name = body.metadata.name or ""
    stored = verified_stamps(
        signatures_of(dict(old.metadata.annotations) if old is not None else None),
        memo.signing_key,
        name,
    )
    speaks_for = [
        party
        for party, space in zip(PARTIES, spaces, strict=True)
        if space is not None and speaks_for_space(space.spec.owners, requester)
    ]
    stamps = new_signatures(old_spec, new_spec, requester, utcnow(), stored, speaks_for)
    specs: dict[str, DataSpaceSpec | None] = {
        p: space.spec if space else None for p, space in zip(PARTIES, spaces, strict=True)
    }
    stamps = [signed_stamp(stamp, new_spec, specs) for stamp in stamps]
    return signatures_annotation(stored + [seal(memo.signing_key, name, s) for s in stamps])


async def admit_training(body: kopf.Body, memo: Operator, **_: Any) -> None:
    """A TrainingJob that its contract does not allow is refused at once, naming the term."""
    try:
        job = TrainingJob.model_validate(dict(body))
    except ValidationError as error:
        raise _deny(INVALID_SPEC, validation_message(error)) from None
    if not job.metadata.namespace:
        namespace = body.get("metadata", {}).get("namespace")
        job = job.model_copy(
            update={"metadata": job.metadata.model_copy(update={"namespace": namespace})}
        )
    contract = await memo.kube.get(f"{GROUP}/{VERSION}", DATA_CONTRACT, job.spec.contract)
    decision = (await admission.decide(memo, job, contract, waiting=False))[0]
    if not decision.allowed and not must_wait(decision):
        # An allowed job is counted once, when the operator records its admission; a job that
        # does not fit yet is let in to wait in its contract's queue.
        admission.count(job, contract, decision)
        raise _deny(decision.reason, decision.message)


def _identity(requester: UserInfo) -> dict[str, Any]:
    return {"user": requester.username, "groups": list(requester.groups)}


async def admit_release(
    body: kopf.Body,
    userinfo: kopf.UserInfo,
    patch: kopf.Patch,
    memo: Operator,
    old: kopf.Body | None = None,
    **_: Any,
) -> None:
    """A ModelRelease: asked for by a consumer owner, reviewed by a provider owner; each bound
    to who the API server says asks (spec.requestedBy, spec.review.reviewer)."""
    requester = UserInfo.from_admission(dict(userinfo))
    spec = dict(body.get("spec") or {})
    job = str(spec.get("trainingJob") or "")
    namespace = str(body.metadata.namespace or "")
    inputs = await release_inputs(memo, namespace, job, body.metadata.name or "")
    if old is None:
        if spec.get("review"):
            raise _deny(
                NOT_PROVIDER_OWNER, "spec.review is the provider's to set, after the request"
            )
        consumer = inputs.consumer
        decision = admit_release_request(
            ReleaseRequest(
                requester=requester,
                consumer_owners=tuple(consumer.spec.owners) if consumer else (),
                consumer_space=consumer.metadata.name or "" if consumer else "(none)",
                job=job,
                job_exists=inputs.job_body is not None,
                output_state=inputs.output_state,
                clause=inputs.clause,
                other_releases=inputs.other_releases,
            )
        )
        if not decision.allowed:
            raise _deny(decision.reason, decision.message)
        patch.setdefault("spec", {})["requestedBy"] = _identity(requester)
        return
    if not spec.get("review") or (old.get("spec") or {}).get("review"):
        return  # no new review: the CRD's rules keep the request and a given review fixed
    provider = inputs.provider
    ended = ((old.get("status") or {}).get("phase") or "") in ENDED_PHASES
    decision = admit_review(
        requester,
        provider.spec.owners if provider else (),
        provider.metadata.name or "" if provider else "(none)",
        inputs.clause,
        ended,
    )
    if not decision.allowed:
        raise _deny(decision.reason, decision.message)
    review = dict(spec["review"])
    output = ((inputs.job_body or {}).get("status") or {}).get("output") or {}
    recorded = output.get("manifestDigest")
    bound = approval_binds_manifest(
        str(review.get("decision")), review.get("manifestDigest"), recorded
    )
    if not bound.allowed:
        raise _deny(bound.reason, bound.message)
    if review.get("decision") == "Approved":
        review["manifestDigest"] = recorded
    reviewer = _identity(requester)
    # Sealed for this release and job: the reconciler acts on no review the webhook did not see.
    review["seal"] = review_seal(
        memo.signing_key,
        str(review.get("decision")),
        review.get("manifestDigest"),
        Identity.model_validate(reviewer),
        str((old.get("metadata") or {}).get("uid") or ""),
        str(((inputs.job_body or {}).get("metadata") or {}).get("uid") or ""),
    )
    patch.setdefault("spec", {})["review"] = {**review, "reviewer": reviewer}


async def add_space_finalizer(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    """A new DataSpace carries the operator's finalizer from its creation: its first reconcile
    need not write it (a space made while this webhook was absent gets it from the reconcile).
    Finalizers the request gives are kept."""
    finalizers = list(body.metadata.get("finalizers") or [])
    if FINALIZER not in finalizers:
        patch.setdefault("metadata", {})["finalizers"] = [*finalizers, FINALIZER]


async def admit_space_keys_change(
    body: kopf.Body, userinfo: kopf.UserInfo, old: kopf.Body | None = None, **_: Any
) -> None:
    """Only a space's owners add or remove its signing keys, each under their own name; an owner
    changes nothing else of the space."""
    try:
        new_spec = DataSpaceSpec.model_validate(dict(body.get("spec") or {}))
        old_spec = DataSpaceSpec.model_validate(dict(old["spec"])) if old else None
    except ValidationError as error:
        raise _deny(INVALID_SPEC, validation_message(error)) from None
    watched = ("labels", "annotations", "finalizers", "ownerReferences")
    old_metadata: dict[str, Any] = dict(old.get("metadata") or {}) if old else {}
    new_metadata: dict[str, Any] = dict(body.get("metadata") or {}) if old else {}
    before = {k: old_metadata.get(k) for k in watched}
    after = {k: new_metadata.get(k) for k in watched}
    decision = admit_space_keys(
        old_spec, new_spec, UserInfo.from_admission(dict(userinfo)), before != after
    )
    if not decision.allowed:
        raise _deny(decision.reason, decision.message)


async def admit_space_deletion(name: str, memo: Operator, **_: Any) -> None:
    """A space that is party to an active contract cannot be deleted."""
    decision = space_may_be_deleted(name, await contracts_of_space(memo, name))
    if not decision.allowed:
        raise _deny(decision.reason, decision.message)


def register(registry: kopf.OperatorRegistry) -> None:
    """Add the admission handlers to `registry`."""
    tds = (GROUP, VERSION)
    kopf.on.mutate(
        *tds,
        DATA_CONTRACTS,
        operations=["CREATE", "UPDATE"],
        id="contract-consent",
        registry=registry,
    )(measured("DataContract", admit_contract))
    kopf.on.validate(
        *tds, TRAINING_JOBS, operations=["CREATE"], id="training-admission", registry=registry
    )(measured("TrainingJob", admit_training))
    kopf.on.mutate(
        *tds, DATA_SPACES, operations=["CREATE"], id="space-finalizer", registry=registry
    )(measured("DataSpace", add_space_finalizer))
    kopf.on.validate(
        *tds, DATA_SPACES, operations=["CREATE", "UPDATE"], id="space-keys", registry=registry
    )(measured("DataSpace", admit_space_keys_change))
    kopf.on.validate(
        *tds, DATA_SPACES, operations=["DELETE"], id="space-deletion", registry=registry
    )(measured("DataSpace", admit_space_deletion))
    kopf.on.mutate(
        *tds, MODEL_RELEASES, operations=["CREATE", "UPDATE"], id="model-release", registry=registry
    )(measured("ModelRelease", admit_release))
