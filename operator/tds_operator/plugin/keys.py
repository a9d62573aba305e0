"""`kubectl tds keys add|list|remove` and `kubectl tds consent --key`: consent signed with
your own key.

The private key never leaves the caller's machine: the plugin signs locally and sends only the
signature. The public key is registered on the caller's DataSpace, under the caller's own name.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from cryptography.hazmat.primitives import serialization

from tds_operator import API_VERSION
from tds_operator.api.datacontract import DataContractSpec
from tds_operator.connection import EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, Failure, explain
from tds_operator.kube import Kube, KubeError
from tds_operator.plugin.commands import CONTRACT, caller_party, read_contract
from tds_operator.policy.consent_keys import (
    consent_message,
    fingerprint,
    load_public_key,
    sign_consent,
)
from tds_operator.policy.contract import spec_digest

SPACE = "DataSpace"


def add_keys_commands(sub: argparse._SubParsersAction[Any], flags: argparse.ArgumentParser) -> None:
    """`keys add SPACE --id ID --public-key FILE` and `keys list SPACE`."""
    keys: argparse.ArgumentParser = sub.add_parser(
        "keys", parents=[flags], help="the public keys your space's owners sign consents with"
    )
    keys_sub: argparse._SubParsersAction[Any] = keys.add_subparsers(
        dest="keys_command", required=True, metavar="COMMAND", parser_class=type(flags)
    )
    add = keys_sub.add_parser(
        "add", parents=[flags], help="register a public key on your DataSpace (owners only)"
    )
    add.add_argument("space", help="your DataSpace")
    add.add_argument("--id", required=True, help="the key's name in the space, e.g. laptop-2026")
    add.add_argument(
        "--public-key", required=True, metavar="FILE", help="PEM public key (Ed25519 or P-256)"
    )
    listed = keys_sub.add_parser("list", parents=[flags], help="a space's registered keys")
    listed.add_argument("space", help="the DataSpace")
    remove = keys_sub.add_parser(
        "remove", parents=[flags], help="unregister a key of your DataSpace (owners only)"
    )
    remove.add_argument("space", help="your DataSpace")
    remove.add_argument("--id", required=True, help="the key's name in the space")


async def read_space(kube: Kube, name: str) -> dict[str, Any]:
    """The DataSpace, or Failure naming it."""
    try:
        body = await kube.get(API_VERSION, SPACE, name)
    except KubeError as error:
        raise explain(error, f"{SPACE} {name}") from None
    if body is None:
        raise Failure(f"{SPACE} {name} not found: check the name", EXIT_NOT_FOUND)
    return body


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise Failure(f"cannot read {path}: {error.strerror}", EXIT_USAGE) from None


async def run_keys(kube: Kube, args: argparse.Namespace, out: TextIO) -> int:
    """Carry out one `keys` command."""
    space = await read_space(kube, args.space)
    registered = list((space.get("spec") or {}).get("signingKeys") or [])
    if args.keys_command == "list":
        for key in registered:
            print(
                f"{key['id']}  {fingerprint(key['publicKey'])}  added by {key['addedBy']}",
                file=out,
            )
        return EXIT_OK
    if args.keys_command == "remove":
        kept = [key for key in registered if key.get("id") != args.id]
        if len(kept) == len(registered):
            raise Failure(f"{SPACE} {args.space} has no key {args.id}", EXIT_NOT_FOUND)
        await _write_keys(kube, space, kept)
        print(f"{SPACE} {args.space}: key {args.id} removed", file=out)
        return EXIT_OK
    pem = _read_file(args.public_key).decode("utf-8", "replace")
    try:
        load_public_key(pem)
    except ValueError as error:
        raise Failure(f"{args.public_key}: {error}", EXIT_USAGE) from None
    try:
        user = str((await kube.user_info()).get("username") or "")
    except KubeError as error:
        raise explain(error) from None
    key = {"id": args.id, "publicKey": pem.strip() + "\n", "addedBy": user}
    await _write_keys(kube, space, [*registered, key])
    print(f"{SPACE} {args.space}: key {args.id} registered ({fingerprint(pem)})", file=out)
    return EXIT_OK


async def _write_keys(kube: Kube, space: dict[str, Any], keys: list[dict[str, Any]]) -> None:
    """Replace the space's keys, unless they changed since `space` was read."""
    name = space["metadata"]["name"]
    patch = {
        "metadata": {"resourceVersion": space["metadata"]["resourceVersion"]},
        "spec": {"signingKeys": keys},
    }
    try:
        await kube.merge_patch(API_VERSION, SPACE, name, patch)
    except KubeError as error:
        raise explain(error, f"{SPACE} {name}") from None


async def signed_consent(
    kube: Kube, name: str, party: str | None, key_file: str, out: TextIO
) -> int:
    """Consent for the caller's side, signed locally with the private key in `key_file`."""
    contract = await read_contract(kube, name)
    side = await caller_party(kube, contract, party)
    private = _read_file(key_file)
    try:
        key = serialization.load_pem_private_key(private, password=None)
        public = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        spec = DataContractSpec.model_validate(contract["spec"])
        digest = spec_digest(spec)
        value = sign_consent(private, consent_message(name, side, digest))
    except (ValueError, TypeError) as error:
        raise Failure(f"{key_file}: cannot sign with it ({error})", EXIT_USAGE) from None
    space_name = contract["spec"][side]["space"]
    space = await read_space(kube, space_name)
    mine = fingerprint(public)
    match = [
        k
        for k in (space.get("spec") or {}).get("signingKeys") or []
        if fingerprint(k["publicKey"]) == mine
    ]
    if not match:
        raise Failure(
            f"the public half of {key_file} ({mine}) is not registered on {SPACE} {space_name}: "
            f"kubectl tds keys add {space_name} --id NAME --public-key FILE",
            EXIT_USAGE,
        )
    signature = {"keyId": match[0]["id"], "value": value}
    patch = {"spec": {"consent": {side: {"approved": True, "signature": signature}}}}
    try:
        await kube.merge_patch(API_VERSION, CONTRACT, name, patch)
    except KubeError as error:
        raise explain(error, f"{CONTRACT} {name}") from None
    print(f"{CONTRACT} {name}: {side} consented, signed with key {match[0]['id']}", file=out)
    return EXIT_OK
