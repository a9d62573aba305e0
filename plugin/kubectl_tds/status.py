"""`kubectl tds status CONTRACT [--watch]`: a contract's state, as one of its parties sees it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TextIO

from kubectl_tds import report
from kubectl_tds.failures import EXIT_OK, Failure
from kubectl_tds.kubectl import Connection, get_json, stream

CONTRACTS = "datacontracts.tds.io"
JOBS = "trainingjobs.tds.io"


def _now() -> datetime:
    return datetime.now(UTC)


def consumer_jobs(connection: Connection, contract: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The contract's jobs in the consumer's namespace; None if the caller may not list them
    (the provider's owners)."""
    consumer = report.space_of(contract, "consumer")
    try:
        listed = get_json(connection, [JOBS, "-n", f"tds-{consumer}"])
    except Failure as failure:
        if "(RBAC)" in failure.message:
            return None
        raise
    name = contract["metadata"]["name"]
    return [job for job in listed.get("items") or [] if name in _contracts_of(job)]


def _contracts_of(job: dict[str, Any]) -> list[str]:
    spec = job.get("spec") or {}
    return list(spec.get("contracts") or [spec.get("contract")])


def status(connection: Connection, name: str, watch: bool, out: TextIO) -> int:
    """Print the contract's state; with `watch`, a line at every phase change after it."""
    contract = get_json(connection, [CONTRACTS, name], f"DataContract {name}")
    jobs = consumer_jobs(connection, contract)
    print("\n".join(report.contract_status(contract, jobs, _now())), file=out, flush=True)
    return watch_phases(connection, contract, out) if watch else EXIT_OK


def watch_phases(connection: Connection, contract: dict[str, Any], out: TextIO) -> int:
    """Stream phase changes until the contract ends (a final phase) or is deleted."""
    name = contract["metadata"]["name"]
    last = report.phase_line(contract)
    args = [
        "get", CONTRACTS, name, "--watch", "--output-watch-events", "-o", "json",
    ]  # fmt: skip
    while (contract.get("status") or {}).get("phase") not in report.FINAL_PHASES:
        for event in stream(connection, args, f"DataContract {name}"):
            if event.get("type") == "DELETED":
                print(f"{name}: deleted", file=out, flush=True)
                return EXIT_OK
            contract = event.get("object") or contract
            line = report.phase_line(contract)
            if line != last:
                print(f"{_now():%H:%M:%S} {line}", file=out, flush=True)
                last = line
            if (contract.get("status") or {}).get("phase") in report.FINAL_PHASES:
                return EXIT_OK
    return EXIT_OK
