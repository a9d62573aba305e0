"""`kubectl tds why JOB`: which term admitted, denied or stopped a TrainingJob, and what its
contracts' ledgers recorded about it, read as the caller in their namespace."""

from __future__ import annotations

from typing import Any, TextIO

from kubectl_tds import render, stored
from kubectl_tds.explain import contracts_of, job_explanation
from kubectl_tds.failures import EXIT_OK, Failure
from kubectl_tds.kubectl import Connection, current_namespace, forbidden, get_json
from kubectl_tds.ledger import decode_entries

JOBS = "trainingjobs.tds.io"
COPIES = "contracts.tds.io"


def why(connection: Connection, name: str, ledgers: str, output: str | None, out: TextIO) -> int:
    """Print the job's conditions and the ledgers' entries about it (or, with -o, the job)."""
    namespace = current_namespace(connection)
    what = f"TrainingJob {name} in namespace {namespace}"
    try:
        job = get_json(connection, [JOBS, name, "-n", namespace], what)
    except Failure as failure:
        if not forbidden(failure):
            raise
        raise Failure(
            f"{failure.message} (asking for {what}: without -n, the namespace is your "
            "kubeconfig's)",
            failure.exit_code,
        ) from None
    if output:
        print(render.formatted(job, output), file=out)
        return EXIT_OK
    names = contracts_of(job.get("spec") or {})
    copies = {c: _copy(connection, c, namespace) for c in names} if len(names) > 1 else {}
    lines = job_explanation(job, _entries(connection, ledgers, names), copies)
    print("\n".join(lines), file=out)
    return EXIT_OK


def _entries(
    connection: Connection, ledgers: str, names: tuple[str, ...]
) -> list[dict[str, Any]] | None:
    """Every entry of the contracts' ledgers; None if one of them is not readable."""
    entries: list[dict[str, Any]] = []
    try:
        for name in names:
            body = stored.contract(connection, name)
            data = stored.stored_data(connection, ledgers, body) if body else {}
            entries += [entry.to_dict() for entry in decode_entries(data).entries]
    except Failure:
        return None
    return entries


def _copy(connection: Connection, name: str, namespace: str) -> dict[str, Any] | None:
    """The party's own copy (`Contract`) of a contract in the job's namespace; None if unread."""
    try:
        return get_json(connection, [COPIES, name, "-n", namespace]) or None
    except Failure:
        return None
