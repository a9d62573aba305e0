"""`kubectl tds consent --key`: consent signed with your own key.

The private key never leaves the caller's machine: the plugin signs locally and sends only the
signature, with a key registered on the caller's DataSpace (`kubectl tds keys add`, the light
plugin's). It signs the digest of the terms as the operator's models normalise them, which is why
it is still among the operator's tools.
"""

from __future__ import annotations

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
    sign_consent,
)
from tds_operator.policy.contract import spec_digest

SPACE = "DataSpace"


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
