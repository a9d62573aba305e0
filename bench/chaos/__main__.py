"""`python -m bench.chaos` (`make chaos`): prepare the hub, run the churn under faults, judge.
Exits 1 if an invariant fails, 2 if a knob or bound is unusable. The knobs and bounds are
described in bench/chaos/README.md."""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

from bench.chaos.bounds import BoundError
from bench.chaos.prepare import KnobError, Knobs, prepare, say
from bench.chaos.run import run, settle
from bench.chaos.verdict import report, verdict
from bench.hubkit.hub import REPO_ROOT


def main() -> int:
    """The whole campaign; its exit status."""
    try:
        knobs = Knobs.from_environment(os.environ)
    except (KnobError, BoundError) as error:
        print(f"make chaos: {error}", file=sys.stderr)
        return 2
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
        checks = verdict(campaign, observer, prober, restarter)
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
