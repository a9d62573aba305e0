"""What the operator's tools behind `kubectl tds` read of contracts and jobs, as the caller.

Every request carries the caller's own identity: RBAC and the hub's admission webhook decide as
they do for kubectl, and their refusals reach the caller as one line (connection.explain).
"""

from __future__ import annotations

from typing import Any

from kubectl_tds.report import PARTIES
from kubectl_tds.terms import parties_of
from tds_operator import API_VERSION
from tds_operator.connection import (
    EXIT_NOT_FOUND,
    EXIT_USAGE,
    Failure,
    explain,
)
from tds_operator.kube import Kube, KubeError

CONTRACT = "DataContract"


async def read_contract(kube: Kube, name: str) -> dict[str, Any]:
    """The contract, or Failure naming it (not found, or not one the caller may read)."""
    what = f"{CONTRACT} {name}"
    try:
        body = await kube.get(API_VERSION, CONTRACT, name)
    except KubeError as error:
        raise explain(error, what) from None
    if body is None:
        raise Failure(f"{what} not found: check the name", EXIT_NOT_FOUND)
    return body


async def caller_party(kube: Kube, contract: dict[str, Any], party: str | None) -> str:
    """The side the caller signs for: the one given, else the one whose space they own."""
    if party:
        return party
    spaces: dict[str, dict[str, Any]] = {}
    for side in PARTIES:
        space = str(((contract.get("spec") or {}).get(side) or {}).get("space") or "")
        try:
            body = await kube.get(API_VERSION, "DataSpace", space) if space else None
        except KubeError as error:
            raise explain(error, f"DataSpace {space}") from None
        if body is not None:
            spaces[space] = body
    try:
        user = await kube.user_info()
    except KubeError as error:
        raise explain(error) from None
    sides = parties_of(contract, spaces, user)
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
