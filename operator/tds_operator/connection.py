"""Reaching the API server as the person at the keyboard, and what each failure means to them.

The command-line tools (`kubectl tds`, `python -m tds_operator audit verify`) act with the caller's
own kubeconfig identity, so RBAC and the admission webhook decide exactly as for kubectl. Every
failure becomes one line naming the problem and the fix, and an exit status:

0  done (a verification: the ledger is intact)
1  refused (RBAC or the hub's admission rules) or a verification failed
2  the command line is wrong
3  no cluster: no kubeconfig or context, the API server unreachable, credentials not accepted
4  not found: no such contract, job or space
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import kr8s

from kubectl_tds.failures import (
    EXIT_CODES_HELP,
    EXIT_NO_CLUSTER,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    Failure,
)
from tds_operator.kube import Kube, KubeError

# The exit statuses and the failure that carries one are the plugin's (kubectl_tds.failures):
# `kubectl tds` and `python -m tds_operator audit verify` end the same way.
__all__ = [
    "EXIT_CODES_HELP",
    "EXIT_NOT_FOUND",
    "EXIT_NO_CLUSTER",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_USAGE",
    "Caller",
    "Failure",
    "connect",
    "explain",
    "no_cluster",
]

_WEBHOOK_DENIAL = re.compile(r'admission webhook "[^"]+" denied the request: (?P<reason>.*)', re.S)
_POLICY_DENIAL = re.compile(
    r"ValidatingAdmissionPolicy '(?P<policy>[^']+)'.*?denied request: (?P<reason>.*)", re.S
)


@dataclass(frozen=True)
class Caller:
    """Who runs the command: a kubeconfig and context, and whom they impersonate if anyone."""

    kubeconfig: str | None = None
    context: str | None = None
    user: str | None = None
    groups: tuple[str, ...] = ()

    @property
    def impersonate(self) -> Sequence[str]:
        return (self.user, *self.groups) if self.user else ()


async def connect(caller: Caller) -> Kube:
    """A client acting as the caller; Failure (exit 3) if there is no cluster to reach."""
    try:
        return await Kube.connect(caller.kubeconfig, caller.context, caller.impersonate)
    except (ValueError, KeyError, OSError) as error:
        raise no_cluster(error, caller) from None
    except Exception as error:
        raise explain(error) from None


def no_cluster(error: BaseException, caller: Caller) -> Failure:
    """The kubeconfig, its context or its credentials cannot be used."""
    detail = str(error).strip().rstrip(".") or type(error).__name__
    if caller.context and caller.context in detail:
        fix = "`kubectl config get-contexts` lists the contexts of your kubeconfig"
    else:
        fix = "set KUBECONFIG or pass --kubeconfig (and --context) for the hub's cluster"
    return Failure(f"no credentials for a cluster ({detail}): {fix}", EXIT_NO_CLUSTER)


def explain(error: BaseException, what: str = "") -> Failure:
    """The one line a person can act on, for a failure while talking to the API server.

    `what` names the object asked for ("DataContract sgcc-to-cmcc-load"), for not-found answers.
    """
    if isinstance(error, Failure):
        return error
    if isinstance(error, KubeError):
        return _api_refusal(error, what)
    if isinstance(error, httpx.ConnectError | httpx.TimeoutException | kr8s.APITimeoutError):
        return Failure(
            f"cannot reach the API server ({error or type(error).__name__}): "
            "check that the cluster is up and your kubeconfig's server address",
            EXIT_NO_CLUSTER,
        )
    if isinstance(error, kr8s.ServerError | httpx.HTTPError):
        return Failure(f"the API server failed: {error}: try again", EXIT_NO_CLUSTER)
    raise error


def _api_refusal(error: KubeError, what: str) -> Failure:
    message = " ".join(error.message.split())
    if error.status == 401:
        return Failure(
            "the API server does not accept your credentials: log in again or pick another "
            "--context",
            EXIT_NO_CLUSTER,
        )
    if error.status == 404:
        return Failure(
            f"{what or 'the object'} not found: check the name (and -n/--namespace)",
            EXIT_NOT_FOUND,
        )
    webhook = _WEBHOOK_DENIAL.search(message)
    if webhook:
        return Failure(f"refused by the hub: {webhook['reason']}", EXIT_REFUSED)
    policy = _POLICY_DENIAL.search(message)
    if policy:
        return Failure(
            f"refused by the hub's policy {policy['policy']}: {policy['reason']}", EXIT_REFUSED
        )
    if error.status == 403:
        hint = (
            f"{what} may not exist, or is not one of your spaces': an owner of a party "
            "or the hub's staff can read it"
            if what
            else "ask the space's owners or the hub's staff for access"
        )
        return Failure(f"forbidden: {message}: {hint}", EXIT_REFUSED)
    if error.status in (400, 409, 422):
        return Failure(f"refused: {message}", EXIT_REFUSED)
    return Failure(
        f"the API server failed ({error.status} {error.reason}): {message}: try again",
        EXIT_NO_CLUSTER,
    )
