"""What `kubectl tds` does to a contract as one of its parties, through kubectl, as the caller:
propose it, consent or withdraw for a side, revoke it, and the GPU-hours it used.

Every request carries the caller's own identity: RBAC and the hub's admission webhook decide as
they do for kubectl, and their refusals reach the caller as one line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import yaml

from kubectl_tds import terms
from kubectl_tds.failures import EXIT_NOT_FOUND, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, Failure
from kubectl_tds.kubectl import Connection, get_json, run
from kubectl_tds.report import PARTIES, space_of

CONTRACT = "DataContract"
CONTRACTS = "datacontracts.tds.io"
SPACES = "dataspaces.tds.io"


def read_contract(connection: Connection, name: str) -> dict[str, Any]:
    """The contract, or Failure naming it (not found, or not one the caller may read)."""
    return get_json(connection, [CONTRACTS, name], f"{CONTRACT} {name}")


def propose(connection: Connection, manifest: dict[str, Any], out: TextIO) -> int:
    """Create the contract as the caller (the webhook checks they own a party)."""
    name = (manifest.get("metadata") or {}).get("name") or "?"
    if manifest.get("kind") != CONTRACT:
        raise Failure(f"the file holds a {manifest.get('kind')}, not a {CONTRACT}", EXIT_USAGE)
    manifest = {**manifest, "apiVersion": manifest.get("apiVersion") or terms.API_VERSION}
    run(connection, ["create", "-o", "name", "-f", "-"], f"{CONTRACT} {name}", json.dumps(manifest))
    print(f"{CONTRACT} {name} proposed", file=out)
    return EXIT_OK


def load_manifest(path: str) -> dict[str, Any]:
    """One YAML or JSON object from a file (`-` is standard input)."""
    try:
        if path == "-":
            loaded = yaml.safe_load(sys.stdin)
        else:
            with open(path, encoding="utf-8") as handle:
                loaded = yaml.safe_load(handle)
    except OSError as error:
        raise Failure(f"cannot read {path}: {error.strerror}", EXIT_USAGE) from None
    except yaml.YAMLError as error:
        raise Failure(f"{path} is not YAML: {error}", EXIT_USAGE) from None
    if not isinstance(loaded, dict):
        raise Failure(f"{path} does not hold one {CONTRACT} manifest", EXIT_USAGE)
    return loaded


def user_info(connection: Connection) -> dict[str, Any]:
    """Who the API server authenticates the caller as (`kubectl auth whoami`, which stores
    nothing): user name and groups."""
    review = json.loads(run(connection, ["auth", "whoami", "-o", "json"], "who you are") or "{}")
    return dict((review.get("status") or {}).get("userInfo") or {})


def caller_party(connection: Connection, contract: dict[str, Any], party: str | None) -> str:
    """The side the caller signs for: the one given, else the one whose space they own."""
    if party:
        return party
    spaces: dict[str, dict[str, Any]] = {}
    for side in PARTIES:
        space = space_of(contract, side)
        if space:
            try:
                spaces[space] = get_json(connection, [SPACES, space], f"DataSpace {space}")
            except Failure as failure:
                if failure.exit_code != EXIT_NOT_FOUND:
                    raise
    user = user_info(connection)
    sides = terms.parties_of(contract, spaces, user)
    if len(sides) == 1:
        return sides[0]
    name = contract["metadata"]["name"]
    if not sides:
        raise Failure(
            f"you ({user.get('username')}) own neither party of {CONTRACT} {name}: "
            "only a party's owners sign (pass --party to let the hub say why)",
            EXIT_USAGE,
        )
    raise Failure(f"you own both parties of {CONTRACT} {name}: pass --party", EXIT_USAGE)


def sign(connection: Connection, name: str, party: str | None, approved: bool, out: TextIO) -> int:
    """Consent for (or withdraw) the caller's side, with the patch the docs document."""
    contract = read_contract(connection, name)
    side = caller_party(connection, contract, party)
    _patch(connection, name, terms.consent_patch(side, approved))
    verb = "consented" if approved else "withdrew consent"
    print(f"{CONTRACT} {name}: {side} {verb}", file=out)
    return EXIT_OK


def revoke(connection: Connection, name: str, out: TextIO) -> int:
    """Revoke the contract for good."""
    _patch(connection, name, terms.REVOCATION)
    print(f"{CONTRACT} {name} revoked", file=out)
    return EXIT_OK


def _patch(connection: Connection, name: str, patch: dict[str, Any]) -> None:
    args = ["patch", CONTRACTS, name, "--type=merge", "-p", json.dumps(patch), "-o", "name"]
    run(connection, args, f"{CONTRACT} {name}")


def usage(connection: Connection, names: Sequence[str], out: TextIO) -> int:
    """GPU-hours per contract and per organisation: the contracts named, or all of them for a
    caller who may list contracts (the hub's staff)."""
    if names:
        contracts = [read_contract(connection, name) for name in names]
    else:
        try:
            contracts = get_json(connection, [CONTRACTS], "the DataContracts").get("items") or []
        except Failure as failure:
            if not failure.message.startswith("refused by the hub's access rules"):
                raise
            raise Failure(
                "only the hub's staff list every contract: name yours, "
                "e.g. kubectl tds usage CONTRACT [CONTRACT...]",
                EXIT_REFUSED,
            ) from None
    try:
        listed = get_json(connection, [SPACES], "the DataSpaces").get("items") or []
        spaces = {space["metadata"]["name"]: space for space in listed}
    except Failure:
        spaces = {}  # organisations then show as space names
    print("\n".join(terms.usage_lines(contracts, spaces)), file=out)
    return EXIT_OK
