"""The churn of the chaos campaign: contracts proposed and consented between a pool of spaces,
each with a fate (run to the end, revoked mid-run, expired, out of budget, jobs deleted while
running), and the TrainingJobs run under them. Every step retries through restarts of the API
server; a step that still fails is recorded and the scenario moves on."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from bench.hubkit.hub import KubectlError, owner_of, unique
from bench.hubkit.manifests import Body, training_job_body
from bench.hubkit.training import Story

T = TypeVar("T")
# 180 GPU-seconds: three 2-GPU jobs use them up in 30 s.
BUDGET_GPU_HOURS = 0.05
# Seconds a scenario waits for the operator to report a contract's phase: with a new leader every
# ~12 s, each one resyncing every object first, a new contract may wait minutes.
PHASE_WAIT = 180


@dataclass
class JobRecord:
    namespace: str
    name: str
    uid: str
    contract: str
    gpus: int
    run_for: float
    deleted: bool = False


@dataclass
class Ledger:
    """What the churn made and did, shared by its threads."""

    spaces: list[str]
    jobs: list[JobRecord] = field(default_factory=list)
    planned: dict[str, str] = field(default_factory=dict)
    revoked_at: dict[str, float] = field(default_factory=dict)
    refused_jobs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def retry(step: Callable[[], T], what: str, timeout: float = 90) -> T:
    """`step` once it works: API server restarts and webhook hiccups are waited out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return step()
        except Exception as error:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: {error}") from error
            time.sleep(0.5)


def poll(probe: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except Exception:  # the API server restarting
            pass
        time.sleep(0.3)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


class Churn:
    def __init__(self, story: Story, ledger: Ledger, seed: int) -> None:
        self.story, self.ledger = story, ledger
        self.random = random.Random(seed)

    # --- contracts -------------------------------------------------------------------------------

    def contract(self, planned: str, *, consent: bool = True, **terms: Any) -> tuple[str, str]:
        """A contract between two spaces of the pool, proposed by the provider and (once the
        operator saw it) consented to by the consumer; (name, consumer)."""
        provider, consumer = self.random.sample(self.ledger.spaces, 2)
        name = unique("c")
        body_terms = {"name": name, **terms}
        retry(
            lambda: self._propose(provider, consumer, body_terms),
            f"propose {name}",
        )
        # Until the churn has done what makes it so (consent, a revocation, jobs on a budget):
        self.plan(name, "Proposed" if planned != "Expired" else planned)
        if consent:
            poll(lambda: self._phase(name) == "Proposed", f"{name} Proposed", PHASE_WAIT)
            retry(
                lambda: self.story.contracts.consent(owner_of(consumer), name, "consumer"),
                f"consent {name}",
            )
            poll(lambda: self._phase(name) == "Active", f"{name} Active", PHASE_WAIT)
            if planned in ("Active", "Revoked", "Exhausted"):
                self.plan(name, "Active")
        return name, consumer

    def plan(self, name: str, phase: str) -> None:
        """The phase the contract must end in, given what the churn did to it so far."""
        with self.ledger.lock:
            self.ledger.planned[name] = phase

    def _propose(self, provider: str, consumer: str, terms: dict[str, Any]) -> None:
        if self.story.hub.get("datacontracts", terms["name"]) is None:
            self.story.propose(provider, consumer, consent=False, **terms)

    def _phase(self, name: str) -> str | None:
        body = self.story.hub.get("datacontracts", name) or {}
        phase: str | None = (body.get("status") or {}).get("phase")
        return phase

    def revoke(self, name: str) -> None:
        body = self.story.contract(name)
        provider = body["spec"]["provider"]["space"]
        retry(lambda: self.story.contracts.revoke(owner_of(provider), name), f"revoke {name}")
        with self.ledger.lock:
            self.ledger.revoked_at[name] = time.time()
            self.ledger.planned[name] = "Revoked"

    # --- jobs ------------------------------------------------------------------------------------

    def submit(self, contract: str, consumer: str, run_for: int, gpus: int) -> JobRecord | None:
        """A job of one worker with `gpus` GPUs running `run_for` seconds; None if refused."""
        namespace = f"tds-{consumer}"
        name = unique("j")
        body = training_job_body(
            name, namespace, contract, gpus_per_worker=gpus, run_for=f"{run_for}s"
        )
        try:
            retry(lambda: self._create(body), f"submit {name}", timeout=60)
        except RuntimeError as error:
            with self.ledger.lock:
                self.ledger.refused_jobs.append(str(error)[:300])
            return None
        uid = retry(lambda: self.story.job(namespace, name)["metadata"]["uid"], f"read {name}")  # type: ignore[index]
        record = JobRecord(namespace, name, str(uid), contract, gpus, float(run_for))
        with self.ledger.lock:
            self.ledger.jobs.append(record)
        return record

    def _create(self, body: Body) -> None:
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        if self.story.job(namespace, name) is not None:
            return
        try:
            owner_of(namespace.removeprefix("tds-")).create(body)
        except KubectlError as error:
            if "denied the request" in str(error) and "failed calling webhook" not in str(error):
                raise RuntimeError(f"refused: {error}") from None
            raise

    def phase(self, job: JobRecord) -> str | None:
        body = self.story.job(job.namespace, job.name)
        if body is None:
            return "gone"
        phase: str | None = (body.get("status") or {}).get("phase")
        return phase

    def wait_phase(self, job: JobRecord, phases: set[str], timeout: float) -> None:
        poll(lambda: self.phase(job) in phases, f"{job.name} {'/'.join(phases)}", timeout)

    def delete(self, job: JobRecord) -> None:
        retry(lambda: self.story.delete_job(job.namespace, job.name), f"delete {job.name}")
        job.deleted = True

    # --- the scenarios ---------------------------------------------------------------------------

    def finished(self, jobs: list[JobRecord], timeout: float) -> None:
        for job in jobs:
            if not job.deleted:
                self.wait_phase(job, {"Succeeded", "Failed", "Stopped", "Denied"}, timeout)

    def run_to_the_end(self) -> None:
        """Short jobs run to completion (one deleted while it runs), then the contract ends."""
        name, consumer = self.contract("Revoked")
        jobs = [
            j
            for _ in range(4)
            if (j := self.submit(name, consumer, self.random.randint(5, 30), 1 + _ % 2))
        ]
        if jobs:
            self.wait_phase(jobs[0], {"Running"}, 60)
            self.delete(jobs[0])
        self.finished(jobs, 120)
        self.revoke(name)

    def revoked_mid_run(self) -> None:
        name, consumer = self.contract("Revoked")
        jobs = [j for _ in range(3) if (j := self.submit(name, consumer, 120, 2))]
        for job in jobs:
            self.wait_phase(job, {"Running"}, 60)
        time.sleep(self.random.uniform(2, 15))
        self.revoke(name)
        self.finished(jobs, 60)

    def expired(self) -> None:
        not_after = (datetime.now(UTC) + timedelta(seconds=self.random.randint(50, 80))).replace(
            microsecond=0
        )
        name, consumer = self.contract("Expired", not_after=not_after)
        jobs = [j for s in (150, 150, 8) if (j := self.submit(name, consumer, s, 1))]
        self.finished(jobs, 180)

    def out_of_budget(self) -> None:
        name, consumer = self.contract("Exhausted", max_gpu_hours=BUDGET_GPU_HOURS)
        jobs = [j for _ in range(3) if (j := self.submit(name, consumer, 300, 2))]
        if jobs:
            self.plan(name, "Exhausted")
        self.finished(jobs, 120)

    def deleted_while_running(self) -> None:
        name, consumer = self.contract("Revoked")
        jobs = [j for _ in range(3) if (j := self.submit(name, consumer, 60, 1))]
        for job in jobs[:2]:
            self.wait_phase(job, {"Running"}, 60)
            time.sleep(self.random.uniform(1, 8))
            self.delete(job)
        self.finished(jobs, 90)
        self.revoke(name)

    def proposed_only(self) -> None:
        self.contract("Proposed", consent=False)

    SCENARIOS = (
        "run_to_the_end",
        "revoked_mid_run",
        "expired",
        "out_of_budget",
        "deleted_while_running",
        "proposed_only",
    )

    def loop(self, first: int, deadline: float) -> None:
        """Scenarios one after another, starting with the `first`, until the deadline."""
        index = first
        while time.monotonic() < deadline:
            scenario = self.SCENARIOS[index % len(self.SCENARIOS)]
            index += 1
            try:
                getattr(self, scenario)()
            except Exception as error:  # recorded; the invariants judge the rest
                with self.ledger.lock:
                    self.ledger.errors.append(f"{scenario}: {error}"[:300])
