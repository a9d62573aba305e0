"""TrainingJobs on the hub: two participants, an Active contract between them (a `Deal`) and
the consumer's jobs, observed as the cluster admin."""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bench.hubkit.hub import (
    CONTRACTS,
    JOBS,
    Contracts,
    Hub,
    Person,
    Spaces,
    audit_verify,
    clean_room,
    get_or_none,
    owner_of,
    space_namespace,
    unique,
)
from bench.hubkit.manifests import (
    API_VERSION,
    GROUP,
    VERSION,
    Body,
    contract_body,
    manifest_step_ended,
    training_job_body,
)
from bench.hubkit.waiting import wait_for, wait_until
from tds_operator.output_manifest import manifest_entries
from tds_operator.policy.manifest import termination_message

GPU_RESOURCE = "nvidia.com/gpu"
# How soon a revocation stops a running job and deletes its batch Job (the operator's own queue or
# Kueue alike); REVOCATION_WATCH: how long a test watches for it at most.
STOP_LATENCY_TARGET = 2.0
REVOCATION_WATCH = 10.0
MANIFEST_LABEL = "tds.io/output-manifest"
# Datasets of every space made here; contracts cover the first unless told otherwise.
DATASETS = ("records", "weather")


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
    """Spaces with room for 16 GPUs, contracts between them and the consumer's TrainingJobs."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.spaces = Spaces(hub)
        self.contracts = Contracts(hub)

    # --- spaces and contracts ------------------------------------------------------------------

    def space(self, *, members: bool = False, gpus: int = 16) -> str:
        """A new DataSpace with `gpus` GPUs and both DATASETS, Ready, each dataset served by its
        gateway Service (which has a cluster IP); no members, unless `members` (then its member
        is `member_of(space)`)."""
        name = self.spaces.create(analysts=None if members else (), gpus=gpus, gateways=DATASETS)
        self.spaces.wait_ready(name)
        for dataset in DATASETS:
            self.hub.core.create_namespaced_service(space_namespace(name), gateway(dataset))
        return name

    def gateway_ip(self, space: str, dataset: str) -> str:
        """The cluster IP of the Service that serves a dataset of the space."""
        service = self.hub.core.read_namespaced_service(
            f"{dataset}-gateway", space_namespace(space)
        )
        return str(service.spec.cluster_ip)

    def propose(
        self,
        provider: str,
        consumer: str,
        *,
        consent: bool = True,
        name: str | None = None,
        **spec: Any,
    ) -> str:
        """A contract for 30 days and 16 GPUs proposed (and consented to) by the provider's
        owner, then consented to by the consumer's owner unless `consent` is false."""
        body = contract_body(
            name or unique("c"), provider, consumer, days=30, max_concurrent_gpus=16, **spec
        )
        name = self.contracts.propose(owner_of(provider), body)
        if consent:
            self.contracts.consent(owner_of(consumer), name, "consumer")
        return name

    def deal(self, *, members: bool = False, gpus: int = 16, **spec: Any) -> Deal:
        """Two new spaces (with members, if told; `gpus` GPUs of quota each) and an Active
        contract between them with these terms."""
        provider = self.space(members=members, gpus=gpus)
        consumer = self.space(members=members, gpus=gpus)
        contract = self.propose(provider, consumer, **spec)
        self.wait_contract(contract, "Active")
        return Deal(provider, consumer, contract)

    def contract(self, name: str) -> Body:
        body = self.hub.get(CONTRACTS, name)
        assert body is not None, f"DataContract {name} is gone"
        return body

    def wait_contract(self, name: str, phase: str, timeout: float = 20) -> Body:
        """The contract once the operator reports `phase` for its current generation."""
        return self.contracts.wait_phase(name, phase, timeout)

    # --- training jobs -------------------------------------------------------------------------

    def submit(self, by: Person, body: Body) -> str:
        """Create a TrainingJob as `by`; KubectlError if refused."""
        by.create(body)
        self.hub.jobs.append((body["metadata"]["namespace"], body["metadata"]["name"]))
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
                api.create_namespaced_custom_object(GROUP, VERSION, namespace, JOBS, body)
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
                self.hub.jobs.append((body["metadata"]["namespace"], body["metadata"]["name"]))
        return refusals

    def job(self, namespace: str, name: str) -> Body | None:
        return self.hub.get(JOBS, name, namespace)

    def wait_job(
        self, namespace: str, name: str, *phases: str, timeout: float = 60, interval: float = 0.2
    ) -> Body:
        """The TrainingJob once its phase is one of `phases` (a timeout names the phases seen on
        the way; None: no status yet)."""

        def phase(body: Body | None) -> str | None:
            return None if body is None else (body.get("status") or {}).get("phase")

        found = wait_for(
            lambda: self.job(namespace, name),
            lambda body: body is not None and phase(body) in phases,
            timeout=timeout,
            interval=interval,
            what=f"TrainingJob {name} {'/'.join(phases)}",
            shown=phase,
        )
        assert found is not None
        return found

    def delete_job(self, namespace: str, name: str) -> None:
        self.hub.delete(JOBS, name, namespace)

    def pods(self, contract: str, job: str) -> list[client.V1Pod]:
        """The worker pods of a job, by completion index."""
        pods = self.hub.core.list_namespaced_pod(
            clean_room(contract), label_selector=f"tds.io/training-job={job},!{MANIFEST_LABEL}"
        ).items
        return sorted(pods, key=completion_index)

    def terminated_worker(self, contract: str, job: str, what: str) -> client.V1Pod:
        """The job's one worker pod, once its container has terminated (within a minute)."""
        (worker,) = wait_until(
            lambda: [
                pod
                for pod in self.pods(contract, job)
                if pod.status.container_statuses[0].state.terminated is not None
            ],
            timeout=60,
            what=what,
        )
        return worker

    def manifest_pod(self, contract: str, job: str) -> client.V1Pod | None:
        """The pod the operator made to list a job's output, once it runs (on the hub, KWOK
        marks it Running and never runs its program)."""
        pod = get_or_none(
            lambda: self.hub.core.read_namespaced_pod(f"{job}-manifest", clean_room(contract))
        )
        return pod if pod is not None and pod.status.phase == "Running" else None

    def batch_job(self, contract: str, job: str) -> client.V1Job | None:
        return get_or_none(lambda: self.hub.batch.read_namespaced_job(job, clean_room(contract)))

    def revoke_timed(self, deal: Deal, job: str) -> tuple[float, float]:
        """The provider's owner revokes the contract (through a client of their own: no kubectl
        start-up to time); seconds after the API server accepted it until the running `job` was
        Stopped and until its batch Job was gone (at most REVOCATION_WATCH each)."""
        provider = owner_of(deal.provider).api()
        requested = time.monotonic()
        provider.patch_cluster_custom_object(
            GROUP, VERSION, CONTRACTS, deal.contract, {"spec": {"revoked": True}}
        )
        accepted = time.monotonic()
        provider.api_client.close()
        stopped_at = gone_at = None
        while time.monotonic() - accepted < REVOCATION_WATCH and None in (stopped_at, gone_at):
            if stopped_at is None:
                body = self.job(deal.namespace, job) or {}
                if (body.get("status") or {}).get("phase") == "Stopped":
                    stopped_at = time.monotonic()
            if gone_at is None and self.batch_job(deal.contract, job) is None:
                gone_at = time.monotonic()
            time.sleep(0.02)
        assert stopped_at is not None, f"TrainingJob {job} not Stopped in {REVOCATION_WATCH} s"
        assert gone_at is not None, f"the batch Job {job} not deleted in {REVOCATION_WATCH} s"
        print(
            f"\nrevocation: patch took {accepted - requested:.3f}s; after it, TrainingJob Stopped "
            f"in {stopped_at - accepted:.3f}s, batch Job gone in {gone_at - accepted:.3f}s"
        )
        return stopped_at - accepted, gone_at - accepted

    def service(self, contract: str, job: str) -> client.V1Service | None:
        return get_or_none(lambda: self.hub.core.read_namespaced_service(job, clean_room(contract)))

    def network_policies(self, contract: str) -> set[str]:
        """Names of the NetworkPolicies in the contract's clean room."""
        policies = self.hub.net.list_namespaced_network_policy(clean_room(contract))
        return {policy.metadata.name for policy in policies.items}

    def endpoint_ips(self, contract: str, service: str) -> list[str]:
        """The pod IPs behind a clean-room Service, once its EndpointSlice lists any."""

        def listed() -> list[str] | None:
            slices = self.hub.discovery.list_namespaced_endpoint_slice(
                clean_room(contract), label_selector=f"kubernetes.io/service-name={service}"
            ).items
            ips = sorted(a for s in slices for e in s.endpoints or [] for a in e.addresses)
            return ips or None

        return wait_until(listed, timeout=15, what=f"endpoints of Service {service}")

    def wait_event(
        self, namespace: str, name: str, matches: Callable[[client.CoreV1Event], bool]
    ) -> client.CoreV1Event:
        """An Event about one object of a namespace that `matches`, once it is there (the
        operator posts it just after the status it reports)."""

        def found() -> client.CoreV1Event | None:
            events = self.hub.core.list_namespaced_event(
                namespace, field_selector=f"involvedObject.name={name}"
            ).items
            return next((event for event in events if matches(event)), None)

        return wait_until(found, timeout=10, what=f"an Event about {name}")

    # --- the audit ledger ----------------------------------------------------------------------

    def ledger(self, contract: str) -> list[Body]:
        """The contract's ledger entries in sequence order."""
        return self.hub.entries(contract)

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
        return audit_verify(contract)


def gateway(dataset: str) -> Body:
    """The Service a space serves a dataset from: port 8443 to its gateway pods' 9443."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"{dataset}-gateway"},
        "spec": {
            "selector": {"app": f"{dataset}-gateway"},
            "ports": [{"port": 8443, "targetPort": 9443}],
        },
    }


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


# --- outputs ---------------------------------------------------------------------------------


def output_files(directory: Path) -> Path:
    """What a trainer leaves in /output: a model and a link the manifest reports, unfollowed."""
    (directory / "model").mkdir()
    (directory / "model" / "weights.bin").write_bytes(b"\x00\x01" * 512)
    (directory / "README").write_text("a model\n")
    (directory / "latest").symlink_to("model")
    return directory


def end_manifest_step(
    story: Story, deal: Deal, job: str, message: str, *, exit_code: int = 0
) -> client.V1Pod:
    """As hub staff standing in for the kubelet: end the manifest step's container with
    `message` as its termination message (KWOK never runs the program). The pod as it ran."""
    pod = wait_until(
        lambda: story.manifest_pod(deal.contract, job),
        timeout=60,
        what=f"the manifest step of {job} running",
    )
    status = manifest_step_ended(message, exit_code)
    story.hub.core.patch_namespaced_pod_status(pod.metadata.name, clean_room(deal.contract), status)
    return pod


def listed_manifest(directory: Path) -> str:
    """The termination message the real manifest step writes for `directory`."""
    return termination_message(manifest_entries(directory))


def finished_job_with_output(
    story: Story,
    deal: Deal,
    manifest: str | None = None,
    *,
    exit_code: int = 0,
    listed: bool = True,
) -> tuple[str, Body]:
    """A job with a 1Gi output, run to its end and its manifest step ended with `manifest` (by
    default, the real step's message for a small model; no step if not `listed`: under
    `denied`); its TrainingJob once the output is Quarantined."""
    name = unique("j")
    body = training_job_body(
        name, deal.namespace, deal.contract, run_for="1s", output={"size": "1Gi"}
    )
    story.submit(owner_of(deal.consumer), body)
    if manifest is None:
        with tempfile.TemporaryDirectory() as directory:
            manifest = listed_manifest(output_files(Path(directory)))
    if listed:
        end_manifest_step(story, deal, name, manifest, exit_code=exit_code)

    def quarantined() -> Body | None:
        job = story.job(deal.namespace, name)
        output = ((job or {}).get("status") or {}).get("output") or {}
        return job if output.get("state") == "Quarantined" else None

    return name, wait_until(quarantined, timeout=60, what=f"output of {name} Quarantined")


def output_kinds(story: Story, deal: Deal, job: Body) -> list[str]:
    uid = job["metadata"]["uid"]
    return [
        entry["kind"]
        for entry in story.hub.entries(deal.contract)
        if entry["id"].startswith(f"output/{uid}/")
    ]


RELEASES = "modelreleases"


def release_body(name: str, namespace: str, job: str, **spec: Any) -> Body:
    return {
        "apiVersion": API_VERSION,
        "kind": "ModelRelease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"trainingJob": job, **spec},
    }


def ask_release(deal: Deal, job: str, by: Person | None = None) -> str:
    name = unique("r")
    (by or owner_of(deal.consumer)).create(release_body(name, deal.namespace, job))
    return name


def release(story: Story, deal: Deal, name: str) -> Body:
    body = story.hub.get(RELEASES, name, deal.namespace)
    assert body is not None
    return body


def wait_release(story: Story, deal: Deal, name: str, phase: str) -> Body:
    def reached() -> Body | None:
        body = release(story, deal, name)
        return body if (body.get("status") or {}).get("phase") == phase else None

    try:
        return wait_until(reached, timeout=30, what=f"ModelRelease {name} {phase}")
    except AssertionError as error:
        raise AssertionError(
            f"{error}; status: {release(story, deal, name).get('status')}"
        ) from None


def review(by: Person, deal: Deal, name: str, decision: str, digest: str | None = None) -> None:
    """`by` sets the release's spec.review (claiming to be someone else, which the webhook
    replaces), naming the manifest digest it approves if given."""
    given = {"decision": decision, "reviewer": {"user": "someone-else"}}
    patch = json.dumps(
        {"spec": {"review": {**given, **({"manifestDigest": digest} if digest else {})}}}
    )
    by.kubectl("patch", RELEASES, name, "-n", deal.namespace, "--type=merge", "-p", patch)
