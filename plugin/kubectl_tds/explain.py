"""What `kubectl tds why` prints, from the job, its contracts' copies and the ledgers' entries
it read: pure, no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubectl_tds.report import condition as condition_in

Manifest = dict[str, Any]


def contracts_of(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """The contracts a TrainingJob manifest's spec names (`contract` or `contracts`)."""
    if isinstance(spec.get("contracts"), list):
        return tuple(str(name) for name in spec["contracts"])
    return (str(spec["contract"]),) if spec.get("contract") else ()


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
