"""DataContract admission: changes are checked against who asks (the AdmissionReview's userInfo);
each consent given or withdrawn, and the revocation, is stamped and sealed with the operator's
key, and a signed consent must verify with one of its side's registered keys."""

from __future__ import annotations

from typing import Any

import kopf
from pydantic import ValidationError

from tds_operator.api.common import INVALID_SPEC
from tds_operator.api.datacontract import DataContractSpec
from tds_operator.api.dataspace import DataSpace, DataSpaceSpec
from tds_operator.handlers.context import Operator, utcnow
from tds_operator.handlers.gather import data_space
from tds_operator.handlers.objects import validation_message
from tds_operator.policy.consent import admit_contract_change
from tds_operator.policy.consent_keys import admit_consent_signatures, signed_stamp
from tds_operator.policy.contract import PARTIES
from tds_operator.policy.identity import UserInfo
from tds_operator.policy.identity import speaks_for as speaks_for_space
from tds_operator.policy.metadata import Metadata, admit_metadata_change
from tds_operator.policy.signatures import (
    SIGNATURES_ANNOTATION,
    new_signatures,
    seal,
    signatures_annotation,
    signatures_of,
    verified_stamps,
)
from tds_operator.webhooks.common import deny
from tds_operator.webhooks.relay import acting_for


def _spec(body: kopf.Body | None) -> DataContractSpec | None:
    if not body or not body.get("spec"):
        return None
    try:
        return DataContractSpec.model_validate(dict(body["spec"]))
    except ValidationError as error:
        raise deny(INVALID_SPEC, validation_message(error)) from None


async def admit_contract(
    body: kopf.Body,
    userinfo: kopf.UserInfo,
    patch: kopf.Patch,
    memo: Operator,
    old: kopf.Body | None = None,
    **_: Any,
) -> None:
    """Refuse changes the requester may not make; stamp each consent, withdrawal and revocation.
    A create from a ContractProposal is judged as its stamped proposer's (webhooks/relay.py)."""
    new_spec = _spec(body)
    if new_spec is None:
        raise deny(INVALID_SPEC, "spec is required")
    if not body.metadata.name:
        # The API server names a generateName object only after admission.
        raise deny(
            "NameRequired",
            "metadata.name is required: consents are sealed for the contract's name, so "
            "generateName cannot be used for a DataContract",
        )
    old_spec = _spec(old)
    asker = UserInfo.from_admission(dict(userinfo))
    requester = asker if old is not None else await acting_for(body, asker, memo)
    provider = await data_space(memo, new_spec.provider.space)
    consumer = await data_space(memo, new_spec.consumer.space)
    metadata = admit_metadata_change(
        Metadata.of(old.get("metadata") if old is not None else None),
        Metadata.of(body.get("metadata")),
        asker,
        [*(provider.spec.owners if provider else ()), *(consumer.spec.owners if consumer else ())],
        memo.identity,
    )
    if not metadata.allowed:
        raise deny(metadata.reason, metadata.message)
    decision = admit_contract_change(
        old_spec,
        new_spec,
        requester,
        provider.spec if provider else None,
        consumer.spec if consumer else None,
        memo.rules,
        utcnow(),
    )
    if not decision.allowed:
        raise deny(decision.reason, decision.message)
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
        raise deny(signed.reason, signed.message)


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
