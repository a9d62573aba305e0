"""The churn: contracts and jobs driven to their fates while the leader replica is SIGKILLed
again and again and the API server and etcd restart; then the wait for the hub to settle."""

from __future__ import annotations

import threading
import time

from bench.chaos.churn import Churn, Ledger, poll
from bench.chaos.faults import ControlPlane, Killer, Prober, Supervisor
from bench.chaos.judge import FINAL_PHASES
from bench.chaos.observe import Observer
from bench.chaos.prepare import Campaign, Knobs, say
from bench.hubkit.hub import clean_room, owner_of
from bench.hubkit.manifests import training_job_body


class Restarter(threading.Thread):
    """Restarts the API server and etcd at evenly spread moments of the churn."""

    def __init__(self, control: ControlPlane, knobs: Knobs) -> None:
        super().__init__(daemon=True)
        self.control = control
        order = ["kube-apiserver"] * knobs.api_restarts
        order[1:1] = ["etcd"] * knobs.etcd_restarts
        self.order, self.duration = order, knobs.duration
        self.downtimes: list[tuple[str, float]] = []
        self.outages: list[tuple[float, float]] = []
        """When the API server did not answer (wall clock, from the kill to its answer)."""
        self.errors: list[str] = []

    def run(self) -> None:
        start = time.monotonic()
        for index, component in enumerate(self.order):
            moment = start + self.duration * (index + 1) / (len(self.order) + 1)
            time.sleep(max(0.0, moment - time.monotonic()))
            try:
                killed = time.time()
                self.downtimes.append((component, self.control.restart(component)))
                self.outages.append((killed, killed + self.downtimes[-1][1]))
                say(f"restarted {component}: API answering {self.downtimes[-1][1]:.1f}s later")
            except Exception as error:  # reported
                self.errors.append(f"{component}: {error}")


def run(campaign: Campaign) -> tuple[Observer, Prober, Killer, Restarter]:
    """Churn for the duration while the leader is killed and the control plane restarts."""
    knobs, churns = campaign.knobs, campaign.churns
    probe_contract, probe_consumer = churns[0].contract("Active")
    probe = training_job_body("probe", f"tds-{probe_consumer}", probe_contract, gpus_per_worker=1)
    prober = Prober(owner_of(probe_consumer).api(), probe)
    observer = Observer(campaign.api)
    observer.start()
    prober.start()
    killer = Killer(campaign.replicas, knobs.kills, knobs.duration, knobs.seed)
    restarter = Restarter(campaign.control, knobs)
    supervisor = Supervisor(campaign.control)
    supervisor.start()
    say(f"{knobs.spaces} spaces; churn, {knobs.kills} kills, restarts for {knobs.duration:.0f}s")
    killer.start()
    restarter.start()
    deadline = time.monotonic() + knobs.duration
    threads = [
        threading.Thread(target=churn.loop, args=(n, deadline), daemon=True)
        for n, churn in enumerate(churns)
    ]
    for thread in threads:
        thread.start()
    for thread in [killer, restarter, *threads]:
        thread.join()
    prober.done.set()
    supervisor.done.set()
    return observer, prober, killer, restarter


def settle(churn: Churn, ledger: Ledger, timeout: float) -> float:
    """Seconds until every job is final or gone and every ended contract's clean room is gone."""
    started = time.monotonic()

    def settled() -> bool:
        if any(churn.phase(job) not in (*FINAL_PHASES, "gone") for job in ledger.jobs):
            return False
        ended = [n for n, p in ledger.planned.items() if p in ("Revoked", "Expired", "Exhausted")]
        return not any(churn.story.hub.has_namespace(clean_room(n)) for n in ended)

    try:
        poll(settled, "the system to settle", timeout)
    except RuntimeError as error:
        say(str(error))
    return time.monotonic() - started
