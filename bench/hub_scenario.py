"""A Chengdu-sized GPU hub under a steady stream of training: `make bench-hub`.

On a fresh hub of its own with GPU_NODES nodes of 8 GPUs and CPU_NODES CPU nodes, the operator
(a local process) serves SPACES DataSpaces and CONTRACTS Active contracts between them, proposed
and consented to by the parties' owners (impersonated). For DURATION seconds the consumers'
owners submit TrainingJobs at a steady rate (JOBS in all; each 1 worker of 1 to 8 GPUs running
RUN_FOR seconds on the simulated nodes), and REVOCATIONS contracts with running jobs are revoked
at even intervals by their providers. A watch of every TrainingJob records when each reached
each phase, on the benchmark's own clock. It prints:
  - admission latency (the create request answered → the job seen Admitted or later) p50/p95/p99;
  - revocation → Stopped (the revoke answered → each of the contract's running jobs seen
    Stopped, or ended at all) p50/p99 across the revoked contracts' jobs;
  - the operator's peak RSS and CPU seconds per admitted job, and the CPU seconds of each hub
    component over the same minutes: where the machine's time went.
It is a benchmark, never a test; the machine running it is small and shared.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from bench.hubkit.benchhub import (
    REPO,
    BenchHub,
    component_cpu,
    cpu_seconds,
    peak_rss_mib,
    wait_until,
)
from bench.hubkit.manifests import GROUP, VERSION, contract_body, training_job_body
from bench.hubkit.training import gateway
from bench.scale import documents, prepare, profiler, spaces
from tds_operator.api.dataspace import space_namespace
from tds_operator.config import OperatorConfig

CONTRACTS = "datacontracts"
JOBS = "trainingjobs"
ADMITTED_OR_LATER = ("Admitted", "Running", "Succeeded", "Failed", "Stopped")
ENDED = ("Succeeded", "Failed", "Stopped", "Denied")


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of `values` lie (nearest rank); NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


class Parties:
    """One API client per space owner, sending the owner's identity as impersonation headers
    (so the operator's webhooks decide as they would for the person)."""

    def __init__(self, kubeconfig: str) -> None:
        self.kubeconfig = kubeconfig
        self.clients: dict[str, client.CustomObjectsApi] = {}
        self.lock = threading.Lock()

    def owner(self, space: str) -> client.CustomObjectsApi:
        with self.lock:
            if space not in self.clients:
                api = config.new_client_from_config(config_file=self.kubeconfig)
                api.set_default_header("Impersonate-User", f"{space}-boss")
                api.set_default_header("Impersonate-Group", f"{space}-admins")
                self.clients[space] = client.CustomObjectsApi(api)
            return self.clients[space]


def retried(step: Callable[[], object], what: str, timeout: float = 120) -> None:
    """`step` once the API lets it through: a party's access to a new contract is granted by the
    operator a moment after the contract is created."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            step()
            return
        except ApiException as error:
            if error.status == 409 or time.monotonic() > deadline:
                raise RuntimeError(f"{what}: {error.status} {error.body}") from error
            time.sleep(0.5)


@dataclass
class Submitted:
    namespace: str
    name: str
    contract: str
    gpus: int
    created: float


@dataclass
class PhaseWatch:
    """When each TrainingJob was first seen in each phase (monotonic clock)."""

    api: client.CustomObjectsApi
    seen: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        version = ""
        while not self.stopping.is_set():
            try:
                if not version:
                    listed = self.api.list_cluster_custom_object(GROUP, VERSION, JOBS)
                    for item in listed["items"]:
                        self._record(item)
                    version = listed["metadata"]["resourceVersion"]
                stream = watch.Watch().stream(
                    self.api.list_cluster_custom_object,
                    GROUP,
                    VERSION,
                    JOBS,
                    resource_version=version,
                    timeout_seconds=60,
                    allow_watch_bookmarks=True,
                )
                for event in stream:
                    version = event["object"]["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        self._record(event["object"])
            except ApiException as error:
                if error.status == 410:
                    version = ""
            except Exception:  # a dropped connection: watch again from where it was
                time.sleep(0.2)

    def _record(self, body: dict[str, Any]) -> None:
        phase = (body.get("status") or {}).get("phase")
        if phase:
            key = (body["metadata"]["namespace"], body["metadata"]["name"])
            with self.lock:
                self.seen.setdefault(key, {}).setdefault(phase, time.monotonic())

    def first(self, job: Submitted, phases: tuple[str, ...]) -> float | None:
        with self.lock:
            times = [
                t for p, t in self.seen.get((job.namespace, job.name), {}).items() if p in phases
            ]
        return min(times) if times else None

    def phase_now(self, job: Submitted) -> str | None:
        """The latest phase seen (by first-seen time)."""
        with self.lock:
            phases = self.seen.get((job.namespace, job.name), {})
            return max(phases, key=phases.__getitem__) if phases else None


@dataclass(frozen=True)
class Scenario:
    spaces: int
    contracts: int
    jobs: int
    duration: float
    run_for: int
    revocations: int
    seed: int


class HubRun:
    def __init__(self, hub: BenchHub, scenario: Scenario) -> None:
        self.hub, self.scenario = hub, scenario
        self.random = random.Random(scenario.seed)
        self.parties = Parties(hub.kubeconfig)
        admin = config.new_client_from_config(config_file=hub.kubeconfig)
        self.admin = client.CustomObjectsApi(admin)
        self.watch = PhaseWatch(client.CustomObjectsApi(admin))
        self.names = [body["metadata"]["name"] for body in spaces(scenario.spaces)]
        self.deals: dict[str, tuple[str, str]] = {}  # contract: (provider, consumer)
        self.submitted: list[Submitted] = []
        self.refused: Counter[str] = Counter()
        self.revoked: dict[str, tuple[float, list[Submitted]]] = {}
        self.lock = threading.Lock()

    # --- setting up ----------------------------------------------------------------------------

    def make_spaces(self) -> float:
        started = time.monotonic()
        self.hub.kubectl(
            "apply", "--server-side", "-f", "-", stdin=documents(spaces(self.scenario.spaces))
        )
        wait_until(lambda: self._count("dataspaces", "Ready") >= self.scenario.spaces, 3600, 2)
        # Each space serves its dataset from a Service (its gateway pods are not simulated).
        gateways = [
            {**gateway("records"), "metadata": {"name": "records-gateway", "namespace": ns}}
            for ns in map(space_namespace, self.names)
        ]
        self.hub.kubectl("apply", "--server-side", "-f", "-", stdin=documents(gateways))
        return time.monotonic() - started

    def make_contracts(self) -> float:
        started = time.monotonic()
        for index in range(self.scenario.contracts):
            provider, consumer = self.random.sample(self.names, 2)
            self.deals[f"hub-c{index:04d}"] = (provider, consumer)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(self._agree, self.deals.items()))
        wait_until(lambda: self._count(CONTRACTS, "Active") >= self.scenario.contracts, 3600, 3)
        return time.monotonic() - started

    def _agree(self, deal: tuple[str, tuple[str, str]]) -> None:
        name, (provider, consumer) = deal
        body = contract_body(
            name, provider, consumer, days=30, max_gpu_hours=1000, max_concurrent_gpus=16
        )
        retried(
            lambda: self.parties.owner(provider).create_cluster_custom_object(
                GROUP, VERSION, CONTRACTS, body
            ),
            f"propose {name}",
        )
        consent = {"spec": {"consent": {"consumer": {"approved": True}}}}
        retried(
            lambda: self.parties.owner(consumer).patch_cluster_custom_object(
                GROUP, VERSION, CONTRACTS, name, consent
            ),
            f"consent to {name}",
        )

    def _count(self, plural: str, wanted: str) -> int:
        items = self.admin.list_cluster_custom_object(GROUP, VERSION, plural)["items"]
        if plural == "dataspaces":
            return sum(
                any(
                    c.get("type") == wanted and c.get("status") == "True"
                    for c in (item.get("status") or {}).get("conditions", [])
                )
                for item in items
            )
        return sum((item.get("status") or {}).get("phase") == wanted for item in items)

    # --- training ------------------------------------------------------------------------------

    def train(self) -> float:
        """Submit the jobs at a steady rate and revoke contracts at even intervals; the seconds
        it took (more than DURATION if submitting fell behind)."""
        scenario = self.scenario
        interval = scenario.duration / scenario.jobs
        revoke_every = scenario.duration / max(1, scenario.revocations)
        started = time.monotonic()
        next_revocation = started + revoke_every / 2
        with ThreadPoolExecutor(4) as pool:
            for index in range(scenario.jobs):
                due = started + index * interval
                while time.monotonic() < due:
                    if (
                        len(self.revoked) < scenario.revocations
                        and time.monotonic() >= next_revocation
                    ):
                        pool.submit(self._revoke_one)
                        next_revocation += revoke_every
                    time.sleep(min(0.05, max(0.0, due - time.monotonic())))
                pool.submit(self._submit, index)
        return time.monotonic() - started

    def _submit(self, index: int) -> None:
        with self.lock:
            contract = self.random.choice([name for name in self.deals if name not in self.revoked])
            gpus = self.random.choice((1, 2, 4, 8))
        consumer = self.deals[contract][1]
        namespace, name = space_namespace(consumer), f"job-{index:05d}"
        body = training_job_body(
            name,
            namespace,
            contract,
            workers=1,
            gpus_per_worker=gpus,
            run_for=f"{self.scenario.run_for}s",
        )
        try:
            self.parties.owner(consumer).create_namespaced_custom_object(
                GROUP, VERSION, namespace, JOBS, body
            )
        except ApiException as error:
            reason = json.loads(error.body or "{}").get("message", str(error.status))
            with self.lock:
                self.refused[reason[:120]] += 1
            return
        with self.lock:
            self.submitted.append(Submitted(namespace, name, contract, gpus, time.monotonic()))

    def _revoke_one(self) -> None:
        """Revoke a contract with at least one running job, as its provider's owner."""
        with self.lock:
            jobs = list(self.submitted)
        running: dict[str, list[Submitted]] = {}
        for job in jobs:
            if job.contract not in self.revoked and self.watch.phase_now(job) == "Running":
                running.setdefault(job.contract, []).append(job)
        if not running:
            return
        contract = self.random.choice(sorted(running))
        with self.lock:
            self.revoked[contract] = (float("nan"), running[contract])
        provider = self.deals[contract][0]
        self.parties.owner(provider).patch_cluster_custom_object(
            GROUP, VERSION, CONTRACTS, contract, {"spec": {"revoked": True}}
        )
        with self.lock:
            self.revoked[contract] = (time.monotonic(), running[contract])

    def settle(self, timeout: float) -> None:
        """Until every submitted job ended (or `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                jobs = list(self.submitted)
            if all(self.watch.first(job, ENDED) is not None for job in jobs):
                return
            time.sleep(2)

    # --- figures -------------------------------------------------------------------------------

    def admission_latencies(self) -> list[float]:
        """Created → Admitted, for the jobs admitted without waiting in their contract's queue."""
        latencies = []
        for job in self.submitted:
            admitted = self.watch.first(job, ADMITTED_OR_LATER)
            if admitted is not None and self.watch.first(job, ("Queued",)) is None:
                latencies.append(admitted - job.created)
        return latencies

    def revocation_lags(self) -> list[float]:
        lags = []
        for revoked_at, jobs in self.revoked.values():
            for job in jobs:
                # A job that ran on and succeeded after the revocation was not stopped in time
                # either: its end counts.
                ended = self.watch.first(job, ("Stopped", "Succeeded", "Failed"))
                lags.append(float("inf") if ended is None else max(0.0, ended - revoked_at))
        return lags

    def phases(self) -> Counter[str]:
        return Counter(self.watch.phase_now(job) or "(none seen)" for job in self.submitted)


def report(scenario: Scenario, run: HubRun, f: dict[str, Any]) -> None:
    latencies, lags = run.admission_latencies(), run.revocation_lags()
    admitted = len(latencies)
    queued = sum(run.watch.first(job, ("Queued",)) is not None for job in run.submitted)
    cpu = f["operator_cpu"]
    rows = [
        (
            "hub",
            f"{scenario.spaces} spaces, {scenario.contracts} contracts, "
            f"{f['gpu_nodes']} GPU nodes x 8 GPUs, {f['cpu_nodes']} CPU nodes",
        ),
        ("hub up (nodes Ready)", f"{f['t_hub']:.0f} s"),
        ("spaces Ready / contracts Active", f"{f['t_spaces']:.0f} s / {f['t_contracts']:.0f} s"),
        (
            "jobs submitted (target) in",
            f"{len(run.submitted)} ({scenario.jobs}) in "
            f"{f['t_train']:.0f} s (DURATION {scenario.duration:.0f} s)",
        ),
        ("refused on create", f"{sum(run.refused.values())} {dict(run.refused.most_common(3))}"),
        ("final phases", dict(run.phases().most_common())),
        ("admitted at once (queued first)", f"{admitted} ({queued})"),
        (
            "admission latency p50 / p95 / p99 / max",
            " / ".join(f"{percentile(latencies, q):.2f} s" for q in (0.5, 0.95, 0.99, 1.0)),
        ),
        (
            "revocation -> Stopped p50 / p99 / max",
            " / ".join(f"{percentile(lags, q):.2f} s" for q in (0.5, 0.99, 1.0))
            + f" ({len(lags)} running jobs of {len(run.revoked)} contracts)",
        ),
        ("operator peak RSS", f"{f['rss_mib']:.0f} MiB"),
        (
            "operator CPU while training; per admitted job",
            f"{cpu:.0f} s; {cpu / max(1, admitted):.3f} s",
        ),
        (
            "hub CPU while training",
            ", ".join(f"{name} {seconds:.0f} s" for name, seconds in f["components_cpu"].items()),
        ),
    ]
    print("\n# bench-hub")
    for label, value in rows:
        print(f"{label:<44} {value}")
    kept = {**f, "latencies": sorted(latencies), "lags": sorted(lags)}
    (f["work"] / "figures.json").write_text(json.dumps(kept, default=str))
    print(f"figures: {f['work'] / 'figures.json'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", type=int, default=100)
    parser.add_argument("--contracts", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--duration", type=float, default=1800)
    parser.add_argument("--run-for", type=int, default=20)
    parser.add_argument("--revocations", type=int, default=50)
    parser.add_argument("--gpu-nodes", type=int, default=200)
    parser.add_argument("--cpu-nodes", type=int, default=400)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--hub-dir", type=Path, default=REPO / ".hub-bench")
    parser.add_argument(
        "--profile", type=Path, help="record the operator while training with py-spy into this file"
    )
    parser.add_argument("--keep-hub", action="store_true", help="leave the hub running")
    args = parser.parse_args()
    scenario = Scenario(
        args.spaces,
        args.contracts,
        args.jobs,
        args.duration,
        args.run_for,
        args.revocations,
        args.seed,
    )
    os.environ |= {"HUB_GPU_NODES": str(args.gpu_nodes), "HUB_CPU_NODES": str(args.cpu_nodes)}
    hub = BenchHub(args.hub_dir)
    work = args.hub_dir.with_name(args.hub_dir.name + "-work")
    work.mkdir(exist_ok=True)
    figures: dict[str, Any] = {
        "work": work,
        "gpu_nodes": args.gpu_nodes,
        "cpu_nodes": args.cpu_nodes,
    }
    started = time.monotonic()
    hub.up()
    figures["t_hub"] = time.monotonic() - started
    operator = hub.operator(work / "operator.log")
    try:
        prepare(hub, OperatorConfig.from_environment({}).namespace)
        operator.start()
        assert operator.process is not None
        run = HubRun(hub, scenario)
        figures["t_spaces"] = run.make_spaces()
        print(f"{scenario.spaces} spaces Ready in {figures['t_spaces']:.0f} s", flush=True)
        figures["t_contracts"] = run.make_contracts()
        print(
            f"{scenario.contracts} contracts Active in {figures['t_contracts']:.0f} s", flush=True
        )
        run.watch.start()
        recording = profiler(operator.process.pid, args.profile)
        cpu_before = cpu_seconds(operator.process.pid)
        hub_before = component_cpu(args.hub_dir)
        figures["t_train"] = run.train()
        run.settle(timeout=scenario.run_for + 120)
        if recording is not None:
            recording.send_signal(signal.SIGINT)
            recording.wait()
        run.watch.stopping.set()
        figures["operator_cpu"] = cpu_seconds(operator.process.pid) - cpu_before
        figures["components_cpu"] = {
            name: used - hub_before[name] for name, used in component_cpu(args.hub_dir).items()
        }
        figures["rss_mib"] = peak_rss_mib(operator.process.pid)
        report(scenario, run, figures)
    finally:
        operator.stop()
        if not args.keep_hub:
            hub.down()


if __name__ == "__main__":
    main()
