"""How soon a revocation stops a running TrainingJob: `make bench-stop`.

On the hub at HUB_DIR (started if it is not serving; with Kueue unless HUB_KUEUE=0), the
operator as a local process, queueing in Kueue (TDS_KUEUE=on) and then in its own queue
(TDS_KUEUE=off) on a hub that runs Kueue, in its own queue only on one that does not: in each
mode `ROUNDS` rounds of two cases, each round on a contract of its own between two new spaces of
16 GPUs:

  - alone: one job of 2 x 8 GPUs runs, and its contract is revoked;
  - queued: one job of 2 x 8 GPUs runs and two more wait Queued behind it (the contract's
    `maxConcurrentGpus` is 16), and the contract is revoked.

Each revocation is a patch by the provider's owner through a client of its own; the clock starts
when the API server answered it and stops when the running job is seen `Stopped` (and, apart,
when its batch Job is gone; polled every 20 ms). It prints p50, p95 and the worst of each mode
and case against the promise of one second, and the machine's load. A benchmark, never a test:
the figures are those of one run on a machine that may be shared.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from kubernetes import config

from bench.hub_scenario import percentile
from bench.hubkit.hub import REPO_ROOT as REPO
from bench.hubkit.hub import Hub, hub_kubeconfig, kubectl
from bench.hubkit.kueue import queued, submit
from bench.hubkit.processes import OperatorProcess
from bench.hubkit.training import Story

PROMISE_SECONDS = 1.0
CASES = ("alone", "queued")


def hub_serving(kueue: bool) -> None:
    """Start the hub at HUB_DIR unless it serves (idempotent)."""
    env = {**os.environ, "HUB_KUEUE": "1" if kueue else "0"}
    subprocess.run([str(REPO / "hack/hub/up.sh")], env=env, check=True)


def hub_runs_kueue() -> bool:
    return "workloads.kueue.x-k8s.io" in kubectl("get", "crd", "-o", "name")


@contextlib.contextmanager
def operator_running(kueue: bool, log: Path) -> Iterator[OperatorProcess]:
    crds = str(REPO / "crds")
    kubectl(
        "apply", "--server-side", "--field-manager=tds-operator", "--force-conflicts", "-f", crds
    )
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", crds)
    process = OperatorProcess(
        hub_kubeconfig(), log, {"TDS_KUEUE": "on" if kueue else "off"}, verbose=False
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def one_round(story: Story, case: str) -> tuple[float, float]:
    """Seconds from the revocation answered to the running job Stopped, and to its batch Job
    gone."""
    deal = story.deal(compute={"maxGpuHours": 10, "maxConcurrentGpus": 16})
    first, *waiting = submit(story, deal, 3 if case == "queued" else 1, run_for="300s")
    story.wait_job(deal.namespace, first, "Running", timeout=60)
    for name in waiting:
        queued(story, deal, name)
    time.sleep(2.5)  # a metering pass or so in, as a revocation would find a running job
    return story.revoke_timed(deal, first)


def report(results: dict[tuple[str, str], list[tuple[float, float]]], load: list[float]) -> None:
    print(f"\nrevocation -> running job Stopped (promise: {PROMISE_SECONDS:.0f} s)")
    print(
        f"{'queue':<6} {'case':<7} {'rounds':>6} {'p50':>7} {'p95':>7} {'worst':>7} {'over':>5}"
        "  batch Job gone p50/worst"
    )
    for (mode, case), rounds in results.items():
        stopped = [stop for stop, _ in rounds]
        gone = [gone for _, gone in rounds]
        over = sum(1 for stop in stopped if stop > PROMISE_SECONDS)
        print(
            f"{mode:<6} {case:<7} {len(rounds):>6} {percentile(stopped, 0.5):>6.2f}s "
            f"{percentile(stopped, 0.95):>6.2f}s {max(stopped):>6.2f}s {over:>5}  "
            f"{percentile(gone, 0.5):.2f}s / {max(gone):.2f}s"
        )
    print(f"load average (1 min) during the run: {min(load):.1f} to {max(load):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    # A SIGTERM (a timeout, a CI runner) ends the run as an interrupt does: the operator it
    # started is stopped and the rounds' objects deleted on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    hub_serving(kueue=os.environ.get("HUB_KUEUE", "1") != "0")
    modes = ("kueue", "own") if hub_runs_kueue() else ("own",)
    print(f"hub: {hub_kubeconfig()}, queues: {', '.join(modes)}", flush=True)
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    load: list[float] = []
    api = config.new_client_from_config(config_file=hub_kubeconfig())
    with tempfile.TemporaryDirectory(prefix="tds-bench-stop-") as work:
        for mode in modes:
            with operator_running(mode == "kueue", Path(work) / f"operator-{mode}.log"):
                for index in range(args.rounds):
                    for case in CASES:
                        hub = Hub(api)
                        try:
                            results.setdefault((mode, case), []).append(one_round(Story(hub), case))
                            load.append(os.getloadavg()[0])
                        finally:
                            hub.cleanup()
                    print(f"{mode}: round {index + 1} of {args.rounds} done", flush=True)
    report(results, load)


if __name__ == "__main__":
    main()
