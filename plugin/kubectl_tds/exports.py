"""`kubectl tds export odrl|prov`: a contract and a model's provenance in standard vocabularies,
read through kubectl as the caller (or, for `prov --from`, from a saved checkpoint, offline)."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from kubectl_tds import stored
from kubectl_tds.checkpoints import CheckpointInvalid, checkpoint_of, saved_entries
from kubectl_tds.evidence import load_json, read_contract
from kubectl_tds.explain import contracts_of
from kubectl_tds.failures import EXIT_NOT_FOUND, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, Failure
from kubectl_tds.kubectl import Connection, current_namespace, get_json
from kubectl_tds.ledger import AuditEntry, decode_entries
from kubectl_tds.odrl import odrl_agreement
from kubectl_tds.prov import NoSuchJob, prov_document


def run_export(connection: Connection, args: argparse.Namespace, out: TextIO) -> int:
    """Carry out one `export` command."""
    if args.export_command == "odrl":
        body = read_contract(connection, args.contract)
        print(json.dumps(odrl_agreement(body), indent=2), file=out)
        return EXIT_OK
    if args.saved:
        contract, entries = _saved(args.saved)
        uid = args.job
    else:
        ledgers = stored.ledger_namespace(getattr(args, "ledger_namespace", None))
        contract, uid = _job_of(connection, args.job, current_namespace(connection))
        entries = _verified_entries(connection, ledgers, contract)
    try:
        document = prov_document(contract, entries, uid)
    except NoSuchJob as error:
        raise Failure(str(error), EXIT_NOT_FOUND) from None
    print(json.dumps(document, indent=2), file=out)
    return EXIT_OK


def _saved(path: str) -> tuple[str, list[AuditEntry]]:
    document = load_json(path)
    try:
        checkpoint = checkpoint_of(document)
        return str(checkpoint["contract"]), saved_entries(document, checkpoint)
    except CheckpointInvalid as error:
        raise Failure(f"{path}: {error}", EXIT_USAGE) from None


def _job_of(connection: Connection, job: str, namespace: str) -> tuple[str, str]:
    """The contract and uid of the job named (or of the job a ModelRelease names)."""
    if job.startswith("modelrelease/"):
        name = job.split("/", 1)[1]
        release = get_json(
            connection,
            ["modelreleases.tds.io", name, "-n", namespace, "--ignore-not-found"],
            f"ModelRelease {name} in namespace {namespace}",
        )
        if not release:
            raise Failure(f"{job} not found in namespace {namespace}", EXIT_NOT_FOUND)
        job = str(release["spec"]["trainingJob"])
    body = get_json(
        connection,
        ["trainingjobs.tds.io", job, "-n", namespace, "--ignore-not-found"],
        f"TrainingJob {job} in namespace {namespace}",
    )
    if not body:
        raise Failure(
            f"TrainingJob {job} not found in namespace {namespace}: for a deleted job, export "
            "from a saved checkpoint with --from FILE and the job's uid",
            EXIT_NOT_FOUND,
        )
    names = contracts_of(body.get("spec") or {})
    return (names[0] if names else ""), str(body["metadata"]["uid"])


def _verified_entries(connection: Connection, ledgers: str, contract: str) -> list[AuditEntry]:
    """The contract's entries, once its ledger verifies against its status."""
    body = read_contract(connection, contract)
    data, result = stored.checked_data(connection, ledgers, body)
    if not result.ok:
        raise Failure(
            f"the ledger of DataContract {contract} fails verification at entry "
            f"{result.first_bad_sequence} ({result.message}): no provenance from it",
            EXIT_REFUSED,
        )
    return decode_entries(data).entries
