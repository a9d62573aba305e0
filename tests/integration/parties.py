"""The people behind a contract on the real hub, and the contracts they propose, sign and revoke.

Every change to a DataContract goes through `kubectl --as`, so the API server authenticates,
authorizes and hands the requester's userInfo to the admission webhook exactly as for a user.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.integration.conftest import KubectlError, hub_kubeconfig, kubectl
from tests.waiting import wait_until

GROUP, VERSION, CONTRACTS = "tds.io", "v1alpha1", "datacontracts"
OPERATOR_NAMESPACE = "tds-system"
LEDGER_SELECTOR = "tds.io/audit-ledger=true,tds.io/contract={contract}"


@dataclass(frozen=True)
class Person:
    """Someone kubectl impersonates; the cluster admin (no impersonation) when `user` is empty."""

    user: str = ""
    groups: tuple[str, ...] = ()

    def kubectl(self, *args: str) -> str:
        """kubectl as this person; raises KubectlError with the server's answer on refusal."""
        return kubectl(*args, user=self.user or None, groups=self.groups)


CLUSTER_ADMIN = Person()


def owner_of(space: str) -> Person:
    """An owner of a space made from test_spaces.space_body: a user in Group <space>-admins."""
    return Person(f"{space}-boss", (f"{space}-admins",))


def member_of(space: str) -> Person:
    """The member of a space made from test_spaces.space_body."""
    return Person(f"{space}-analyst")


def rfc3339(at: datetime) -> str:
    """A time as the API expects it, in whole seconds."""
    return at.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """An RFC 3339 time from the API or the ledger."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def contract_body(
    name: str,
    provider: str,
    consumer: str,
    *,
    datasets: tuple[str, ...] = ("records",),
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    provider_approves: bool = True,
    **spec: Any,
) -> dict[str, Any]:
    """A contract between two spaces, valid for 90 days from now unless told otherwise."""
    end = not_after or datetime.now(UTC) + timedelta(days=90)
    validity = {"notAfter": rfc3339(end)}
    if not_before is not None:
        validity["notBefore"] = rfc3339(not_before)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "DataContract",
        "metadata": {"name": name},
        "spec": {
            "provider": {"space": provider, "datasets": list(datasets)},
            "consumer": {"space": consumer},
            "purpose": "model-training",
            "validity": validity,
            "compute": {"maxGpuHours": 10, "maxConcurrentGpus": 8},
            "consent": {"provider": {"approved": provider_approves}},
            **spec,
        },
    }


def clean_room(contract: str) -> str:
    """The clean room namespace of a contract (short names only)."""
    return f"tds-cr-{contract}"


def provider_policy(contract: str) -> str:
    """The NetworkPolicy that admits the clean room into the provider's namespace."""
    return f"tds-allow-{clean_room(contract)}"


class Contracts:
    """Proposes, signs and revokes DataContracts as their parties; deletes them afterwards."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.net = client.NetworkingV1Api(api_client)
        self.created: list[str] = []

    # --- what people do -------------------------------------------------------------------------

    def propose(self, by: Person, body: dict[str, Any]) -> str:
        """Create the contract as `by`; the name is recorded for clean-up even if refused."""
        name: str = body["metadata"]["name"]
        self.created.append(name)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as manifest:
            json.dump(body, manifest)
        try:
            by.kubectl("create", "-f", manifest.name)
        finally:
            os.unlink(manifest.name)
        return name

    def patch(self, by: Person, name: str, spec: dict[str, Any]) -> None:
        """A merge patch of the spec as `by`."""
        by.kubectl("patch", "datacontract", name, "--type=merge", "-p", json.dumps({"spec": spec}))

    def consent(self, by: Person, name: str, party: str, approved: bool = True) -> None:
        """Set one party's approval as `by`."""
        self.patch(by, name, {"consent": {party: {"approved": approved}}})

    def revoke(self, by: Person, name: str) -> None:
        """End the contract as `by`."""
        self.patch(by, name, {"revoked": True})

    # --- what the tests look at -----------------------------------------------------------------

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            body: dict[str, Any] = self.custom.get_cluster_custom_object(
                GROUP, VERSION, CONTRACTS, name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return body

    def status(self, name: str) -> dict[str, Any]:
        status: dict[str, Any] = (self.get(name) or {}).get("status") or {}
        return status

    def condition(self, name: str, type: str) -> dict[str, Any] | None:
        return next(
            (c for c in self.status(name).get("conditions") or [] if c["type"] == type), None
        )

    def wait_phase(self, name: str, phase: str, timeout: float = 20) -> dict[str, Any]:
        """The contract once the operator reports `phase` for its current generation."""

        def reached() -> dict[str, Any] | None:
            body = self.get(name)
            status = (body or {}).get("status") or {}
            if (
                body is not None
                and status.get("phase") == phase
                and status.get("observedGeneration") == body["metadata"]["generation"]
            ):
                return body
            return None

        return wait_until(reached, timeout=timeout, what=f"DataContract {name} {phase}")

    def has_provider_policy(self, name: str, provider: str) -> bool:
        return self._exists(
            lambda: self.net.read_namespaced_network_policy(
                provider_policy(name), f"tds-{provider}"
            )
        )

    def has_clean_room(self, name: str) -> bool:
        """Whether the clean room namespace exists and is not being deleted."""
        try:
            namespace = self.core.read_namespace(clean_room(name))
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return namespace.metadata.deletion_timestamp is None

    def has_datasets_policy(self, name: str) -> bool:
        return self._exists(
            lambda: self.net.read_namespaced_network_policy("tds-allow-datasets", clean_room(name))
        )

    @staticmethod
    def _exists(read: Any) -> bool:
        try:
            read()
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    # --- the audit ledger -----------------------------------------------------------------------

    def ledger_pages(self, name: str) -> list[client.V1ConfigMap]:
        pages: list[client.V1ConfigMap] = self.core.list_namespaced_config_map(
            OPERATOR_NAMESPACE, label_selector=LEDGER_SELECTOR.format(contract=name)
        ).items
        return pages

    def ledger(self, name: str) -> dict[str, str]:
        """The stored entries, sequence key -> the entry's JSON text, all pages merged."""
        data: dict[str, str] = {}
        for page in self.ledger_pages(name):
            data.update(page.data or {})
        return dict(sorted(data.items()))

    def entries(self, name: str) -> list[dict[str, Any]]:
        """The stored entries, decoded, in sequence order."""
        return [json.loads(text) for text in self.ledger(name).values()]

    # --- clean-up -------------------------------------------------------------------------------

    def delete(self, name: str) -> None:
        """Delete a contract (as the cluster admin) and wait until the operator let it go."""
        try:
            self.custom.delete_cluster_custom_object(GROUP, VERSION, CONTRACTS, name)
        except ApiException as error:
            if error.status != 404:
                raise
        wait_until(lambda: self.get(name) is None, timeout=30, what=f"DataContract {name} gone")

    def cleanup(self) -> None:
        """Delete the test's contracts, their clean rooms and their ledgers."""
        for name in self.created:
            self.delete(name)
        for name in self.created:
            wait_until(
                lambda n=name: not self._exists(lambda: self.core.read_namespace(clean_room(n))),
                timeout=60,
                what=f"clean room of {name} gone",
            )
            for page in self.ledger_pages(name):
                self.core.delete_namespaced_config_map(page.metadata.name, OPERATOR_NAMESPACE)


def unique_contract() -> str:
    """A contract name no other test uses."""
    return f"c{uuid.uuid4().hex[:10]}"


def wait_for_contract_webhook(timeout: float = 30) -> None:
    """Wait until the operator's admission webhook answers for DataContracts.

    A dry-run proposal between spaces that do not exist, by the cluster admin, is refused by the
    webhook once it serves; before that it is accepted (no webhook registered yet) or fails to
    reach the webhook (a stale registration of a killed operator).
    """
    body = contract_body(unique_contract(), "nobody-a", "nobody-b")

    def answers() -> bool:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as manifest:
            json.dump(body, manifest)
        try:
            CLUSTER_ADMIN.kubectl("create", "--dry-run=server", "-f", manifest.name)
        except KubectlError as error:
            return "denied the request" in str(error)
        finally:
            os.unlink(manifest.name)
        return False

    wait_until(answers, timeout=timeout, interval=0.3, what="the DataContract admission webhook")


def refusal(action: Any) -> str:
    """The server's answer to an action that must be refused."""
    try:
        action()
    except KubectlError as error:
        return str(error)
    raise AssertionError("the action was not refused")


def audit_verify(contract: str) -> subprocess.CompletedProcess[str]:
    """`python -m tds_operator audit verify CONTRACT`, as an auditor runs it."""
    env = {**os.environ, "KUBECONFIG": hub_kubeconfig(), "TDS_NAMESPACE": OPERATOR_NAMESPACE}
    return subprocess.run(
        [sys.executable, "-m", "tds_operator", "audit", "verify", contract],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


def contracts_registry(api_client: client.ApiClient) -> Iterator[Contracts]:
    """The body of a `contracts` fixture: waits for the webhook, cleans up afterwards."""
    wait_for_contract_webhook()
    registry = Contracts(api_client)
    try:
        yield registry
    finally:
        registry.cleanup()
