"""The local hub as the integration tests use it: people, the objects one test made, the ledger.

Every change a participant makes goes through the API server as that participant (kubectl `--as`,
or a client sending impersonation headers), so RBAC and the admission webhooks see who asks.
What the tests only look at is read with the cluster admin's client. One `Hub` records every
space, contract and job a test made and removes them in dependency order afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from bench.hubkit.manifests import GROUP, VERSION, Body, condition, contract_body, space_body
from bench.hubkit.processes import OperatorProcess
from bench.hubkit.waiting import wait_until
from tds_operator.desired.cleanroom import clean_room_namespace, provider_policy_name

REPO_ROOT = Path(__file__).resolve().parents[2]
OPERATOR_NAMESPACE = "tds-system"
WEBHOOK_CONFIGURATION = "tds-operator.tds.io"
LEDGER_SELECTOR = "tds.io/audit-ledger=true,tds.io/contract={contract}"
SPACES, CONTRACTS, JOBS = "dataspaces", "datacontracts", "trainingjobs"

T = TypeVar("T")


class TempDirs(Protocol):
    """Where a test's files go: pytest's `tmp_path_factory` is one."""

    def mktemp(self, basename: str) -> Path: ...


# --- kubectl and the people who run it -----------------------------------------------------------


def hub_kubeconfig() -> str:
    """The kubeconfig the tests use: $KUBECONFIG, else the local hub's."""
    return os.environ.get("KUBECONFIG") or str(REPO_ROOT / ".hub" / "kubeconfig")


class KubectlError(Exception):
    """kubectl failed; the message is its stderr."""


def kubectl(*args: str, user: str | None = None, groups: tuple[str, ...] = ()) -> str:
    """Run the hub's kubectl, optionally impersonating a user; fails the test on error."""
    command = [str(REPO_ROOT / "hack" / "hub" / "kubectl.sh"), "--kubeconfig", hub_kubeconfig()]
    if user:
        command += ["--as", user, *(f"--as-group={group}" for group in groups)]
    result = subprocess.run([*command, *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise KubectlError(result.stderr.strip())
    return result.stdout


@contextmanager
def manifest_file(body: Body) -> Iterator[str]:
    """The path of a temporary JSON file holding `body`, for `kubectl -f`."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(body, handle)
    try:
        yield handle.name
    finally:
        os.unlink(handle.name)


@dataclass(frozen=True)
class Person:
    """Someone kubectl impersonates; the cluster admin (no impersonation) when `user` is empty."""

    user: str = ""
    groups: tuple[str, ...] = ()

    def kubectl(self, *args: str) -> str:
        """kubectl as this person; raises KubectlError with the server's answer on refusal."""
        return kubectl(*args, user=self.user or None, groups=self.groups)

    def create(self, body: Body) -> None:
        """Create one object as this person."""
        with manifest_file(body) as path:
            self.kubectl("create", "-f", path)

    def api(self) -> client.CustomObjectsApi:
        """A client that sends this person's identity as impersonation headers."""
        api_client = config.new_client_from_config(config_file=hub_kubeconfig())
        api_client.set_default_header("Impersonate-User", self.user)
        if self.groups:
            # Default headers hold one value each; the people made here are in one group.
            api_client.set_default_header("Impersonate-Group", self.groups[0])
        return client.CustomObjectsApi(api_client)


CLUSTER_ADMIN = Person()


def owner_of(space: str) -> Person:
    """An owner of a space made from manifests.space_body: a user in Group <space>-admins."""
    return Person(f"{space}-boss", (f"{space}-admins",))


def member_of(space: str) -> Person:
    """The member of a space made with `analysts=(f"{space}-analyst",)`."""
    return Person(f"{space}-analyst")


def refusal(action: Callable[[], object]) -> str:
    """The server's answer to a kubectl action that must be refused."""
    try:
        action()
    except KubectlError as error:
        return str(error)
    raise AssertionError("the action was not refused")


# --- names and reads -----------------------------------------------------------------------------


def unique(prefix: str) -> str:
    """A fresh object name: a letter prefix and eight hex digits."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def unique_contract() -> str:
    """A contract name no other test uses."""
    return f"c{uuid.uuid4().hex[:10]}"


def space_namespace(space: str) -> str:
    return f"tds-{space}"


def clean_room(contract: str) -> str:
    """The clean room namespace of a contract, named as the operator names it."""
    return clean_room_namespace(contract)


def get_or_none(read: Callable[[], T]) -> T | None:
    """What `read` returns, or None if the API server answers 404."""
    try:
        return read()
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def exists(read: Callable[[], object]) -> bool:
    """Whether `read` finds its object."""
    return get_or_none(read) is not None


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


def plugin_binary() -> str:
    """The installed `kubectl-tds` (the plugin's own distribution, plugin/), beside this Python:
    tests run it as a user does."""
    return str(Path(sys.executable).parent / "kubectl-tds")


def completion_binary() -> str:
    """The installed `kubectl_complete-tds`, which kubectl runs to complete `kubectl tds`."""
    return str(Path(sys.executable).parent / "kubectl_complete-tds")


def plugin_command(person: Person, *args: str) -> list[str]:
    """`kubectl tds ARGS` by `person` (impersonated), with the hub's kubeconfig."""
    identity = [] if not person.user else ["--as", person.user]
    identity += [f"--as-group={group}" for group in person.groups]
    return [plugin_binary(), *args, "--kubeconfig", hub_kubeconfig(), *identity]


def plugin(person: Person, *args: str) -> subprocess.CompletedProcess[str]:
    """The plugin's own commands as `person`: exit status, output and one-line errors."""
    return subprocess.run(
        plugin_command(person, *args), capture_output=True, text=True, check=False, timeout=60
    )


def tds_command(person: Person, *args: str) -> list[str]:
    """The command line of `kubectl tds ARGS` run by `person` (impersonated, as kubectl's --as)."""
    identity = [] if not person.user else ["--as", person.user]
    identity += [f"--as-group={group}" for group in person.groups]
    return [
        plugin_binary(),
        *args,
        "--kubeconfig",
        hub_kubeconfig(),
        "--ledger-namespace",
        OPERATOR_NAMESPACE,
        *identity,
    ]


def tds(person: Person, *args: str) -> subprocess.CompletedProcess[str]:
    """`kubectl tds ARGS` as `person`: its exit status, output and one-line errors."""
    return subprocess.run(
        tds_command(person, *args), capture_output=True, text=True, check=False, timeout=60
    )


def wait_for_contract_webhook(timeout: float = 30) -> None:
    """Wait until the operator's admission webhook answers for DataContracts.

    A dry-run proposal between spaces that do not exist, by the cluster admin, is refused by the
    webhook once it serves; before that it is accepted (no webhook registered yet) or fails to
    reach the webhook (a stale registration of a killed operator).
    """
    body = contract_body(unique_contract(), "nobody-a", "nobody-b")

    def answers() -> bool:
        return "denied the request" in (dry_run_refusal(body) or "")

    wait_until(answers, timeout=timeout, interval=0.3, what="the DataContract admission webhook")


def dry_run_refusal(body: Body) -> str | None:
    """The API server's refusal of creating `body` as the cluster admin (a dry run), or None."""
    with manifest_file(body) as path:
        try:
            CLUSTER_ADMIN.kubectl("create", "--dry-run=server", "-f", path)
        except KubectlError as error:
            return str(error)
    return None


# --- what one test made --------------------------------------------------------------------------


class Hub:
    """The spaces, contracts and jobs one test made; `cleanup` removes them in dependency order."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.net = client.NetworkingV1Api(api_client)
        self.discovery = client.DiscoveryV1Api(api_client)
        self.rbac = client.RbacAuthorizationV1Api(api_client)
        self.spaces: list[str] = []
        self.contracts: list[str] = []
        self.jobs: list[tuple[str, str]] = []

    def get(self, plural: str, name: str, namespace: str | None = None) -> Body | None:
        """One of the project's objects as the cluster admin sees it, or None."""
        if namespace is None:
            return get_or_none(
                lambda: self.custom.get_cluster_custom_object(GROUP, VERSION, plural, name)
            )
        return get_or_none(
            lambda: self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name
            )
        )

    def delete(self, plural: str, name: str, namespace: str | None = None) -> None:
        """Delete one of the project's objects as the cluster admin (gone already is fine)."""
        if namespace is None:
            get_or_none(
                lambda: self.custom.delete_cluster_custom_object(GROUP, VERSION, plural, name)
            )
        else:
            get_or_none(
                lambda: self.custom.delete_namespaced_custom_object(
                    GROUP, VERSION, namespace, plural, name
                )
            )

    def wait_gone(
        self, plural: str, name: str, namespace: str | None = None, timeout: float = 30
    ) -> None:
        wait_until(
            lambda: self.get(plural, name, namespace) is None,
            timeout=timeout,
            what=f"{plural} {name} gone",
        )

    def has_namespace(self, name: str) -> bool:
        """Whether a namespace exists and is not being deleted."""
        namespace = get_or_none(lambda: self.core.read_namespace(name))
        return namespace is not None and namespace.metadata.deletion_timestamp is None

    # --- the audit ledger ----------------------------------------------------------------------

    def ledger_pages(self, contract: str) -> list[client.V1ConfigMap]:
        pages: list[client.V1ConfigMap] = self.core.list_namespaced_config_map(
            OPERATOR_NAMESPACE, label_selector=LEDGER_SELECTOR.format(contract=contract)
        ).items
        return pages

    def ledger(self, contract: str) -> dict[str, str]:
        """The stored entries, sequence key -> the entry's JSON text, all pages merged."""
        data: dict[str, str] = {}
        for page in self.ledger_pages(contract):
            data.update(page.data or {})
        return dict(sorted(data.items()))

    def entries(self, contract: str) -> list[Body]:
        """The stored entries, decoded, in sequence order."""
        return [json.loads(text) for text in self.ledger(contract).values()]

    # --- clean-up ------------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Delete jobs, then end and delete contracts and their ledgers, then spaces; wait until
        each is gone before the next, except that the spaces go as soon as no active contract
        holds them: every namespace takes the namespace controller's 5 s grace to go, so the
        spaces' namespaces and the clean rooms go side by side rather than one after the other."""
        for namespace, name in self.jobs:
            self.delete(JOBS, name, namespace)
        for namespace, name in self.jobs:
            self.wait_gone(JOBS, name, namespace)
        for name in self.contracts:
            body = self.get(CONTRACTS, name)
            if body is not None and not body["spec"].get("revoked"):
                # A contract whose parties are gone is deleted all the same.
                with contextlib.suppress(KubectlError):
                    revoke = json.dumps({"spec": {"revoked": True}})
                    owner_of(body["spec"]["provider"]["space"]).kubectl(
                        "patch", "datacontract", name, "--type=merge", "-p", revoke
                    )
            self.delete(CONTRACTS, name)
        for name in self.spaces:
            wait_until(
                lambda n=name: self.deleted_once_no_active_contract_holds(n),
                timeout=30,
                what=f"DataSpace {name} deleted once its contracts ended",
            )
        for name in self.contracts:
            self.wait_gone(CONTRACTS, name)
        for name in self.contracts:
            # The operator keeps a deleted contract's ledger on purpose; the test's own goes.
            self.core.delete_collection_namespaced_config_map(
                OPERATOR_NAMESPACE, label_selector=LEDGER_SELECTOR.format(contract=name)
            )
        for name in self.contracts:
            wait_until(
                lambda n=name: not exists(lambda: self.core.read_namespace(clean_room(n))),
                timeout=60,
                what=f"clean room of {name} gone",
            )
        for name in self.spaces:
            self.wait_gone(SPACES, name, timeout=60)

    def deleted_once_no_active_contract_holds(self, space: str) -> bool:
        """Delete a DataSpace; False while the operator's webhook refuses it for an active
        contract (the revocation is not on its phase yet)."""
        try:
            self.delete(SPACES, space)
        except ApiException as error:
            if "party to active contracts" in str(error.body):
                return False
            raise
        return True


class Spaces:
    """DataSpaces, made by the cluster admin as the platform team does."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def create(
        self, name: str | None = None, *, analysts: Sequence[str] | None = None, **spec: Any
    ) -> str:
        """A new DataSpace whose members are `analysts` (default: `<name>-analyst`), with any
        keyword of manifests.space_body."""
        name = name or unique("s")
        members = (f"{name}-analyst",) if analysts is None else analysts
        body = space_body(name, analysts=members, **spec)
        self.hub.spaces.append(name)
        self.hub.custom.create_cluster_custom_object(GROUP, VERSION, SPACES, body)
        return name

    def get(self, name: str) -> Body:
        body = self.hub.get(SPACES, name)
        assert body is not None, f"DataSpace {name} is gone"
        return body

    def patch_spec(self, name: str, spec: Body) -> None:
        self.hub.custom.patch_cluster_custom_object(GROUP, VERSION, SPACES, name, {"spec": spec})

    def condition(self, name: str, type: str = "Ready") -> Body | None:
        return condition(self.get(name), type)

    def wait_ready(self, name: str, timeout: float = 30) -> Body:
        """The space once Ready for its current generation."""

        def ready() -> Body | None:
            body = self.get(name)
            status = body.get("status") or {}
            ready = condition(body, "Ready")
            if (
                ready
                and ready["status"] == "True"
                and status.get("observedGeneration") == body["metadata"]["generation"]
            ):
                return body
            return None

        return wait_until(ready, timeout=timeout, what=f"DataSpace {name} Ready")

    def exists(self, name: str) -> bool:
        return self.hub.get(SPACES, name) is not None


class Contracts:
    """DataContracts, proposed, signed and revoked by their parties."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def propose(self, by: Person, body: Body) -> str:
        """Create the contract as `by`; the name is recorded for clean-up even if refused."""
        name: str = body["metadata"]["name"]
        self.hub.contracts.append(name)
        by.create(body)
        for party in ("provider", "consumer"):
            self.wait_reachable_by(body["spec"][party]["space"], name)
        return name

    def reachable_by(self, space: str, name: str) -> bool:
        """Whether the space's per-space role names the contract (its owners may then read,
        sign and revoke it)."""
        role = get_or_none(
            lambda: self.hub.rbac.read_cluster_role(f"tds-space-{space}-contract-owners")
        )
        rules = (role.rules or []) if role is not None else []
        return any(name in (rule.resource_names or []) for rule in rules)

    def wait_reachable_by(self, space: str, name: str, timeout: float = 10) -> None:
        """Until the operator has granted the space's people access to the new contract."""
        wait_until(
            lambda: self.reachable_by(space, name),
            timeout=timeout,
            what=f"DataSpace {space}'s access to DataContract {name}",
        )

    def patch(self, by: Person, name: str, spec: Body) -> None:
        """A merge patch of the spec as `by`."""
        by.kubectl("patch", "datacontract", name, "--type=merge", "-p", json.dumps({"spec": spec}))

    def consent(self, by: Person, name: str, party: str, approved: bool = True) -> None:
        """Set one party's approval as `by`."""
        self.patch(by, name, {"consent": {party: {"approved": approved}}})

    def revoke(self, by: Person, name: str) -> None:
        """End the contract as `by`."""
        self.patch(by, name, {"revoked": True})

    def get(self, name: str) -> Body | None:
        return self.hub.get(CONTRACTS, name)

    def status(self, name: str) -> Body:
        status: Body = (self.get(name) or {}).get("status") or {}
        return status

    def condition(self, name: str, type: str) -> Body | None:
        return condition(self.get(name), type)

    def wait_phase(self, name: str, phase: str, timeout: float = 20) -> Body:
        """The contract once the operator reports `phase` for its current generation."""

        def reached() -> Body | None:
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
        return exists(
            lambda: self.hub.net.read_namespaced_network_policy(
                provider_policy_name(name), space_namespace(provider)
            )
        )

    def has_clean_room(self, name: str) -> bool:
        """Whether the clean room namespace exists and is not being deleted."""
        return self.hub.has_namespace(clean_room(name))

    def has_datasets_policy(self, name: str) -> bool:
        return exists(
            lambda: self.hub.net.read_namespaced_network_policy(
                "tds-allow-datasets", clean_room(name)
            )
        )

    def ledger_pages(self, name: str) -> list[client.V1ConfigMap]:
        return self.hub.ledger_pages(name)

    def ledger(self, name: str) -> dict[str, str]:
        return self.hub.ledger(name)

    def entries(self, name: str) -> list[Body]:
        return self.hub.entries(name)

    def delete(self, name: str) -> None:
        """Delete a contract (as the cluster admin) and wait until the operator let it go."""
        self.hub.delete(CONTRACTS, name)
        self.hub.wait_gone(CONTRACTS, name)


# --- stories many tests tell ---------------------------------------------------------------------


def ready_spaces(spaces: Spaces, count: int = 2, **spec: Any) -> list[str]:
    """`count` new spaces, each Ready (the first gets `spec`)."""
    names = [spaces.create(**(spec if index == 0 else {})) for index in range(count)]
    for name in names:
        spaces.wait_ready(name)
    return names


def active_contract(contracts: Contracts, provider: str, consumer: str, **terms: Any) -> str:
    """A contract proposed and signed by the provider's owner, signed by the consumer's, Active.

    The consumer signs only once the operator has seen the proposal, so that every contract's
    ledger tells the same story (a quick enough consent makes it go straight to Active).
    """
    name = contracts.propose(
        owner_of(provider), contract_body(unique_contract(), provider, consumer, **terms)
    )
    contracts.wait_phase(name, "Proposed")
    contracts.consent(owner_of(consumer), name, "consumer")
    contracts.wait_phase(name, "Active")
    return name


def entry_kinds(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(kind, party or phase) of each entry, in order."""
    return [
        (entry["kind"], entry["details"].get("party") or entry["details"].get("phase"))
        for entry in entries
    ]


def touch(contracts: Contracts, name: str, operator: OperatorProcess) -> None:
    """Make the operator reconcile the contract once more (a label change, no spec change)."""
    before = operator.metric("tds_reconcile_total", kind="DataContract")
    # A party's owner may label its contract (anyone else's metadata change is refused).
    provider = (contracts.get(name) or {})["spec"]["provider"]["space"]
    owner_of(provider).kubectl(
        "label", "datacontract", name, f"touched={time.time_ns()}", "--overwrite"
    )
    wait_until(
        lambda: operator.metric("tds_reconcile_total", kind="DataContract") > before,
        timeout=10,
        what=f"a reconcile of {name}",
    )
    time.sleep(0.5)  # let a reconcile that started just then finish its writes


@contextmanager
def operator_down(operator: OperatorProcess, api_client: client.ApiClient) -> Iterator[None]:
    """The operator stopped gracefully, which takes its webhooks out of the cluster (only the
    CRDs' CEL rules remain, as whenever the webhook is not called); started again afterwards."""
    admission = client.AdmissionregistrationV1Api(api_client)

    def webhooks_gone() -> bool:
        configuration = get_or_none(
            lambda: admission.read_mutating_webhook_configuration(WEBHOOK_CONFIGURATION)
        )
        return configuration is None or not configuration.webhooks

    operator.stop()
    try:
        wait_until(webhooks_gone, timeout=10, what="the operator's webhooks removed")
        yield
    finally:
        operator.start()
        wait_for_contract_webhook()


@contextmanager
def running_operator(
    tmp_path_factory: TempDirs, extra_env: dict[str, str] | None = None
) -> Iterator[OperatorProcess]:
    """The operator running as a process (with `extra_env`, e.g. hub rules) until the end."""
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    process = OperatorProcess(hub_kubeconfig(), log, extra_env)
    process.start()
    try:
        yield process
    finally:
        process.stop()
        # A killed operator could not remove them itself.
        for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
            kubectl("delete", kind, WEBHOOK_CONFIGURATION, "--ignore-not-found")
        print(f"\noperator log: {log}")
