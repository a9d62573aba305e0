"""What the plugin's own commands do against the API server, through kubectl, as the caller."""

from __future__ import annotations

import json
import uuid
from typing import Any, TextIO

from kubectl_tds import __version__, render
from kubectl_tds.failures import EXIT_OK, EXIT_REFUSED, Failure
from kubectl_tds.kubectl import Connection, current_namespace, get_json, run

CONTRACTS = "contracts.tds.io"
RELEASES = "modelreleases.tds.io"


def _print(lines: list[str], out: TextIO) -> None:
    print("\n".join(lines), file=out)


def contracts(connection: Connection, output: str | None, out: TextIO) -> int:
    """The Contract copies in the caller's namespace: the contracts of the caller's space."""
    namespace = current_namespace(connection)
    listed = get_json(connection, [CONTRACTS, "-n", namespace], f"contracts in {namespace}")
    if output:
        print(render.formatted(listed, output), file=out)
        return EXIT_OK
    _print(render.contracts_table(listed.get("items") or [], namespace), out)
    return EXIT_OK


def version(
    connection: Connection, operator_namespace: str, output: str | None, out: TextIO
) -> int:
    """The plugin's version, and the operator's from its Deployment (or why it was not found)."""
    operator, why = None, ""
    try:
        listed = get_json(
            connection,
            ["deployments", "-n", operator_namespace, "-l", render.OPERATOR_LABEL],
            f"the operator in namespace {operator_namespace}",
        )
        operator = render.operator_version(listed.get("items") or [])
        if operator is None:
            why = (
                f"no Deployment labelled {render.OPERATOR_LABEL} in namespace "
                f"{operator_namespace}; pass --operator-namespace if it runs elsewhere "
                "(an operator run from a checkout has no Deployment)"
            )
    except Failure as failure:
        why = failure.message
    document = render.version_document(__version__, operator, why)
    if output:
        print(render.formatted(document, output), file=out)
    else:
        _print(render.version_lines(document), out)
    return EXIT_OK


def check(connection: Connection, out: TextIO) -> int:
    """Whether the hub's admission webhook answers: a server-side dry run of a proposal between
    spaces that cannot exist, which the webhook must refuse (nothing is stored either way)."""
    probe = render.probe_contract(f"tds-check-{uuid.uuid4().hex[:8]}")
    what = "the DataContract admission webhook"
    try:
        run(
            connection,
            ["create", "--dry-run=server", "-o", "name", "-f", "-"],
            what,
            json.dumps(probe),
        )
    except Failure as failure:
        if failure.message.startswith("refused by the hub: "):
            reason = failure.message.removeprefix("refused by the hub: ")
            print(f"ok: {what} answers (it refused a probe proposal: {reason})", file=out)
            return EXIT_OK
        if "failed calling webhook" in failure.message:
            raise Failure(
                f"{what} is registered but does not answer: is the operator running? "
                f"({failure.message.removeprefix('kubectl failed: ')})",
                EXIT_REFUSED,
            ) from None
        if "RBAC" in failure.message:
            raise Failure(
                f"cannot check {what}: your credentials may not create DataContracts (a space "
                f"owner or the hub's staff may): {failure.message}",
                EXIT_REFUSED,
            ) from None
        raise
    raise Failure(
        f"{what} did not answer: the API server accepted a proposal between spaces that do not "
        "exist, so no webhook checked it; install or start the operator",
        EXIT_REFUSED,
    )


def release(connection: Connection, verb: str, name: str, digest: str | None, out: TextIO) -> int:
    """A provider owner's review of a ModelRelease in the consumer's namespace, as the docs
    describe: set spec.review.decision; the webhook records who reviewed and seals it."""
    namespace = current_namespace(connection)
    what = (
        f"ModelRelease {name} in namespace {namespace} (a release lives in the consumer's "
        "namespace: pass -n; the ReviewRequested event in your namespace names it)"
    )
    patch = json.dumps(render.review_patch(verb, digest))
    args = ["patch", RELEASES, name, "-n", namespace, "--type=merge", "-p", patch, "-o", "json"]
    try:
        body: dict[str, Any] = json.loads(run(connection, args, what) or "{}")
    except Failure as failure:
        if not failure.message.startswith("refused by the hub's access rules"):
            raise
        raise Failure(
            f"{failure.message} (only an owner of the provider's space reaches a release awaiting "
            "its review; the release lives in the consumer's namespace: pass -n, the "
            "ReviewRequested event in your namespace names it)",
            failure.exit_code,
        ) from None
    print(render.release_line(body), file=out)
    return EXIT_OK


def show(connection: Connection, kind: str, names: list[str], output: str, out: TextIO) -> int:
    """`status|usage ... -o json|yaml`: the contracts as the API server holds them, by name, or
    all of them (`usage` with no name: the hub's staff)."""
    what = f"DataContract {names[0]}" if len(names) == 1 else "the DataContracts"
    body = get_json(connection, [kind, *names], what)
    print(render.formatted(body, output), file=out)
    return EXIT_OK


def keys(connection: Connection, space: str, output: str, out: TextIO) -> int:
    """`keys list SPACE -o json|yaml`: the public keys registered on the DataSpace."""
    body = get_json(connection, ["dataspaces.tds.io", space], f"DataSpace {space}")
    listed = {"space": space, "signingKeys": (body.get("spec") or {}).get("signingKeys") or []}
    print(render.formatted(listed, output), file=out)
    return EXIT_OK
