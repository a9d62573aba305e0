"""`kubectl tds keys add|list|remove`: the public keys a space's owners sign consents with.

The public key is registered on the caller's DataSpace under the caller's own name (the hub's
webhook refuses a key added in anyone else's name, and anyone but the space's owners). Checking a
key and printing its fingerprint need the signing extra (kubectl_tds.signing); removing one and
`list -o json|yaml` do not.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from kubectl_tds import extras
from kubectl_tds.contracts import user_info
from kubectl_tds.failures import EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, Failure
from kubectl_tds.kubectl import Connection, get_json, run

SPACE = "DataSpace"
SPACES = "dataspaces.tds.io"


def read_space(connection: Connection, name: str) -> dict[str, Any]:
    """The DataSpace, or Failure naming it."""
    return get_json(connection, [SPACES, name], f"{SPACE} {name}")


def read_file(path: str) -> bytes:
    """A file the caller gave, or Failure saying why it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise Failure(f"cannot read {path}: {error.strerror}", EXIT_USAGE) from None


def run_keys(connection: Connection, args: argparse.Namespace, out: TextIO) -> int:
    """Carry out `keys list` (without -o), `keys add` or `keys remove`."""
    space = read_space(connection, args.space)
    registered = list((space.get("spec") or {}).get("signingKeys") or [])
    if args.keys_command == "remove":
        kept = [key for key in registered if key.get("id") != args.id]
        if len(kept) == len(registered):
            raise Failure(f"{SPACE} {args.space} has no key {args.id}", EXIT_NOT_FOUND)
        _write_keys(connection, space, kept)
        print(f"{SPACE} {args.space}: key {args.id} removed", file=out)
        return EXIT_OK
    extras.require_signing(f"keys {args.keys_command}")
    from kubectl_tds.signing import fingerprint, load_public_key

    if args.keys_command == "list":
        for key in registered:
            print(
                f"{key['id']}  {fingerprint(key['publicKey'])}  added by {key['addedBy']}",
                file=out,
            )
        return EXIT_OK
    pem = read_file(args.public_key).decode("utf-8", "replace")
    try:
        load_public_key(pem)
    except ValueError as error:
        raise Failure(f"{args.public_key}: {error}", EXIT_USAGE) from None
    user = str(user_info(connection).get("username") or "")
    key = {"id": args.id, "publicKey": pem.strip() + "\n", "addedBy": user}
    _write_keys(connection, space, [*registered, key])
    print(f"{SPACE} {args.space}: key {args.id} registered ({fingerprint(pem)})", file=out)
    return EXIT_OK


def _write_keys(connection: Connection, space: dict[str, Any], keys: list[dict[str, Any]]) -> None:
    """Replace the space's keys, unless they changed since `space` was read."""
    name = space["metadata"]["name"]
    patch = {
        "metadata": {"resourceVersion": space["metadata"]["resourceVersion"]},
        "spec": {"signingKeys": keys},
    }
    args = ["patch", SPACES, name, "--type=merge", "-p", json.dumps(patch), "-o", "name"]
    run(connection, args, f"{SPACE} {name}")
