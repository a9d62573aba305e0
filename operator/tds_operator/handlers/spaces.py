"""DataSpace reconciler: read the space, decide, build its children, apply, report in status."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import kopf
from pydantic import ValidationError

from tds_operator import API_VERSION
from tds_operator.api.dataspace import DataSpace, space_namespace
from tds_operator.api.resources import DATA_SPACE
from tds_operator.desired.labels import MANAGED_BY, SPACE_LABEL
from tds_operator.desired.space import space_children
from tds_operator.handlers.common import (
    OperatorContext,
    ensure_finalizer,
    record_event,
    remove_finalizer,
    utcnow,
    write_status,
)
from tds_operator.kube import KubeError, Manifest
from tds_operator.policy.conditions import Decision, is_true, set_decision
from tds_operator.policy.space import namespace_is_ours, space_may_be_deleted

logger = logging.getLogger(__name__)

READY = "Ready"
TERMINATING = "Terminating"
# How often a space blocked by something the operator does not watch looks again.
RECHECK_BLOCKED_SECONDS = 30.0
# API answers that mean "this input cannot be applied", as opposed to a passing outage.
REJECTED_STATUSES = frozenset({400, 403, 409, 422})


def validation_message(error: ValidationError) -> str:
    """The first problem of an invalid object, naming its field."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    return f"{field}: {first['msg']}"


class SpaceReconciler:
    """Makes the world match one DataSpace; idempotent, zero writes when converged."""

    def __init__(self, ctx: OperatorContext) -> None:
        self.ctx = ctx
        self.kube = ctx.kube

    async def __call__(self, name: str) -> float | None:
        body = await self.kube.get(API_VERSION, DATA_SPACE, name)
        if body is None:
            return None
        if body["metadata"].get("deletionTimestamp"):
            return await self._finalize(body)
        await ensure_finalizer(self.kube, body)
        try:
            space = DataSpace.model_validate(body)
        except ValidationError as error:
            await self._report(body, Decision.deny("InvalidSpec", validation_message(error)))
            return None
        namespace = await self.kube.get("v1", "Namespace", space.namespace_name)
        ownership = namespace_is_ours(namespace, space.metadata.uid or "")
        if not ownership.allowed:
            await self._report(body, ownership)
            return RECHECK_BLOCKED_SECONDS
        changed: list[str] = []
        for child in space_children(space):
            try:
                if await self.kube.ensure(child):
                    changed.append(f"{child['kind']}/{child['metadata']['name']}")
            except KubeError as error:
                if error.status not in REJECTED_STATUSES:
                    raise
                decision = Decision.deny(
                    "ChildRejected",
                    f"the API server rejected {child['kind']} {child['metadata']['name']}: "
                    f"{error.message}",
                )
                await self._report(body, decision)
                return None
        changed += await self._remove_stale_bindings(space)
        await self._report(body, _provisioned(space), changed=changed)
        return None

    async def _remove_stale_bindings(self, space: DataSpace) -> list[str]:
        """Bindings the spec no longer calls for (e.g. the last member left) are deleted."""
        desired = {(c["kind"], c["metadata"]["name"]) for c in space_children(space)}
        selector = f"{MANAGED_BY}=tds-operator,{SPACE_LABEL}={space.metadata.name}"
        removed = []
        for kind, namespace in (
            ("RoleBinding", space.namespace_name),
            ("ClusterRoleBinding", None),
        ):
            for binding in await self.kube.list(
                "rbac.authorization.k8s.io/v1", kind, namespace, selector
            ):
                name = binding["metadata"]["name"]
                if (kind, name) not in desired:
                    await self.kube.delete("rbac.authorization.k8s.io/v1", kind, name, namespace)
                    removed.append(f"{kind}/{name} (removed)")
        return removed

    async def _report(
        self, body: Manifest, decision: Decision, *, changed: list[str] | None = None
    ) -> None:
        """Write Ready from the decision, and an Event for each meaningful change."""
        now = utcnow()
        status = body.get("status") or {}
        old_conditions: list[dict[str, Any]] = status.get("conditions") or []
        generation = body["metadata"].get("generation")
        conditions = set_decision(old_conditions, READY, decision, generation=generation, now=now)
        name = body["metadata"]["name"]
        new_status: dict[str, Any] = {
            "namespace": space_namespace(name),
            "datasets": len((body.get("spec") or {}).get("datasets") or []),
            "conditions": conditions,
            "observedGeneration": generation,
        }
        was_ready = is_true(old_conditions, READY)
        previous = next((c for c in old_conditions if c["type"] == READY), None)
        await write_status(self.kube, body, new_status)
        if not decision.allowed:
            if previous is None or previous.get("reason") != decision.reason or was_ready:
                await record_event(
                    self.kube, body, reason=decision.reason, message=decision.message, warning=True
                )
            return
        if not was_ready:
            await record_event(self.kube, body, reason="Provisioned", message=decision.message)
        elif changed:
            spec_changed = status.get("observedGeneration") != generation
            await record_event(
                self.kube,
                body,
                reason="Updated" if spec_changed else "DriftRepaired",
                message=("applied the new spec: " if spec_changed else "restored ")
                + ", ".join(changed),
            )

    async def _finalize(self, body: Manifest) -> float | None:
        name = body["metadata"]["name"]
        contracts = await self.kube.list(API_VERSION, "DataContract")
        decision = space_may_be_deleted(name, contracts)
        if not decision.allowed:
            await self._report_terminating(body, decision)
            return None
        namespace_name = space_namespace(name)
        namespace = await self.kube.get("v1", "Namespace", namespace_name)
        if namespace is not None and namespace_is_ours(namespace, body["metadata"]["uid"]).allowed:
            if not namespace["metadata"].get("deletionTimestamp"):
                await self.kube.delete("v1", "Namespace", namespace_name)
            await self._report_terminating(
                body,
                Decision.allow(
                    "DeletingNamespace", f"waiting for namespace {namespace_name} to be deleted"
                ),
            )
            return 2.0
        await remove_finalizer(self.kube, body)
        logger.info("DataSpace %s deleted with everything it owned", name)
        return None

    async def _report_terminating(self, body: Manifest, decision: Decision) -> None:
        old_conditions = (body.get("status") or {}).get("conditions") or []
        previous = next((c for c in old_conditions if c["type"] == TERMINATING), None)
        conditions = set_decision(
            old_conditions,
            TERMINATING,
            decision,
            generation=body["metadata"].get("generation"),
            now=utcnow(),
        )
        await write_status(self.kube, body, {"conditions": conditions})
        if previous is None or previous.get("reason") != decision.reason:
            await record_event(
                self.kube,
                body,
                reason=decision.reason,
                message=decision.message,
                warning=not decision.allowed,
            )


def _provisioned(space: DataSpace) -> Decision:
    quota = space.spec.quota
    return Decision.allow(
        "Provisioned",
        f"namespace {space.namespace_name} is isolated (Pod Security restricted, default-deny "
        f"network policies) with quota cpu={quota.cpu} memory={quota.memory} gpu={quota.gpu} "
        f"pods={quota.pods}, {len(space.spec.owners)} owner(s) and "
        f"{len(space.spec.members)} member(s)",
    )


def _space_of_child(labels: Mapping[str, str]) -> str | None:
    return labels.get(SPACE_LABEL) if labels.get(MANAGED_BY) == "tds-operator" else None


@kopf.on.event("tds.io", "v1alpha1", "dataspaces")
async def space_changed(name: str, memo: kopf.Memo, **_: Any) -> None:
    """Any change to a DataSpace: reconcile it."""
    memo.ctx.enqueue(DATA_SPACE, name)


CHILD_RESOURCES = [
    ("v1", "namespaces"),
    ("networking.k8s.io/v1", "networkpolicies"),
    ("v1", "resourcequotas"),
    ("v1", "limitranges"),
    ("rbac.authorization.k8s.io/v1", "rolebindings"),
    ("rbac.authorization.k8s.io/v1", "clusterrolebindings"),
]


def _register_child_watches() -> None:
    for group_version, plural in CHILD_RESOURCES:

        @kopf.on.event(
            group_version,
            plural,
            labels={MANAGED_BY: "tds-operator", SPACE_LABEL: kopf.PRESENT},
            id=f"space-child-{plural}",
        )
        async def space_child_changed(labels: Mapping[str, str], memo: kopf.Memo, **_: Any) -> None:
            """A child of a space changed or vanished: reconcile the space (repairs drift)."""
            space = _space_of_child(labels)
            if space:
                memo.ctx.enqueue(DATA_SPACE, space)


_register_child_watches()


@kopf.on.event("tds.io", "v1alpha1", "datacontracts")
async def contract_changed_for_spaces(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A contract changed: the spaces it names may now be deletable."""
    spec = body.get("spec") or {}
    for party in ("provider", "consumer"):
        space = (spec.get(party) or {}).get("space")
        if space:
            memo.ctx.enqueue(DATA_SPACE, space)
