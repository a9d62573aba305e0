"""ContractProposal admission: stamps who proposes.

On a create, or an update that changes the terms, the requester must be an owner of the space
whose namespace holds the proposal, and that space must be a party of the terms; the stamp of
this very request (user, groups, namespace, proposal, digest of the terms, sealed) replaces
whatever the writer put in the annotation. An update that leaves the terms as they are keeps the
stored stamp, whoever makes it.
"""

from __future__ import annotations

from typing import Any

import kopf

from tds_operator.api.common import INVALID_SPEC
from tds_operator.api.dataspace import space_namespace
from tds_operator.handlers.context import Operator, utcnow
from tds_operator.handlers.gather import data_space
from tds_operator.policy.identity import UserInfo, speaks_for
from tds_operator.policy.proposals import (
    NOT_A_PARTY,
    NOT_A_SPACE_NAMESPACE,
    NOT_AN_OWNER,
    PROPOSER_ANNOTATION,
    proposer_stamp,
)
from tds_operator.webhooks.common import deny

SPACE_PREFIX = "tds-"


async def admit_proposal(
    body: kopf.Body,
    userinfo: kopf.UserInfo,
    patch: kopf.Patch,
    memo: Operator,
    old: kopf.Body | None = None,
    **_: Any,
) -> None:
    """Refuse a proposal outside its proposer's space; stamp who wrote its terms."""
    namespace = body.metadata.namespace or ""
    spec = dict(body.get("spec") or {})
    if not spec:
        raise deny(INVALID_SPEC, "spec is required: the DataContract's terms")
    if not body.metadata.name:
        raise deny("NameRequired", "metadata.name is required (the contract's name comes from it)")
    if old is not None and dict(old.get("spec") or {}) == spec:
        value = dict(old.metadata.annotations).get(PROPOSER_ANNOTATION)
    else:
        value = await _stamp(body, namespace, spec, UserInfo.from_admission(dict(userinfo)), memo)
    if dict(body.metadata.annotations).get(PROPOSER_ANNOTATION) != value:
        annotations = patch.setdefault("metadata", {}).setdefault("annotations", {})
        annotations[PROPOSER_ANNOTATION] = value


async def _stamp(
    body: kopf.Body, namespace: str, spec: dict[str, Any], requester: UserInfo, memo: Operator
) -> str:
    space_name = namespace.removeprefix(SPACE_PREFIX)
    space = await data_space(memo, space_name) if namespace.startswith(SPACE_PREFIX) else None
    if space is None or space_namespace(space_name) != namespace:
        raise deny(
            NOT_A_SPACE_NAMESPACE,
            f"a ContractProposal is made in its proposer's space namespace (tds-<space>); "
            f"{namespace} is not one",
        )
    if not speaks_for(space.spec.owners, requester):
        raise deny(
            NOT_AN_OWNER,
            f"only an owner of space {space_name} proposes in {namespace}; "
            f"{requester.describe()} is not one",
        )
    parties = {
        str((spec.get("provider") or {}).get("space")),
        str((spec.get("consumer") or {}).get("space")),
    }
    if space_name not in parties:
        raise deny(
            NOT_A_PARTY,
            f"a proposal in {namespace} names space {space_name} as provider or consumer",
        )
    return proposer_stamp(
        memo.signing_key, requester, namespace, body.metadata.name or "", spec, utcnow()
    )
