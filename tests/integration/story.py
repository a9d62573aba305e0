"""Two participants, a contract between them and the consumer's TrainingJobs, on the real hub.

Everything a participant does goes through the API server as that participant (kubectl `--as`,
or a client sending impersonation headers), so RBAC and the admission webhooks see who asks.
What the tests only look at is read with the cluster admin's client.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.integration.conftest import KubectlError, hub_kubeconfig, kubectl
from tests.waiting import wait_until

GROUP, VERSION = "tds.io", "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
OPERATOR_NAMESPACE = "tds-system"
LEDGER_SELECTOR = "tds.io/audit-ledger=true"
GPU_RESOURCE = "nvidia.com/gpu"
# Datasets of every space made here; contracts cover the first unless told otherwise.
DATASETS = ("records", "weather")

Body = dict[str, Any]


def unique(prefix: str) -> str:
    """A fresh object name: a letter prefix and eight hex digits."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def rfc3339(at: datetime) -> str:
    """A time as the API expects it, in whole seconds."""
    return at.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def space_namespace(space: str) -> str:
    return f"tds-{space}"


def clean_room(contract: str) -> str:
    """The clean room namespace of a contract (the short names made here)."""
    return f"tds-cr-{contract}"


@dataclass(frozen=True)
class Person:
    """Someone the tests act as: a user in some groups."""

    user: str
    groups: tuple[str, ...]

    def kubectl(self, *args: str) -> str:
        """kubectl as this person; KubectlError carries the server's refusal."""
        return kubectl(*args, user=self.user, groups=self.groups)

    def create(self, body: Body) -> None:
        """Create one object as this person."""
        with _manifest(body) as path:
            self.kubectl("create", "-f", path)

    def api(self) -> client.CustomObjectsApi:
        """A client that sends this person's identity as impersonation headers."""
        api_client = config.new_client_from_config(config_file=hub_kubeconfig())
        api_client.set_default_header("Impersonate-User", self.user)
        if self.groups:
            # Default headers hold one value each; the people made here are in one group.
            api_client.set_default_header("Impersonate-Group", self.groups[0])
        return client.CustomObjectsApi(api_client)


def owner_of(space: str) -> Person:
    """An owner of a space made here: a user in Group <space>-admins."""
    return Person(f"{space}-boss", (f"{space}-admins",))


@contextmanager
def _manifest(body: Body) -> Iterator[str]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(body, handle)
    try:
        yield handle.name
    finally:
        os.unlink(handle.name)


def space_body(name: str) -> Body:
    return {
        "apiVersion": API_VERSION,
        "kind": "DataSpace",
        "metadata": {"name": name},
        "spec": {
            "organization": f"Organisation {name}",
            "owners": [{"kind": "Group", "name": f"{name}-admins"}],
            "quota": {"cpu": "16", "memory": "64Gi", "gpu": 16, "pods": 50},
            "datasets": [
                {
                    "name": dataset,
                    "classification": "general",
                    "source": {"service": {"name": f"{dataset}-gateway", "port": 8443}},
                }
                for dataset in DATASETS
            ],
        },
    }


def contract_body(name: str, provider: str, consumer: str, **spec: Any) -> Body:
    """Terms for 30 days from now, with the provider's consent; `spec` overrides any term."""
    return {
        "apiVersion": API_VERSION,
        "kind": "DataContract",
        "metadata": {"name": name},
        "spec": {
            "provider": {"space": provider, "datasets": [DATASETS[0]]},
            "consumer": {"space": consumer},
            "purpose": "model-training",
            "validity": {"notAfter": rfc3339(datetime.now(UTC) + timedelta(days=30))},
            "compute": {"maxGpuHours": 10, "maxConcurrentGpus": 16},
            "consent": {"provider": {"approved": True}},
            **spec,
        },
    }


def training_job_body(
    name: str,
    namespace: str,
    contract: str,
    *,
    workers: int = 1,
    gpus_per_worker: int = 8,
    run_for: str = "10s",
    fail: bool = False,
    **spec: Any,
) -> Body:
    """A TrainingJob whose simulated workers run for `run_for` (and fail if told so)."""
    metadata: Body = {
        "name": name,
        "namespace": namespace,
        "annotations": {"hub.tds.io/run-for": run_for},
    }
    if fail:
        metadata["labels"] = {"hub.tds.io/fail": "true"}
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainingJob",
        "metadata": metadata,
        "spec": {
            "contract": contract,
            "image": "registry.local/forecast:1.0",
            "command": ["torchrun", "train.py"],
            "workers": workers,
            "gpusPerWorker": gpus_per_worker,
            **spec,
        },
    }


@dataclass(frozen=True)
class Deal:
    """A contract between two spaces."""

    provider: str
    consumer: str
    contract: str

    @property
    def namespace(self) -> str:
        """Where the consumer creates its TrainingJobs."""
        return space_namespace(self.consumer)


class Story:
    """Creates spaces, contracts and jobs for one test and removes all of them afterwards."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.spaces: list[str] = []
        self.contracts: list[tuple[str, str]] = []
        self.jobs: list[tuple[str, str]] = []

    # --- spaces and contracts ------------------------------------------------------------------

    def space(self) -> str:
        """A new DataSpace, Ready."""
        name = unique("s")
        self.custom.create_cluster_custom_object(GROUP, VERSION, "dataspaces", space_body(name))
        self.spaces.append(name)
        wait_until(
            lambda: _condition_true(self._get("dataspaces", name), "Ready"),
            timeout=30,
            what=f"DataSpace {name} Ready",
        )
        return name

    def propose(self, provider: str, consumer: str, *, consent: bool = True, **spec: Any) -> str:
        """A contract proposed (and consented to) by the provider's owner, then consented to by
        the consumer's owner unless `consent` is false."""
        name = unique("c")
        self.contracts.append((name, provider))
        owner_of(provider).create(contract_body(name, provider, consumer, **spec))
        if consent:
            owner_of(consumer).kubectl(
                "patch", "datacontract", name, "--type=merge",
                "-p", json.dumps({"spec": {"consent": {"consumer": {"approved": True}}}}),
            )  # fmt: skip
        return name

    def deal(self, **spec: Any) -> Deal:
        """Two new spaces and an Active contract between them with these terms."""
        provider, consumer = self.space(), self.space()
        contract = self.propose(provider, consumer, **spec)
        self.wait_contract(contract, "Active")
        return Deal(provider, consumer, contract)

    def contract(self, name: str) -> Body:
        body = self._get("datacontracts", name)
        assert body is not None, f"DataContract {name} is gone"
        return body

    def wait_contract(self, name: str, phase: str, timeout: float = 20) -> Body:
        """The contract once the operator reports `phase` for its current generation."""

        def reached() -> Body | None:
            body = self._get("datacontracts", name)
            status = (body or {}).get("status") or {}
            if (
                body is not None
                and status.get("phase") == phase
                and status.get("observedGeneration") == body["metadata"]["generation"]
            ):
                return body
            return None

        return wait_until(reached, timeout=timeout, what=f"DataContract {name} {phase}")

    def revoke(self, contract: str, by: Person) -> None:
        by.kubectl(
            "patch", "datacontract", contract, "--type=merge", "-p", '{"spec":{"revoked":true}}'
        )

    # --- training jobs -------------------------------------------------------------------------

    def submit(self, by: Person, body: Body) -> str:
        """Create a TrainingJob as `by`; KubectlError if refused."""
        by.create(body)
        self.jobs.append((body["metadata"]["namespace"], body["metadata"]["name"]))
        return str(body["metadata"]["name"])

    def submit_together(self, by: Person, bodies: list[Body]) -> list[str | None]:
        """Create TrainingJobs as `by` at the same instant (one thread and connection each,
        released together); the API server's refusal of each, or None."""
        clients = [by.api() for _ in bodies]
        start = threading.Barrier(len(bodies))

        def create(api: client.CustomObjectsApi, body: Body) -> str | None:
            namespace = body["metadata"]["namespace"]
            start.wait(timeout=30)
            try:
                api.create_namespaced_custom_object(GROUP, VERSION, namespace, "trainingjobs", body)
            except ApiException as error:
                return str(json.loads(error.body).get("message", error.body))
            return None

        try:
            with ThreadPoolExecutor(len(bodies)) as pool:
                refusals = list(pool.map(create, clients, bodies))
        finally:
            for api in clients:
                api.api_client.close()
        for body, refused in zip(bodies, refusals, strict=True):
            if refused is None:
                self.jobs.append((body["metadata"]["namespace"], body["metadata"]["name"]))
        return refusals

    def job(self, namespace: str, name: str) -> Body | None:
        try:
            body: Body = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, "trainingjobs", name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return body

    def wait_job(
        self, namespace: str, name: str, *phases: str, timeout: float = 60, interval: float = 0.2
    ) -> Body:
        """The TrainingJob once its phase is one of `phases`."""

        def reached() -> Body | None:
            body = self.job(namespace, name)
            if body is not None and (body.get("status") or {}).get("phase") in phases:
                return body
            return None

        return wait_until(
            reached,
            timeout=timeout,
            interval=interval,
            what=f"TrainingJob {name} {'/'.join(phases)}",
        )

    def delete_job(self, namespace: str, name: str) -> None:
        try:
            self.custom.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, "trainingjobs", name
            )
        except ApiException as error:
            if error.status != 404:
                raise

    def pods(self, contract: str, job: str) -> list[client.V1Pod]:
        """The worker pods of a job, by completion index."""
        pods = self.core.list_namespaced_pod(
            clean_room(contract), label_selector=f"tds.io/training-job={job}"
        ).items
        return sorted(pods, key=completion_index)

    def batch_job(self, contract: str, job: str) -> client.V1Job | None:
        try:
            found: client.V1Job = self.batch.read_namespaced_job(job, clean_room(contract))
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return found

    def service(self, contract: str, job: str) -> client.V1Service | None:
        try:
            found: client.V1Service = self.core.read_namespaced_service(job, clean_room(contract))
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return found

    def wait_event(
        self, namespace: str, name: str, matches: Callable[[client.CoreV1Event], bool]
    ) -> client.CoreV1Event:
        """An Event about one object of a namespace that `matches`, once it is there (the
        operator posts it just after the status it reports)."""

        def found() -> client.CoreV1Event | None:
            events = self.core.list_namespaced_event(
                namespace, field_selector=f"involvedObject.name={name}"
            ).items
            return next((event for event in events if matches(event)), None)

        return wait_until(found, timeout=10, what=f"an Event about {name}")

    # --- the audit ledger ----------------------------------------------------------------------

    def ledger(self, contract: str) -> list[Body]:
        """The contract's ledger entries in sequence order, decoded from their ConfigMaps."""
        pages = self.core.list_namespaced_config_map(
            OPERATOR_NAMESPACE,
            label_selector=f"{LEDGER_SELECTOR},tds.io/contract={contract}",
        ).items
        data: dict[str, str] = {}
        for page in pages:
            data.update(page.data or {})
        return [json.loads(data[key]) for key in sorted(data)]

    def verify_ledger(self, contract: str) -> subprocess.CompletedProcess[str]:
        """`python -m tds_operator audit verify <contract>`, as an auditor runs it, once the
        contract's status.audit has caught up with the last append."""
        wait_until(
            lambda: (
                (self.contract(contract).get("status") or {}).get("audit", {}).get("entries")
                == len(self.ledger(contract))
            ),
            timeout=10,
            what=f"status.audit of {contract} recording every ledger entry",
        )
        return subprocess.run(
            [sys.executable, "-m", "tds_operator", "audit", "verify", contract],
            env={**os.environ, "KUBECONFIG": hub_kubeconfig()},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    # --- clean-up ------------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Delete jobs, end and delete contracts, delete spaces; wait until all are gone."""
        for namespace, name in self.jobs:
            self.delete_job(namespace, name)
        for namespace, name in self.jobs:
            wait_until(
                lambda n=namespace, j=name: self.job(n, j) is None,
                timeout=30,
                what=f"TrainingJob {name} gone",
            )
        for name, provider in self.contracts:
            body = self._get("datacontracts", name)
            if body is not None and not body["spec"].get("revoked"):
                # A contract whose parties are gone is deleted all the same.
                with contextlib.suppress(KubectlError):
                    self.revoke(name, owner_of(provider))
            self._delete("datacontracts", name)
        for name, _ in self.contracts:
            wait_until(
                lambda n=name: self._get("datacontracts", n) is None,
                timeout=30,
                what=f"DataContract {name} gone",
            )
        for name, _ in self.contracts:
            # The operator keeps a deleted contract's ledger on purpose; the test's own goes.
            self.core.delete_collection_namespaced_config_map(
                OPERATOR_NAMESPACE, label_selector=f"{LEDGER_SELECTOR},tds.io/contract={name}"
            )
        for name in self.spaces:
            self._delete("dataspaces", name)
        for name in self.spaces:
            wait_until(
                lambda n=name: self._get("dataspaces", n) is None,
                timeout=60,
                what=f"DataSpace {name} gone",
            )
        for name, _ in self.contracts:
            wait_until(
                lambda n=name: not _exists(lambda: self.core.read_namespace(clean_room(n))),
                timeout=60,
                what=f"clean room of {name} gone",
            )

    def _get(self, plural: str, name: str) -> Body | None:
        try:
            body: Body = self.custom.get_cluster_custom_object(GROUP, VERSION, plural, name)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return body

    def _delete(self, plural: str, name: str) -> None:
        try:
            self.custom.delete_cluster_custom_object(GROUP, VERSION, plural, name)
        except ApiException as error:
            if error.status != 404:
                raise


def _exists(read: Any) -> bool:
    try:
        read()
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def _condition_true(body: Body | None, type: str) -> bool:
    conditions = ((body or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == type and c["status"] == "True" for c in conditions)


def condition(body: Body, type: str) -> Body | None:
    """One condition of an object's status."""
    conditions = (body.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == type), None)


def completion_index(pod: client.V1Pod) -> int:
    """The worker index of an Indexed Job's pod."""
    return int((pod.metadata.annotations or {})["batch.kubernetes.io/job-completion-index"])


def run_seconds(pod: client.V1Pod) -> float:
    """How long the pod's worker container ran, from its terminated state."""
    terminated = pod.status.container_statuses[0].state.terminated
    assert terminated is not None, f"pod {pod.metadata.name} has not terminated"
    return float((terminated.finished_at - terminated.started_at).total_seconds())


def seconds(text: str) -> float:
    """A Go duration of whole seconds ("10s") in seconds."""
    assert text.endswith("s"), text
    assert text[:-1].isdigit(), text
    return float(text[:-1])
