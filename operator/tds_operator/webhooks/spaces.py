"""DataSpace admission: a new space gets the operator's finalizer, only a space's owners register
its signing keys, and a space party to an active contract cannot be deleted."""

from __future__ import annotations

from typing import Any

import kopf
from pydantic import ValidationError

from tds_operator.api.common import INVALID_SPEC
from tds_operator.api.dataspace import DataSpaceSpec
from tds_operator.handlers.context import Operator
from tds_operator.handlers.gather import contracts_of_space
from tds_operator.handlers.objects import FINALIZER, validation_message
from tds_operator.policy.consent_keys import admit_space_keys
from tds_operator.policy.identity import UserInfo
from tds_operator.policy.space import space_may_be_deleted
from tds_operator.webhooks.common import deny


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
        raise deny(INVALID_SPEC, validation_message(error)) from None
    watched = ("labels", "annotations", "finalizers", "ownerReferences")
    old_metadata: dict[str, Any] = dict(old.get("metadata") or {}) if old else {}
    new_metadata: dict[str, Any] = dict(body.get("metadata") or {}) if old else {}
    before = {k: old_metadata.get(k) for k in watched}
    after = {k: new_metadata.get(k) for k in watched}
    decision = admit_space_keys(
        old_spec, new_spec, UserInfo.from_admission(dict(userinfo)), before != after
    )
    if not decision.allowed:
        raise deny(decision.reason, decision.message)


async def admit_space_deletion(name: str, memo: Operator, **_: Any) -> None:
    """A space that is party to an active contract cannot be deleted."""
    decision = space_may_be_deleted(name, await contracts_of_space(memo, name))
    if not decision.allowed:
        raise deny(decision.reason, decision.message)
