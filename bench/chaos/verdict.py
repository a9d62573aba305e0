"""The verdict: the facts read from the settled hub, judged by every invariant, and reported."""

from __future__ import annotations

from bench.chaos.facts import (
    contracts_facts,
    dump,
    existing_jobs,
    job_facts,
    owned_objects,
    space_facts,
)
from bench.chaos.faults import Prober
from bench.chaos.judge import (
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
from bench.chaos.observe import Observer
from bench.chaos.prepare import Campaign, say
from bench.chaos.run import Restarter


def verdict(
    campaign: Campaign, observer: Observer, prober: Prober, restarter: Restarter
) -> list[Check]:
    """Every invariant on the facts read from the settled hub."""
    hub, ledger, bounds = campaign.story.hub, campaign.ledger, campaign.knobs.bounds
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
        jobs, contracts, bounds.lag, gaps + restarter.outages
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
        check_takeovers(gaps, bounds.takeover, restarter.outages),
        check_space_children(spaces),
        refused,
    ]


def report(checks: list[Check]) -> bool:
    """Print each invariant with its figures and first violations; whether all hold."""
    for check in checks:
        say(f"{'HOLDS' if check.holds else 'FAILS'}  {check.name}: {check.figures}")
        for violation in check.violations[:20]:
            say(f"        {violation}")
    return all(check.holds for check in checks)
