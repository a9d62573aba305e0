"""Contracts, spaces and requesters for the policy tests: the winter load-forecasting story."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tds_operator.api.datacontract import Consent, DataContractSpec, PartyConsent
from tds_operator.api.dataspace import DataSpaceSpec
from tds_operator.policy.identity import UserInfo

NOT_BEFORE = datetime(2026, 12, 1, tzinfo=UTC)
NOT_AFTER = datetime(2027, 3, 1, tzinfo=UTC)
BEFORE_WINDOW = datetime(2026, 11, 20, tzinfo=UTC)
IN_WINDOW = datetime(2027, 1, 15, 12, 30, tzinfo=UTC)


def contract_spec(**changes: Any) -> DataContractSpec:
    """sgcc shares grid-load-2025 with cmcc over one winter; `changes` replace spec fields."""
    spec: dict[str, Any] = {
        "provider": {"space": "sgcc", "datasets": ["grid-load-2025"]},
        "consumer": {"space": "cmcc"},
        "purpose": "model-training",
        "validity": {"notBefore": "2026-12-01T00:00:00Z", "notAfter": "2027-03-01T00:00:00Z"},
        "compute": {"maxGpuHours": 500, "maxConcurrentGpus": 16},
        "maxJobs": 20,
    }
    spec.update(changes)
    return DataContractSpec.model_validate(spec)


def with_consent(
    spec: DataContractSpec, *, provider: bool | None = None, consumer: bool | None = None
) -> DataContractSpec:
    """The spec with the given approvals changed and the others kept."""
    consent = Consent(
        provider=PartyConsent(
            approved=spec.consent.provider.approved if provider is None else provider
        ),
        consumer=PartyConsent(
            approved=spec.consent.consumer.approved if consumer is None else consumer
        ),
    )
    return spec.model_copy(update={"consent": consent})


def consented(spec: DataContractSpec | None = None) -> DataContractSpec:
    """The spec approved by both parties."""
    return with_consent(spec or contract_spec(), provider=True, consumer=True)


def revoked(spec: DataContractSpec) -> DataContractSpec:
    """The spec with revoked set."""
    return spec.model_copy(update={"revoked": True})


def space(owners: list[dict[str, str]], **changes: Any) -> DataSpaceSpec:
    """A DataSpace spec with those owners."""
    spec: dict[str, Any] = {
        "organization": "Example",
        "owners": owners,
        "members": [{"kind": "User", "name": "li.wei"}],
        "quota": {"cpu": "64", "memory": "256Gi"},
        "datasets": [],
    }
    spec.update(changes)
    return DataSpaceSpec.model_validate(spec)


def sgcc() -> DataSpaceSpec:
    """The provider: owned by group sgcc-admins and user wang.fang."""
    return space(
        [{"kind": "Group", "name": "sgcc-admins"}, {"kind": "User", "name": "wang.fang"}],
        datasets=[
            {
                "name": "grid-load-2025",
                "classification": "important",
                "source": {"service": {"name": "grid-load-gateway", "port": 8443}},
            },
            {
                "name": "grid-topology",
                "classification": "core",
                "source": {"volume": {"claimName": "grid-topology"}},
            },
            {
                "name": "outage-reports",
                "classification": "general",
                "source": {"volume": {"claimName": "outages"}},
            },
        ],
    )


def cmcc() -> DataSpaceSpec:
    """The consumer: owned by group cmcc-ai-lab-leads and user zhang.min."""
    return space(
        [{"kind": "Group", "name": "cmcc-ai-lab-leads"}, {"kind": "User", "name": "zhang.min"}]
    )


def user(name: str, *groups: str) -> UserInfo:
    """An authenticated requester."""
    return UserInfo(name, (*groups, "system:authenticated"))


ALICE = user("alice", "sgcc-admins")
"""Provider owner through her group."""
WANG = user("wang.fang")
"""Provider owner by name."""
BOB = user("bob", "cmcc-ai-lab-leads")
"""Consumer owner through his group."""
ZHANG = user("zhang.min")
"""Consumer owner by name."""
CAROL = user("carol", "sgcc-admins", "cmcc-ai-lab-leads")
"""Owner of both spaces."""
LI = user("li.wei", "sgcc-analysts")
"""A member of both spaces, owner of neither."""
DAVE = user("dave", "cma-data-office")
"""Owner of another space (cma)."""
ANONYMOUS = UserInfo("system:anonymous", ("system:unauthenticated",))
"""An unauthenticated request."""
