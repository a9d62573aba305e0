"""What `kubectl tds status` prints, from the contract and jobs it read: pure, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

Manifest = dict[str, Any]
PARTIES: Final = ("provider", "consumer")
FINAL_PHASES: Final = frozenset({"Expired", "Revoked", "Exhausted"})


def parse_time(text: str) -> datetime:
    """An RFC 3339 time as Kubernetes writes it (`2027-03-15T00:00:00Z`)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def space_of(contract: Manifest, party: str) -> str:
    return str(((contract.get("spec") or {}).get(party) or {}).get("space") or "")


def condition(body: Manifest, type: str) -> Manifest:
    for condition in (body.get("status") or {}).get("conditions") or []:
        if condition.get("type") == type:
            return dict(condition)
    return {}


def _duration(seconds: float) -> str:
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days}d{hours}h"
    return f"{hours}h{rest // 60}m" if hours else f"{rest // 60}m{rest % 60}s"


def expiry(not_after: str | None, now: datetime) -> str:
    """`2027-03-15T00:00:00Z (in 105d0h)` or `(2h3m ago)`."""
    if not not_after:
        return "never"
    instant = parse_time(not_after)
    left = (instant - now).total_seconds()
    return f"{not_after} ({'in ' + _duration(left) if left > 0 else _duration(left) + ' ago'})"


def contract_status(
    contract: Manifest, jobs: Sequence[Manifest] | None, now: datetime
) -> list[str]:
    """`kubectl tds status`: phase and why, usage against budget, signatures, expiry, jobs.

    `jobs` is None when the caller may not list the consumer's jobs (the provider's owners)."""
    spec, status = contract.get("spec") or {}, contract.get("status") or {}
    active = condition(contract, "Active")
    usage, compute = status.get("usage") or {}, spec.get("compute") or {}
    max_jobs = spec.get("maxJobs")
    datasets = ", ".join((spec.get("provider") or {}).get("datasets") or [])
    not_after = status.get("expiresAt") or (spec.get("validity") or {}).get("notAfter")
    lines = [
        f"DataContract {contract['metadata']['name']}: "
        f"{space_of(contract, 'provider')} -> {space_of(contract, 'consumer')} "
        f"({spec.get('purpose', '?')}; datasets {datasets})",
        f"phase:      {status.get('phase') or 'Pending'}"
        + (f" ({active.get('reason')}: {active.get('message')})" if active else ""),
        f"GPU-hours:  {float(usage.get('gpuHours') or 0):.2f} of {compute.get('maxGpuHours', '?')}"
        f" ({_percent(usage.get('gpuHours'), compute.get('maxGpuHours'))})",
        f"jobs:       {usage.get('jobs') or 0} admitted"
        + (f" of at most {max_jobs}" if max_jobs is not None else "")
        + f"; at most {compute.get('maxConcurrentGpus', '?')} GPUs at a time",
        f"expires:    {expiry(not_after, now)}",
        "revoked:    yes" if spec.get("revoked") else "revoked:    no",
    ]
    signatures = status.get("signatures") or []
    for party in PARTIES:
        signed = [s for s in signatures if s.get("party") == party]
        lines.append(
            f"{party + ':':11} "
            + (
                f"signed by {signed[-1].get('user') or '?'} at {signed[-1].get('at') or '?'}"
                if signed
                else "not signed"
            )
        )
    lines.append(f"audit:      {(status.get('audit') or {}).get('entries', 0)} ledger entries")
    if jobs is None:
        lines.append(
            "jobs:       (the consumer's jobs are visible to the consumer's owners and members)"
        )
    else:
        lines += [f"  {line}" for line in job_lines(jobs)] or ["  no jobs"]
    return lines


def _percent(used: Any, budget: Any) -> str:
    try:
        return f"{100 * float(used or 0) / float(budget):.0f}% used"
    except (TypeError, ValueError, ZeroDivisionError):
        return "budget unknown"


def job_lines(jobs: Sequence[Manifest]) -> list[str]:
    """One line per job: namespace/name, phase, GPUs, GPU-seconds, and a joint job's contracts
    (each charged the job's full GPU-seconds)."""
    lines = []
    for job in sorted(
        jobs, key=lambda j: (j["metadata"].get("namespace", ""), j["metadata"]["name"])
    ):
        spec, status = job.get("spec") or {}, job.get("status") or {}
        gpus = int(spec.get("workers") or 1) * int(spec.get("gpusPerWorker") or 0)
        lines.append(
            f"{job['metadata'].get('namespace') or '?'}/{job['metadata']['name']}: "
            f"{status.get('phase') or 'Pending'}, {gpus} GPUs, "
            f"{status.get('gpuSeconds') or 0} GPU-seconds"
            + (f", joint: {', '.join(spec['contracts'])}" if spec.get("contracts") else "")
        )
    return lines


def phase_line(contract: Manifest) -> str:
    """One line of `status --watch`: the phase and the reason of the Active condition."""
    active = condition(contract, "Active")
    phase = (contract.get("status") or {}).get("phase") or "Pending"
    return f"{contract['metadata']['name']}: {phase}" + (
        f" ({active.get('reason')}: {active.get('message')})" if active else ""
    )
