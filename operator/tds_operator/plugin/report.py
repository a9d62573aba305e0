"""What `kubectl tds` prints and sends, built from the objects it read: pure, no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubectl_tds.render import columns
from kubectl_tds.report import PARTIES, space_of
from kubectl_tds.report import condition as condition_in
from tds_operator import API_VERSION
from tds_operator.api.subject import Subject
from tds_operator.policy.identity import UserInfo, speaks_for

Manifest = dict[str, Any]


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


REVOCATION: Manifest = {"spec": {"revoked": True}}
"""The merge patch that revokes a contract, for good."""


def parties_of(
    contract: Manifest, spaces: Mapping[str, Manifest], user: Mapping[str, Any]
) -> list[str]:
    """The sides of the contract whose space the caller owns (by user name or group)."""
    requester = UserInfo.from_admission(user)
    sides = []
    for party in PARTIES:
        space = spaces.get(space_of(contract, party)) or {}
        owners = [Subject.model_validate(o) for o in (space.get("spec") or {}).get("owners") or []]
        if speaks_for(owners, requester):
            sides.append(party)
    return sides


def job_explanation(
    job: Manifest,
    entries: Sequence[Mapping[str, Any]] | None,
    copies: Mapping[str, Manifest | None] | None = None,
) -> list[str]:
    """`kubectl tds why`: the job's conditions (which term admitted, denied or stopped it), for a
    joint job each contract's state (from the party's `Contract` copies in `copies`), and what
    the contracts' ledgers recorded about it; `entries` is None when a ledger is unread."""
    status, spec = job.get("status") or {}, job.get("spec") or {}
    metadata = job["metadata"]
    names = spec.get("contracts") or [spec.get("contract") or "?"]
    under = f"DataContract {names[0]}" if len(names) == 1 else f"DataContracts {', '.join(names)}"
    lines = [
        f"TrainingJob {metadata.get('namespace') or '?'}/{metadata['name']} under {under}: "
        f"{status.get('phase') or 'Pending'}"
    ]
    for condition in status.get("conditions") or []:
        lines.append(
            f"  {condition.get('type')}={condition.get('status')} "
            f"{condition.get('reason') or 'NoReason'}: {condition.get('message') or ''}".rstrip()
        )
    if copies:
        lines += ["contracts:", *[_contract_state(n, copies.get(n)) for n in names]]
    for listed in status.get("contracts") or []:  # a joint job's per-contract status, if shown
        lines.append(f"  {listed.get('name', '?')}: {_described(listed)}")
    if entries is None:
        return [*lines, "ledger: not readable with your credentials"]
    mine = [e for e in entries if (e.get("details") or {}).get("uid") == metadata.get("uid")]
    lines.append(f"ledger: {len(mine)} entries about this job")
    for entry in mine:
        details = entry.get("details") or {}
        said = details.get("reason") or (
            f"{details['gpuSeconds']} GPU-seconds" if details.get("gpuSeconds") is not None else ""
        )
        lines.append(
            f"  #{entry.get('sequence', '?')} {entry.get('at') or '?'} {entry.get('kind') or '?'}: "
            f"{said}".rstrip(": ")
        )
    return lines


def _contract_state(name: str, copy: Manifest | None) -> str:
    """One contract of a joint job, as the party's own copy shows it."""
    if copy is None:
        return f"  {name}: no copy in this namespace readable with your credentials"
    active = condition_in(copy, "Active")
    phase = (copy.get("status") or {}).get("phase") or "Pending"
    why = f" ({active.get('reason')}: {active.get('message')})" if active.get("reason") else ""
    return f"  {name}: {phase}{why}"


def _described(listed: Mapping[str, Any]) -> str:
    """A status.contracts item: whatever of phase, reason and message it has."""
    said = [str(listed[key]) for key in ("phase", "reason", "message") if listed.get(key)]
    return " ".join(said) or "no state reported"


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
