"""What `kubectl tds` sends to propose, sign and revoke contracts, and its usage report, built
from the objects it read: pure, no I/O.

The operator's tools (`tds_operator.plugin`) sign consents with the same helpers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from kubectl_tds.render import columns
from kubectl_tds.report import PARTIES, space_of

Manifest = dict[str, Any]
API_VERSION: Final = "tds.io/v1alpha1"
PURPOSES: Final = ("model-training", "model-evaluation", "analytics")
"""What a contract's data may be used for (the DataContract's spec.purpose)."""

REQUIRED_TERMS: Final = {
    "provider": "--provider",
    "consumer": "--consumer",
    "datasets": "--dataset",
    "not_after": "--not-after",
    "max_gpu_hours": "--max-gpu-hours",
    "max_concurrent_gpus": "--max-concurrent-gpus",
}
"""The terms `propose` needs from flags, and the flag that gives each."""


def proposal(
    name: str,
    provider: str,
    consumer: str,
    datasets: Sequence[str],
    purpose: str,
    validity: tuple[str | None, str],
    budget: tuple[float, int],
    max_jobs: int | None = None,
    approve: bool = False,
) -> Manifest:
    """A DataContract from `kubectl tds propose` flags; `approve` signs for the provider at once."""
    not_before, not_after = validity
    max_gpu_hours, max_concurrent_gpus = budget
    spec: Manifest = {
        "provider": {"space": provider, "datasets": list(datasets)},
        "consumer": {"space": consumer},
        "purpose": purpose,
        "validity": {"notAfter": not_after, **({"notBefore": not_before} if not_before else {})},
        "compute": {"maxGpuHours": max_gpu_hours, "maxConcurrentGpus": max_concurrent_gpus},
    }
    if max_jobs is not None:
        spec["maxJobs"] = max_jobs
    if approve:
        spec["consent"] = {"provider": {"approved": True}}
    return {
        "apiVersion": API_VERSION,
        "kind": "DataContract",
        "metadata": {"name": name},
        "spec": spec,
    }


def consent_patch(party: str, approved: bool) -> Manifest:
    """The merge patch that consents for (or withdraws) one party, as the docs document."""
    return {"spec": {"consent": {party: {"approved": approved}}}}


REVOCATION: Final[Manifest] = {"spec": {"revoked": True}}
"""The merge patch that revokes a contract, for good."""


def parties_of(
    contract: Manifest, spaces: Mapping[str, Manifest], user: Mapping[str, Any]
) -> list[str]:
    """The sides of the contract whose space the caller owns (by user name or group): the side
    `consent` signs for when none is given. Only a guess for the caller's convenience: the hub's
    admission webhook decides who speaks for a party."""
    username = str(user.get("username") or "")
    groups = {str(group) for group in user.get("groups") or []}
    if not username or username == "system:anonymous" or "system:unauthenticated" in groups:
        return []
    sides = []
    for party in PARTIES:
        space = spaces.get(space_of(contract, party)) or {}
        for owner in (space.get("spec") or {}).get("owners") or []:
            kind, name = owner.get("kind"), owner.get("name")
            if (kind == "User" and name == username) or (kind == "Group" and name in groups):
                sides.append(party)
                break
    return sides


def usage_lines(contracts: Sequence[Manifest], spaces: Mapping[str, Manifest]) -> list[str]:
    """`kubectl tds usage`: GPU-hours per contract against its budget, then per organisation
    (consumed by its consumer spaces, provided by its provider spaces)."""
    per_contract = [["CONTRACT", "PHASE", "PROVIDER", "CONSUMER", "GPU-HOURS", "BUDGET", "JOBS"]]
    consumed: dict[str, float] = {}
    provided: dict[str, float] = {}
    for contract in sorted(contracts, key=lambda c: str(c["metadata"]["name"])):
        spec, status = contract.get("spec") or {}, contract.get("status") or {}
        usage = status.get("usage") or {}
        used = float(usage.get("gpuHours") or 0)
        provider, consumer = (_organisation(spaces, space_of(contract, p)) for p in PARTIES)
        consumed[consumer] = consumed.get(consumer, 0.0) + used
        provided[provider] = provided.get(provider, 0.0) + used
        per_contract.append(
            [
                str(contract["metadata"]["name"]),
                str(status.get("phase") or "Pending"),
                provider,
                consumer,
                f"{used:.2f}",
                str((spec.get("compute") or {}).get("maxGpuHours") or "-"),
                str(usage.get("jobs") or 0),
            ]
        )
    per_organisation = [["ORGANISATION", "CONSUMED GPU-HOURS", "PROVIDED GPU-HOURS"]]
    for organisation in sorted(consumed.keys() | provided.keys()):
        per_organisation.append(
            [
                organisation,
                f"{consumed.get(organisation, 0.0):.2f}",
                f"{provided.get(organisation, 0.0):.2f}",
            ]
        )
    return [*columns(per_contract), "", *columns(per_organisation)]


def _organisation(spaces: Mapping[str, Manifest], space: str) -> str:
    return str(((spaces.get(space) or {}).get("spec") or {}).get("organization") or space)
