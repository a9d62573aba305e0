"""The chaos campaign (`make chaos`): churn on the local hub while the leader replica is SIGKILLed
again and again and the API server and etcd restart; then the invariants, each with its numbers.
Exits 1 if one fails. Knobs (environment): KILLS, DURATION (seconds of churn), CHURN (parallel
scenario threads), SPACES, API_RESTARTS, ETCD_RESTARTS, LAG_BOUND, SETTLE, SEED, HUB_DIR."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.chaos_churn import Churn, Ledger, poll
from bench.chaos_cluster import ControlPlane, Killer, Prober, Replicas, Supervisor
from bench.chaos_facts import (
    contracts_facts,
    dump,
    existing_jobs,
    job_facts,
    owned_objects,
    space_facts,
)
from bench.chaos_invariants import (
    FINAL_PHASES,
    Check,
    check_budgets,
    check_clean_rooms_closed,
    check_contract_phases,
    check_ledgers,
    check_metering,
    check_nothing_runs_after_end,
    check_owners,
    check_phases,
    check_space_children,
    check_takeovers,
)
from bench.chaos_observe import Observer
from kubernetes import client, config
from tests.integration.hub import REPO_ROOT, Hub, clean_room, owner_of
from tests.integration.training import Story
from tests.manifests import training_job_body


@dataclass(frozen=True)
class Knobs:
    kills: int = int(os.environ.get("KILLS", "50"))
    duration: float = float(os.environ.get("DURATION", "600"))
    churn: int = int(os.environ.get("CHURN", "3"))
    spaces: int = int(os.environ.get("SPACES", "6"))
    api_restarts: int = int(os.environ.get("API_RESTARTS", "2"))
    etcd_restarts: int = int(os.environ.get("ETCD_RESTARTS", "1"))
    lag_bound: float = float(os.environ.get("LAG_BOUND", "10"))
    takeover_bound: float = float(os.environ.get("TAKEOVER_BOUND", "8"))
    settle: float = float(os.environ.get("SETTLE", "180"))
    seed: int = int(os.environ.get("SEED", str(int(time.time()))))


def say(text: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {text}", flush=True)


def hub_up(hub_dir: Path) -> str:
    """The hub serving (started if it is not), with 64 GPUs and the project's CRDs."""
    env = {**os.environ, "HUB_DIR": str(hub_dir), "HUB_GPU_NODES": os.environ.get("GPU_NODES", "8")}
    subprocess.run([str(REPO_ROOT / "hack/hub/up.sh")], env=env, check=True)
    kubeconfig = str(hub_dir / "kubeconfig")
    os.environ["KUBECONFIG"] = kubeconfig
    kubectl = [str(REPO_ROOT / "hack/hub/kubectl.sh"), "--kubeconfig", kubeconfig]
    crds = str(REPO_ROOT / "crds")
    subprocess.run(
        [
            *kubectl,
            "apply",
            "--server-side",
            "--field-manager=tds-operator",
            "--force-conflicts",
            "-f",
            crds,
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*kubectl, "wait", "--for=condition=Established", "-f", crds],
        check=True,
        capture_output=True,
    )
    return kubeconfig


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


def report(checks: list[Check]) -> bool:
    for check in checks:
        say(f"{'HOLDS' if check.holds else 'FAILS'}  {check.name}: {check.figures}")
        for violation in check.violations[:20]:
            say(f"        {violation}")
    return all(check.holds for check in checks)


@dataclass
class Campaign:
    """The hub, its replicas and the churn's threads."""

    knobs: Knobs
    control: ControlPlane
    out: Path
    api: client.ApiClient
    replicas: Replicas
    story: Story
    ledger: Ledger
    churns: list[Churn]


def prepare(knobs: Knobs, hub_dir: Path, out: Path) -> Campaign:
    """The hub up, two replicas (the first leading), the spaces."""
    kubeconfig = hub_up(hub_dir)
    api = config.new_client_from_config(config_file=kubeconfig)
    replicas = Replicas(kubeconfig, out, api)
    replicas.start_one()
    replicas.live_leader()
    replicas.start_one()
    story = Story(Hub(api))
    ledger = Ledger(spaces=[story.space() for _ in range(knobs.spaces)])
    churns = [Churn(story, ledger, knobs.seed + n) for n in range(knobs.churn)]
    control = ControlPlane(hub_dir, api)
    return Campaign(knobs, control, out, api, replicas, story, ledger, churns)


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


def judge(
    campaign: Campaign, observer: Observer, prober: Prober, restarter: Restarter
) -> list[Check]:
    """Every invariant on the facts read from the settled hub."""
    hub, ledger = campaign.story.hub, campaign.ledger
    jobs = [job_facts(hub, record, observer) for record in ledger.jobs]
    contracts = contracts_facts(hub, ledger)
    owned, owners = owned_objects(hub, sorted(ledger.planned))
    owners |= existing_jobs(hub, ledger.jobs)
    spaces = space_facts(hub, campaign.api, ledger.spaces)
    dump(str(campaign.out / "facts.json"), jobs=jobs, contracts=contracts, owned=owned)
    replicas = campaign.replicas
    # A lag splits into the time nobody led (a SIGKILL to the standby's takeover) or the API
    # server was down, and the time a leader had: its queues and its work.
    gaps = [
        (kill, kill + took) for kill, took in zip(replicas.kills, replicas.takeovers, strict=False)
    ]
    lag_check, _worst = check_nothing_runs_after_end(
        jobs, contracts, campaign.knobs.lag_bound, gaps + restarter.outages
    )
    refused = Check(
        "writes refused while no replica served the webhook",
        f"{len(prober.refused)} refused of {prober.sent} probes (every 0.1 s); "
        f"{len(prober.cut)} cut in flight by the SIGKILL of the replica answering them; "
        f"{prober.api_down} sent while the API server itself was down",
        prober.refused[:20],
    )
    return [
        check_contract_phases(ledger.planned, contracts),
        check_phases(jobs, contracts),
        lag_check,
        check_owners(owned, owners),
        check_clean_rooms_closed(contracts, jobs),
        check_ledgers(contracts, jobs),
        check_metering(jobs, contracts),
        check_budgets(contracts, jobs, restarter.outages),
        check_takeovers(gaps, campaign.knobs.takeover_bound, restarter.outages),
        check_space_children(spaces),
        refused,
    ]


def main() -> int:
    knobs = Knobs()
    hub_dir = Path(os.environ.get("HUB_DIR", REPO_ROOT / ".hub")).resolve()
    out = Path(os.environ.get("CHAOS_DIR", f"/tmp/tds-chaos-{int(time.time())}"))
    out.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    say(f"knobs {knobs}; logs in {out}; machine {os.cpu_count()} cores, {platform.platform()}")
    campaign = prepare(knobs, hub_dir, out)
    try:
        observer, prober, killer, restarter = run(campaign)
        ledger = campaign.ledger
        say(f"churn over: {len(ledger.jobs)} jobs, {len(ledger.planned)} contracts; settling")
        settled = settle(campaign.churns[0], ledger, knobs.settle)
        observer.stop()
        checks = judge(campaign, observer, prober, restarter)
        takeovers = campaign.replicas.takeovers or [0.0]
        say(
            f"{len(campaign.replicas.kills)} SIGKILLs of the leader (takeover worst "
            f"{max(takeovers):.1f}s, mean {sum(takeovers) / len(takeovers):.1f}s); restarts "
            + ", ".join(f"{c} {s:.1f}s" for c, s in restarter.downtimes)
            + f"; revived after dying {campaign.control.revived}; settled in {settled:.0f}s; "
            f"{len(ledger.jobs)} jobs, {len(ledger.refused_jobs)} refused by policy"
        )
        for error in killer.errors + restarter.errors + ledger.errors:
            say(f"note: {error}")
        holds = report(checks)
    finally:
        campaign.replicas.stop_all()
    say(f"campaign {'passed' if holds else 'FAILED'} in {time.monotonic() - began:.0f}s")
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
