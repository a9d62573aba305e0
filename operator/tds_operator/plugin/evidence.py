"""`kubectl tds audit checkpoint|verify --since|keys`: the evidence a party keeps of a ledger.

`checkpoint` saves the operator's signed checkpoint of a contract's ledger together with every
entry up to it; `verify --since` proves, months later, that the ledger the hub shows then extends
the saved one entry for entry; `keys` prints the operator's published public keys for pinning.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from tds_operator import API_VERSION
from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import space_namespace
from tds_operator.audit.chain import AuditEntry, decode_entries, verify_encoded
from tds_operator.audit.checkpoint import (
    CheckpointInvalid,
    extends,
    published_keys,
    saved_entries,
    verify_signature,
)
from tds_operator.audit.published import KEYS_CONFIGMAP, read_checkpoint, read_published_keys
from tds_operator.audit.store import AuditLedger
from tds_operator.connection import EXIT_NOT_FOUND, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, Failure
from tds_operator.kube import Kube, KubeError
from tds_operator.plugin.commands import read_contract
from tds_operator.plugin.verify import verify_ledger

CONTRACT = "DataContract"


def add_audit_commands(
    sub: argparse._SubParsersAction[Any], flags: argparse.ArgumentParser
) -> argparse._SubParsersAction[Any]:
    """`audit verify|checkpoint|keys`, with kubectl's `flags` (their parser's class for all)."""
    audit: argparse.ArgumentParser = sub.add_parser(
        "audit", parents=[flags], help="the contract's audit ledger"
    )
    audit_sub: argparse._SubParsersAction[Any] = audit.add_subparsers(
        dest="audit_command", required=True, metavar="COMMAND", parser_class=type(flags)
    )
    verify = audit_sub.add_parser(
        "verify", parents=[flags], help="recompute a contract's hash chain and check its head"
    )
    verify.add_argument("contract", help="the DataContract's name")
    verify.add_argument(
        "--since",
        metavar="FILE",
        help="a checkpoint saved with `audit checkpoint`: prove the ledger extends it",
    )
    saved = audit_sub.add_parser(
        "checkpoint",
        parents=[flags],
        help="print the operator's signed checkpoint of the ledger, with its entries (to save)",
    )
    saved.add_argument("contract", help="the DataContract's name")
    for command in (verify, saved):
        command.add_argument(
            "--keys",
            metavar="FILE",
            help="trust only these keys (saved with `audit keys`), not the ones published now",
        )
    audit_sub.add_parser(
        "keys", parents=[flags], help="print the operator's published checkpoint keys (to pin)"
    )
    return audit_sub


async def run_audit(kube: Kube, args: argparse.Namespace, ledgers: str, out: TextIO) -> int:
    """Carry out one `audit` command."""
    match args.audit_command:
        case "keys":
            return await keys(kube, ledgers, out)
        case "checkpoint":
            return await checkpoint(kube, ledgers, args.contract, args.keys, out)
    if args.since:
        return await verify_since(kube, ledgers, args.contract, args.since, args.keys, out)
    return await verify_ledger(kube, ledgers, args.contract, out)


async def trusted_keys(kube: Kube, ledgers: str, pinned: str | None) -> dict[str, Any]:
    """The keys checkpoints must be signed with: the pinned file's, else the published ones."""
    if pinned:
        data = load_json(pinned)
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise Failure(
                f"{pinned} is not a file of keys: save one with kubectl tds audit keys", EXIT_USAGE
            )
    else:
        try:
            data = await read_published_keys(kube, ledgers)
        except KubeError as error:
            raise Failure(
                f"cannot read the published keys (ConfigMap {ledgers}/{KEYS_CONFIGMAP}): "
                f"{error.message}: pass --keys FILE with keys you saved",
                EXIT_REFUSED,
            ) from None
    try:
        return published_keys(data)
    except CheckpointInvalid as error:
        raise Failure(str(error), EXIT_REFUSED) from None


async def keys(kube: Kube, ledgers: str, out: TextIO) -> int:
    """Print the published keys as JSON (key id -> base64 Ed25519 public key)."""
    try:
        data = await read_published_keys(kube, ledgers)
    except KubeError as error:
        message = f"cannot read ConfigMap {ledgers}/{KEYS_CONFIGMAP}: {error.message}"
        raise Failure(message, EXIT_REFUSED) from None
    if not data:
        raise Failure(f"no keys are published in {ledgers}/{KEYS_CONFIGMAP}", EXIT_NOT_FOUND)
    try:
        published_keys(data)
    except CheckpointInvalid as error:
        raise Failure(str(error), EXIT_REFUSED) from None
    print(json.dumps(data, indent=2, sort_keys=True), file=out)
    return EXIT_OK


async def _signed_checkpoint(kube: Kube, contract: DataContract) -> dict[str, Any]:
    """The checkpoint published in a party's namespace the caller may read."""
    name = contract.metadata.name or ""
    refused = ""
    for space in (contract.spec.provider.space, contract.spec.consumer.space):
        try:
            document = await read_checkpoint(kube, name, space_namespace(space))
        except KubeError as error:
            refused = error.message
            continue
        if document is not None:
            return document
    raise Failure(
        f"no signed checkpoint of {CONTRACT} {name} in its parties' namespaces"
        + (f" that you may read ({refused})" if refused else " yet: try again shortly"),
        EXIT_NOT_FOUND,
    )


async def checkpoint(kube: Kube, ledgers: str, name: str, pinned: str | None, out: TextIO) -> int:
    """Print the signed checkpoint with every entry up to it, once both verify."""
    body = await read_contract(kube, name)
    contract = DataContract.model_validate(body)
    document = await _signed_checkpoint(kube, contract)
    try:
        signed = verify_signature(document, await trusted_keys(kube, ledgers, pinned))
    except CheckpointInvalid as error:
        raise Failure(f"{CONTRACT} {name}: {error}", EXIT_REFUSED) from None
    data = await AuditLedger(kube, ledgers).stored_data(name)
    audit = (body.get("status") or {}).get("audit") or {}
    intact = verify_encoded(data, audit.get("head"), audit.get("entries"))
    if not intact.ok:
        raise Failure(
            f"{CONTRACT} {name}: the ledger fails verification at entry "
            f"{intact.first_bad_sequence} ({intact.reason}: {intact.message}): not saving it",
            EXIT_REFUSED,
        )
    entries = decode_entries(data).entries[: signed["sequence"]]
    saved = {**document, "entries": [entry.to_dict() for entry in entries]}
    try:
        saved_entries(saved, signed)
    except CheckpointInvalid as error:
        message = f"{CONTRACT} {name}: the signed head is not the ledger's: {error}"
        raise Failure(message, EXIT_REFUSED) from None
    print(json.dumps(saved, indent=2, sort_keys=True), file=out)
    return EXIT_OK


async def _ledger_of(kube: Kube, ledgers: str, name: str, uid: str) -> tuple[list[AuditEntry], str]:
    """Today's entries of the contract object `uid`, and the verdict on them against its status."""
    ledger = AuditLedger(kube, ledgers)
    body = await kube.get(API_VERSION, CONTRACT, name)
    if body is not None and body["metadata"].get("uid") == uid:
        audit = (body.get("status") or {}).get("audit") or {}
        data = await ledger.stored_data(name)
        result = verify_encoded(data, audit.get("head"), audit.get("entries"))
    else:
        data = (await ledger.all_ledgers(name)).get(uid) or {}
        if not data:
            raise Failure(
                f"the ledger of {CONTRACT} {name} (uid {uid}) that the checkpoint covers is gone: "
                "history was removed",
                EXIT_REFUSED,
            )
        result = verify_encoded(data)
    verdict = "intact" if result.ok else f"BROKEN at entry {result.first_bad_sequence}: "
    return decode_entries(data).entries, verdict + ("" if result.ok else result.message)


async def verify_since(
    kube: Kube, ledgers: str, name: str, since: str, pinned: str | None, out: TextIO
) -> int:
    """Whether today's ledger extends the saved checkpoint; exit 1, naming the first entry that
    differs, if it does not."""
    document = load_json(since)
    try:
        signed = verify_signature(document, await trusted_keys(kube, ledgers, pinned))
        saved = saved_entries(document, signed)
    except CheckpointInvalid as error:
        raise Failure(f"{since}: {error}", EXIT_REFUSED) from None
    if signed["contract"] != name:
        message = f"{since} is a checkpoint of {CONTRACT} {signed['contract']}, not {name}"
        raise Failure(message, EXIT_USAGE)
    today, verdict = await _ledger_of(kube, ledgers, name, signed["uid"])
    result = extends(saved, today)
    what = f"{CONTRACT} {name}"
    if not result.ok:
        print(
            f"{what}: ledger does NOT extend the checkpoint of {signed['at']} (entry "
            f"{signed['sequence']}, {signed['head']}): {result.reason} at entry "
            f"{result.first_bad_sequence}: {result.message}",
            file=out,
        )
        return EXIT_REFUSED
    print(
        f"{what}: checkpoint of {signed['at']} signed by {signed['keyId']} verified; "
        f"{result.message}; the ledger is {verdict}",
        file=out,
    )
    return EXIT_OK if verdict == "intact" else EXIT_REFUSED


def load_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as error:
        raise Failure(f"cannot read {path}: {error.strerror}", EXIT_USAGE) from None
    except json.JSONDecodeError as error:
        raise Failure(f"{path} is not JSON: {error}", EXIT_USAGE) from None
