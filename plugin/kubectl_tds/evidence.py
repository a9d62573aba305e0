"""`kubectl tds audit checkpoint|verify --since|keys`: the evidence a party keeps of a ledger.

`checkpoint` saves the operator's signed checkpoint of a contract's ledger together with every
entry up to it; `verify --since` proves, months later, that the ledger the hub shows then extends
the saved one entry for entry; `keys` prints the operator's published public keys for pinning.
The signatures are checked with the signing extra (kubectl_tds.signing), loaded here only.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from kubectl_tds import extras, stored
from kubectl_tds.checkpoints import CheckpointInvalid, extends, saved_entries
from kubectl_tds.failures import EXIT_NOT_FOUND, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, Failure
from kubectl_tds.kubectl import Connection, get_json
from kubectl_tds.ledger import AuditEntry, decode_entries, verify_encoded
from kubectl_tds.pages import CHECKPOINT_FIELD, KEYS_CONFIGMAP, checkpoint_configmap
from kubectl_tds.pages import space_namespace as namespace_of
from kubectl_tds.report import PARTIES

CONTRACT = "DataContract"


def _published(connection: Connection, ledgers: str) -> dict[str, str]:
    """The published keys' data (key id -> base64 public key); empty if none is published."""
    what = f"ConfigMap {ledgers}/{KEYS_CONFIGMAP}"
    found = get_json(
        connection, ["configmap", KEYS_CONFIGMAP, "-n", ledgers, "--ignore-not-found"], what
    )
    return dict(found.get("data") or {})


def trusted_keys(connection: Connection, ledgers: str, pinned: str | None) -> dict[str, Any]:
    """The keys checkpoints must be signed with: the pinned file's, else the published ones."""
    from kubectl_tds.signing import published_keys

    if pinned:
        data = load_json(pinned)
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise Failure(
                f"{pinned} is not a file of keys: save one with kubectl tds audit keys", EXIT_USAGE
            )
    else:
        try:
            data = _published(connection, ledgers)
        except Failure as failure:
            raise Failure(
                f"cannot read the published keys (ConfigMap {ledgers}/{KEYS_CONFIGMAP}): "
                f"{failure.message}: pass --keys FILE with keys you saved",
                EXIT_REFUSED,
            ) from None
    try:
        return published_keys(data)
    except CheckpointInvalid as error:
        raise Failure(str(error), EXIT_REFUSED) from None


def keys(connection: Connection, ledgers: str, out: TextIO) -> int:
    """Print the published keys as JSON (key id -> base64 Ed25519 public key)."""
    extras.require_signing("audit keys")
    from kubectl_tds.signing import published_keys

    try:
        data = _published(connection, ledgers)
    except Failure as failure:
        message = f"cannot read ConfigMap {ledgers}/{KEYS_CONFIGMAP}: {failure.message}"
        raise Failure(message, EXIT_REFUSED) from None
    if not data:
        raise Failure(f"no keys are published in {ledgers}/{KEYS_CONFIGMAP}", EXIT_NOT_FOUND)
    try:
        published_keys(data)
    except CheckpointInvalid as error:
        raise Failure(str(error), EXIT_REFUSED) from None
    print(json.dumps(data, indent=2, sort_keys=True), file=out)
    return EXIT_OK


def _signed_checkpoint(connection: Connection, contract: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint published in a party's namespace the caller may read."""
    name = contract["metadata"]["name"]
    refused = ""
    for party in PARTIES:
        space = str(((contract.get("spec") or {}).get(party) or {}).get("space") or "")
        namespace, configmap = namespace_of(space), checkpoint_configmap(name)
        try:
            found = get_json(
                connection,
                ["configmap", configmap, "-n", namespace, "--ignore-not-found"],
                f"ConfigMap {namespace}/{configmap}",
            )
        except Failure as failure:
            refused = failure.message
            continue
        document = json.loads((found.get("data") or {}).get(CHECKPOINT_FIELD) or "null")
        if isinstance(document, dict):
            return document
    raise Failure(
        f"no signed checkpoint of {CONTRACT} {name} in its parties' namespaces"
        + (f" that you may read ({refused})" if refused else " yet: try again shortly"),
        EXIT_NOT_FOUND,
    )


def read_contract(connection: Connection, name: str) -> dict[str, Any]:
    """The contract, or Failure naming it."""
    body = stored.contract(connection, name)
    if body is None:
        raise Failure(f"{CONTRACT} {name} not found: check the name", EXIT_NOT_FOUND)
    return body


def checkpoint(
    connection: Connection, ledgers: str, name: str, pinned: str | None, out: TextIO
) -> int:
    """Print the signed checkpoint with every entry up to it, once both verify."""
    extras.require_signing("audit checkpoint")
    from kubectl_tds.signing import verify_signature

    body = read_contract(connection, name)
    document = _signed_checkpoint(connection, body)
    try:
        signed = verify_signature(document, trusted_keys(connection, ledgers, pinned))
    except CheckpointInvalid as error:
        raise Failure(f"{CONTRACT} {name}: {error}", EXIT_REFUSED) from None
    data, intact = stored.checked_data(connection, ledgers, body)
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


def _ledger_of(
    connection: Connection, ledgers: str, name: str, uid: str
) -> tuple[list[AuditEntry], str]:
    """Today's entries of the contract object `uid`, and the verdict on them against its status."""
    body = stored.contract(connection, name)
    if body is not None and body["metadata"].get("uid") == uid:
        data, result = stored.checked_data(connection, ledgers, body)
    else:
        data = stored.all_ledgers(connection, ledgers, name).get(uid) or {}
        if not data:
            raise Failure(
                f"the ledger of {CONTRACT} {name} (uid {uid}) that the checkpoint covers is gone: "
                "history was removed",
                EXIT_REFUSED,
            )
        result = verify_encoded(data)
    verdict = "intact" if result.ok else f"BROKEN at entry {result.first_bad_sequence}: "
    return decode_entries(data).entries, verdict + ("" if result.ok else result.message)


def verify_since(
    connection: Connection, ledgers: str, name: str, since: str, pinned: str | None, out: TextIO
) -> int:
    """Whether today's ledger extends the saved checkpoint; exit 1, naming the first entry that
    differs, if it does not."""
    extras.require_signing("audit verify --since")
    from kubectl_tds.signing import verify_signature

    document = load_json(since)
    try:
        signed = verify_signature(document, trusted_keys(connection, ledgers, pinned))
        saved = saved_entries(document, signed)
    except CheckpointInvalid as error:
        raise Failure(f"{since}: {error}", EXIT_REFUSED) from None
    if signed["contract"] != name:
        message = f"{since} is a checkpoint of {CONTRACT} {signed['contract']}, not {name}"
        raise Failure(message, EXIT_USAGE)
    today, verdict = _ledger_of(connection, ledgers, name, signed["uid"])
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
    """A JSON file the caller saved, or Failure saying why it cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as error:
        raise Failure(f"cannot read {path}: {error.strerror}", EXIT_USAGE) from None
    except json.JSONDecodeError as error:
        raise Failure(f"{path} is not JSON: {error}", EXIT_USAGE) from None
