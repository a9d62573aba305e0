"""The one set of test objects: DataSpaces, DataContracts, TrainingJobs and the people behind them.

Every tier builds its manifests here, so a new field is added once. The builders return plain
dicts, as kubectl and the API server see them; unit tests `model_validate` them. The public names
of the API (group, version) are restated here on purpose: the tests treat them as a contract.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from tds_operator.api.datacontract import Consent, DataContractSpec, PartyConsent
from tds_operator.api.dataspace import DataSpace, DataSpaceSpec
from tds_operator.policy.identity import UserInfo

GROUP, VERSION = "tds.io", "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

Body = dict[str, Any]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def rfc3339(at: datetime) -> str:
    """A time as the API expects it, in whole seconds."""
    return at.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """An RFC 3339 time from the API or the ledger."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def condition(body: Body | None, type: str) -> Body | None:
    """One condition of an object's status."""
    conditions = ((body or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == type), None)


def example(name: str) -> Body:
    """A copy, to change, of the manifest in examples/ whose metadata.name is `name`."""
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document["metadata"]["name"] == name:
                return copy.deepcopy(document)
    raise KeyError(name)


def space_body(
    name: str,
    *,
    analysts: Sequence[str] = (),
    gpus: int = 8,
    gateways: Sequence[str] = ("records",),
    **spec: Any,
) -> Body:
    """A DataSpace owned by Group <name>-admins, with `analysts` as its member users and one
    general dataset served by a gateway per name in `gateways`; `spec` replaces any field."""
    body_spec: Body = {
        "organization": f"Organisation {name}",
        "owners": [{"kind": "Group", "name": f"{name}-admins"}],
    }
    if analysts:
        body_spec["members"] = [{"kind": "User", "name": analyst} for analyst in analysts]
    body_spec["quota"] = {"cpu": "16", "memory": "64Gi", "gpu": gpus, "pods": 50}
    body_spec["datasets"] = [
        {
            "name": dataset,
            "classification": "general",
            "source": {"service": {"name": f"{dataset}-gateway", "port": 8443}},
        }
        for dataset in gateways
    ]
    return {
        "apiVersion": API_VERSION,
        "kind": "DataSpace",
        "metadata": {"name": name},
        "spec": {**body_spec, **spec},
    }


def contract_body(
    name: str,
    provider: str,
    consumer: str,
    *,
    datasets: Sequence[str] = ("records",),
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    days: int = 90,
    max_gpu_hours: int = 10,
    max_concurrent_gpus: int = 8,
    provider_approves: bool | None = True,
    **spec: Any,
) -> Body:
    """A contract between two spaces, valid for `days` from now unless `not_after` says
    otherwise, with the provider's consent (none at all if `provider_approves` is None);
    `spec` replaces any term."""
    validity: Body = {}
    if not_before is not None:
        validity["notBefore"] = rfc3339(not_before)
    validity["notAfter"] = rfc3339(not_after or datetime.now(UTC) + timedelta(days=days))
    body_spec: Body = {
        "provider": {"space": provider, "datasets": list(datasets)},
        "consumer": {"space": consumer},
        "purpose": "model-training",
        "validity": validity,
        "compute": {"maxGpuHours": max_gpu_hours, "maxConcurrentGpus": max_concurrent_gpus},
    }
    if provider_approves is not None:
        body_spec["consent"] = {"provider": {"approved": provider_approves}}
    return {
        "apiVersion": API_VERSION,
        "kind": "DataContract",
        "metadata": {"name": name},
        "spec": {**body_spec, **spec},
    }


def proposal_body(name: str, namespace: str, provider: str, consumer: str, **terms: Any) -> Body:
    """A ContractProposal in `namespace` with the terms of contract_body."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ContractProposal",
        "metadata": {"name": name, "namespace": namespace},
        "spec": contract_body("unused", provider, consumer, **terms)["spec"],
    }


def training_job_body(
    name: str,
    namespace: str,
    contract: str,
    *,
    workers: int = 1,
    gpus_per_worker: int = 8,
    run_for: str = "10s",
    fail: bool = False,
    **spec: Any,
) -> Body:
    """A TrainingJob whose simulated workers (the local hub) run for `run_for`, and fail if told."""
    metadata: Body = {
        "name": name,
        "namespace": namespace,
        "annotations": {"hub.tds.io/run-for": run_for},
    }
    if fail:
        metadata["labels"] = {"hub.tds.io/fail": "true"}
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainingJob",
        "metadata": metadata,
        "spec": {
            "contract": contract,
            "image": "registry.local/forecast:1.0",
            "command": ["torchrun", "train.py"],
            "workers": workers,
            "gpusPerWorker": gpus_per_worker,
            **spec,
        },
    }


# --- The winter load-forecasting story, typed, for the policy tests -------------------------------
# sgcc shares grid-load-2025 with cmcc over one winter.

NOT_BEFORE = datetime(2026, 12, 1, tzinfo=UTC)
NOT_AFTER = datetime(2027, 3, 1, tzinfo=UTC)
BEFORE_WINDOW = datetime(2026, 11, 20, tzinfo=UTC)
IN_WINDOW = datetime(2027, 1, 15, 12, 30, tzinfo=UTC)


def contract_spec(**changes: Any) -> DataContractSpec:
    """sgcc shares grid-load-2025 with cmcc over one winter, unsigned; `changes` replace fields."""
    body = contract_body(
        "sgcc-to-cmcc",
        "sgcc",
        "cmcc",
        datasets=("grid-load-2025",),
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
        max_gpu_hours=500,
        max_concurrent_gpus=16,
        provider_approves=None,
        maxJobs=20,
    )
    return DataContractSpec.model_validate({**body["spec"], **changes})


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


def space(owners: list[Body], **changes: Any) -> DataSpaceSpec:
    """A DataSpace spec of organisation Example with those owners and member li.wei."""
    body = space_body(
        "example",
        analysts=("li.wei",),
        gateways=(),
        organization="Example",
        owners=owners,
        quota={"cpu": "64", "memory": "256Gi"},
    )
    return DataSpaceSpec.model_validate({**body["spec"], **changes})


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


def provider_named(name: str, datasets: list[Body]) -> DataSpace:
    """A provider DataSpace of that name offering `datasets` (name, classification, source)."""
    spec = space([{"kind": "Group", "name": f"{name}-admins"}], datasets=datasets)
    return DataSpace(metadata={"name": name}, spec=spec)


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


def manifest_step_ended(message: str, exit_code: int = 0) -> Body:
    """The status a kubelet writes when the operator's manifest step ends: its container
    terminated with `message` as its termination message (hub staff write it on the local hub,
    whose pods are simulated)."""
    terminated = {
        "exitCode": exit_code,
        "reason": "Completed" if exit_code == 0 else "Error",
        "message": message,
    }
    container = {"name": "manifest", "image": "", "imageID": "", "ready": False}
    container.update(restartCount=0, state={"terminated": terminated})
    phase = "Succeeded" if exit_code == 0 else "Failed"
    return {"status": {"phase": phase, "containerStatuses": [container]}}
