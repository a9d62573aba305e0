"""DataSpace reconciler: read the space, decide, build its children, apply, report in status."""

from __future__ import annotations

import asyncio
import logging

from pydantic import ValidationError

from tds_operator import API_VERSION
from tds_operator.api.common import INVALID_SPEC
from tds_operator.api.dataspace import (
    CHILD_REJECTED,
    DELETING_NAMESPACE,
    DRIFT_REPAIRED,
    PROVISIONED,
    READY,
    TERMINATING,
    UPDATED,
    DataSpace,
    DataSpaceStatus,
    space_namespace,
)
from tds_operator.api.resources import DATA_SPACE, RBAC, Manifest
from tds_operator.audit.published import KEYS_CONFIGMAP
from tds_operator.audit.store import readable_page_names
from tds_operator.desired.labels import MANAGED_BY, SPACE_LABEL
from tds_operator.desired.space import (
    space_children,
    space_ledger_access,
    space_namespace_manifest,
)
from tds_operator.handlers.children import ensure_child, key_of
from tds_operator.handlers.context import Operator, utcnow
from tds_operator.handlers.gather import contracts_of_space, known_contracts_of_space
from tds_operator.handlers.objects import (
    REJECTED_STATUSES,
    ensure_finalizer,
    post_events,
    remove_finalizer,
    validation_message,
    write_status,
)
from tds_operator.kube import KubeError
from tds_operator.policy.condition_events import condition_events
from tds_operator.policy.conditions import set_decision
from tds_operator.policy.decision import Decision
from tds_operator.policy.reports import space_events
from tds_operator.policy.space import namespace_is_ours, space_may_be_deleted

logger = logging.getLogger(__name__)

REFERENCED_KINDS = frozenset({"Namespace", "Role", "ClusterRole"})
"""Children that others live in or name: made before the rest."""
STALE_STATUSES = frozenset({404, 409})
"""A write refused so: the space changed or went since the version the reconcile started from."""
# How often a space blocked by something the operator does not watch looks again.
RECHECK_BLOCKED_SECONDS = 30.0
# How often a deleted space looks whether its namespace has gone.
NAMESPACE_GONE_RECHECK_SECONDS = 2.0


def provisioned(space: DataSpace) -> Decision:
    """Ready: what the space now is, in one sentence."""
    quota = space.spec.quota
    return Decision.allow(
        PROVISIONED,
        f"namespace {space.namespace_name} is isolated (Pod Security restricted, default-deny "
        f"network policies) with quota cpu={quota.cpu} memory={quota.memory} gpu={quota.gpu} "
        f"pods={quota.pods}, {len(space.spec.owners)} owner(s) and "
        f"{len(space.spec.members)} member(s)",
    )


class SpaceReconciler:
    """Makes the world match one DataSpace; idempotent, zero writes when converged."""

    def __init__(self, op: Operator) -> None:
        self.op = op
        self.kube = op.kube

    async def __call__(self, name: str) -> float | None:
        body = self.op.spaces.get(name) or await self._read(name)
        if body is None:
            return None
        try:
            return await self._reconcile(name, body)
        except KubeError as error:
            if error.status in STALE_STATUSES:
                self.op.spaces.forget(name)
            raise

    async def _read(self, name: str) -> Manifest | None:
        """The space from the API server, when the watch has not delivered it (yet)."""
        body = await self.kube.get(API_VERSION, DATA_SPACE, name)
        self.op.spaces.fill([body] if body else [])
        return body

    async def _reconcile(self, name: str, body: Manifest) -> float | None:
        if body["metadata"].get("deletionTimestamp"):
            return await self._finalize(body)
        # The webhook adds the finalizer at creation; a space made while it was absent gets it here.
        self.op.spaces.wrote(await ensure_finalizer(self.kube, body))
        try:
            space = DataSpace.model_validate(body)
        except ValidationError as error:
            await self._report(body, Decision.deny(INVALID_SPEC, validation_message(error)))
            return None
        namespace = await self._namespace(space)
        ownership = namespace_is_ours(namespace, space.metadata.uid or "")
        if not ownership.allowed:
            await self._report(body, ownership)
            return RECHECK_BLOCKED_SECONDS
        bodies = await known_contracts_of_space(self.op, name)
        # The ledger pages of its contracts, and the published keys their checkpoints verify with.
        pages = [KEYS_CONFIGMAP, *(page for body in bodies for page in readable_page_names(body))]
        children = [
            *space_children(space, [c["metadata"]["name"] for c in bodies]),
            *space_ledger_access(space, pages, self.op.config.namespace),
        ]
        changed = await self._apply_children(children)
        if isinstance(changed, Decision):
            logger.warning("DataSpace %s: %s", name, changed.message)
            await self._report(body, changed)
            return None
        changed += await self._remove_stale_bindings(space, children)
        await self._report(body, provisioned(space), changed=changed)
        return None

    async def _apply_children(self, children: list[Manifest]) -> list[str] | Decision:
        """Make every child as desired: what others name first (the namespace, the roles), then
        the rest, each wave at once. What was written, or why the API server refused a child."""
        changed: list[str] = []
        for wave in (
            [c for c in children if c["kind"] in REFERENCED_KINDS],
            [c for c in children if c["kind"] not in REFERENCED_KINDS],
        ):
            outcomes = await asyncio.gather(*(self._apply_child(child) for child in wave))
            for outcome in outcomes:
                if isinstance(outcome, Decision):
                    return outcome
                changed += [outcome] if outcome else []
        return changed

    async def _apply_child(self, child: Manifest) -> str | Decision | None:
        """The child as desired: what was written (None: nothing), or the API server's refusal."""
        what = f"{child['kind']}/{child['metadata']['name']}"
        try:
            return what if await ensure_child(self.kube, self.op.children, child) else None
        except KubeError as error:
            if error.status not in REJECTED_STATUSES:
                raise
            return Decision.deny(
                CHILD_REJECTED,
                f"the API server rejected {child['kind']} {child['metadata']['name']}: "
                f"{error.message}",
            )

    async def _namespace(self, space: DataSpace) -> Manifest | None:
        """The space's namespace: as the index holds it; else, once the index is filled, made now
        (one request where a read and an apply are two); else, or if a namespace of that name
        exists already, as the API server has it (it may be someone else's)."""
        index, manifest = self.op.children, space_namespace_manifest(space)
        held = index.get(key_of(manifest))
        if held is not None:
            return held
        if index.synced:
            try:
                created = await self.kube.create(manifest)
            except KubeError as error:
                if error.status != 409:
                    raise
            else:
                index.wrote(created)
                return created
        return await self.kube.get("v1", "Namespace", space.namespace_name)

    async def _bindings(self, space: str, kind: str, namespace: str | None) -> list[Manifest]:
        """The bindings the operator made for the space: from the index once a LIST filled it."""
        index = self.op.children
        if index.synced:
            return [
                body
                for body in index.of_space(space, kind)
                if body["metadata"].get("namespace") == namespace
            ]
        selector = f"{MANAGED_BY}=tds-operator,{SPACE_LABEL}={space}"
        return await self.kube.list(RBAC, kind, namespace, selector)

    async def _remove_stale_bindings(self, space: DataSpace, children: list[Manifest]) -> list[str]:
        """Bindings the spec no longer calls for (e.g. the last member left) are deleted."""
        desired = {(c["kind"], c["metadata"]["name"]) for c in children}
        removed = []
        for kind, namespace in (
            ("RoleBinding", space.namespace_name),
            ("ClusterRoleBinding", None),
        ):
            for binding in await self._bindings(space.metadata.name or "", kind, namespace):
                name = binding["metadata"]["name"]
                if (kind, name) not in desired:
                    await self.kube.delete(RBAC, kind, name, namespace)
                    self.op.children.deleted(key_of(binding))
                    removed.append(f"{kind}/{name} (removed)")
        return removed

    async def _report(
        self, body: Manifest, decision: Decision, *, changed: list[str] | None = None
    ) -> None:
        """Write the typed status once, and post an Event for each condition that changed (or
        what a Ready space's reconcile repaired or applied)."""
        status = body.get("status") or {}
        generation = body["metadata"].get("generation")
        old = status.get("conditions") or []
        conditions = set_decision(old, READY, decision, generation=generation, now=utcnow())
        new_status = DataSpaceStatus(
            namespace=space_namespace(body["metadata"]["name"]),
            datasets=len((body.get("spec") or {}).get("datasets") or []),
            conditions=conditions,
            observed_generation=generation,
        )
        events = space_events(
            old,
            conditions,
            ready=READY,
            repaired=changed or [],
            spec_changed=status.get("observedGeneration") != generation,
            reasons=(UPDATED, DRIFT_REPAIRED),
        )
        # The Events are decided from the status as it was, not as written: both go at once.
        await asyncio.gather(
            self._write_status(body, new_status), post_events(self.kube, body, events)
        )

    async def _write_status(self, body: Manifest, status: DataSpaceStatus) -> None:
        """Write the status, and note the write at once: its watch event, which may come before
        the Event's answer, is no news."""
        self.op.spaces.wrote(await write_status(self.kube, body, status))

    async def _finalize(self, body: Manifest) -> float | None:
        name = body["metadata"]["name"]
        decision = space_may_be_deleted(name, await contracts_of_space(self.op, name))
        if not decision.allowed:
            await self._report_terminating(body, decision)
            return None
        namespace_name = space_namespace(name)
        namespace = await self.kube.get("v1", "Namespace", namespace_name)
        if namespace is not None and namespace_is_ours(namespace, body["metadata"]["uid"]).allowed:
            if not namespace["metadata"].get("deletionTimestamp"):
                await self.kube.delete("v1", "Namespace", namespace_name)
            waiting = f"waiting for namespace {namespace_name} to be deleted"
            await self._report_terminating(body, Decision.allow(DELETING_NAMESPACE, waiting))
            return NAMESPACE_GONE_RECHECK_SECONDS
        await remove_finalizer(self.kube, body)
        logger.info("DataSpace %s deleted with everything it owned", name)
        return None

    async def _report_terminating(self, body: Manifest, decision: Decision) -> None:
        conditions = set_decision(
            (body.get("status") or {}).get("conditions") or [],
            TERMINATING,
            decision,
            generation=body["metadata"].get("generation"),
            now=utcnow(),
        )
        await self._write_status(body, DataSpaceStatus(conditions=conditions))
        old = (body.get("status") or {}).get("conditions") or []
        await post_events(self.kube, body, condition_events(old, conditions))
