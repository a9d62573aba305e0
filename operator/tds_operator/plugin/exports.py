"""`kubectl tds export odrl|prov`: a contract and a model's provenance in standard vocabularies."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from kubectl_tds.evidence import load_json
from tds_operator import API_VERSION
from tds_operator.api.datacontract import DataContract
from tds_operator.api.jobcontracts import first_contract_of
from tds_operator.audit.chain import AuditEntry, decode_entries, verify_encoded
from tds_operator.audit.checkpoint import CheckpointInvalid, checkpoint_of, saved_entries
from tds_operator.audit.store import AuditLedger
from tds_operator.connection import EXIT_NOT_FOUND, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, Failure
from tds_operator.kube import Kube, KubeError
from tds_operator.plugin.commands import read_contract
from tds_operator.plugin.odrl import odrl_agreement
from tds_operator.plugin.prov import NoSuchJob, prov_document


def add_export_commands(
    sub: argparse._SubParsersAction[Any], flags: argparse.ArgumentParser
) -> None:
    """`export odrl CONTRACT` and `export prov JOB|modelrelease/NAME [--from FILE]`."""
    export: argparse.ArgumentParser = sub.add_parser(
        "export", parents=[flags], help="a contract or a model's provenance, in standard terms"
    )
    export_sub: argparse._SubParsersAction[Any] = export.add_subparsers(
        dest="export_command", required=True, metavar="COMMAND", parser_class=type(flags)
    )
    odrl = export_sub.add_parser(
        "odrl", parents=[flags], help="the contract as an ODRL 2.2 Agreement (JSON-LD)"
    )
    odrl.add_argument("contract", help="the DataContract's name")
    prov = export_sub.add_parser(
        "prov", parents=[flags], help="how a model came to be, as W3C PROV-JSON, from the ledger"
    )
    prov.add_argument(
        "job",
        help="a TrainingJob's name (its namespace with -n), modelrelease/NAME, or with --from "
        "the job's uid",
    )
    prov.add_argument(
        "--from",
        dest="saved",
        metavar="FILE",
        help="offline: the entries of a checkpoint saved with `audit checkpoint`",
    )


def offline(args: argparse.Namespace) -> bool:
    """Whether the command needs no cluster: `export prov --from FILE`."""
    return args.command == "export" and args.export_command == "prov" and bool(args.saved)


async def run_export(kube: Kube | None, args: argparse.Namespace, ledgers: str, out: TextIO) -> int:
    """Carry out one `export` command (`kube` is None when `offline`)."""
    if kube is None:
        contract, entries = _saved(args.saved)
        uid = args.job
    elif args.export_command == "odrl":
        body = DataContract.model_validate(await read_contract(kube, args.contract))
        print(json.dumps(odrl_agreement(body), indent=2), file=out)
        return EXIT_OK
    else:
        namespace = getattr(args, "namespace", None) or kube.namespace
        contract, uid = await _job_of(kube, args.job, namespace)
        entries = await _verified_entries(kube, ledgers, contract)
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


async def _job_of(kube: Kube, job: str, namespace: str) -> tuple[str, str]:
    """The contract and uid of the job named (or of the job a ModelRelease names)."""
    try:
        if job.startswith("modelrelease/"):
            release = await kube.get(API_VERSION, "ModelRelease", job.split("/", 1)[1], namespace)
            if release is None:
                raise Failure(f"{job} not found in namespace {namespace}", EXIT_NOT_FOUND)
            job = str(release["spec"]["trainingJob"])
        body = await kube.get(API_VERSION, "TrainingJob", job, namespace)
    except KubeError as error:
        raise Failure(f"cannot read {job} in {namespace}: {error.message}", EXIT_REFUSED) from None
    if body is None:
        raise Failure(
            f"TrainingJob {job} not found in namespace {namespace}: for a deleted job, export "
            "from a saved checkpoint with --from FILE and the job's uid",
            EXIT_NOT_FOUND,
        )
    return first_contract_of(body["spec"]), str(body["metadata"]["uid"])


async def _verified_entries(kube: Kube, ledgers: str, contract: str) -> list[AuditEntry]:
    """The contract's entries, once its ledger verifies against its status."""
    body = await read_contract(kube, contract)
    data = await AuditLedger(kube, ledgers).stored_data(contract)
    audit = (body.get("status") or {}).get("audit") or {}
    result = verify_encoded(data, audit.get("head"), audit.get("entries"))
    if not result.ok:
        raise Failure(
            f"the ledger of DataContract {contract} fails verification at entry "
            f"{result.first_bad_sequence} ({result.message}): no provenance from it",
            EXIT_REFUSED,
        )
    return decode_entries(data).entries
