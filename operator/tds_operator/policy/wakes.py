"""How often the operator looks at a running job again, and which changes of a contract its jobs
must see at once. Pure.

A running job's metering pass costs a handful of requests; a hub runs hundreds of jobs at a time.
While the contract's budget and validity are far, its usage is metered less often: the pass that
prepares the stop at the budget's second is scheduled for that second whatever the cadence (see
`enforcement.next_metering`), and every change that moves that second (a sibling starting or
ending, a worker ending, the contract revoked, suspended or expired) wakes the job at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tds_operator.policy.metering import METERING_INTERVAL_SECONDS

METERING_INTERVAL_MAX_SECONDS: Final = 10.0
"""While the budget and the contract's end are far, usage is metered at least this often."""
METERING_SHARE_OF_TIME_LEFT: Final = 0.1
"""Between two passes at most this share of the time left until the budget runs out at the GPUs
held (or the contract ends) passes: every 2 s when that is 20 s away or less."""


def metering_interval(*seconds_left: float | None) -> float:
    """Seconds between two metering passes of a running job, given the seconds left until each
    of its limits (the budget at the GPUs held now, the contract's notAfter; None: no limit comes
    nearer while it runs): a share of the nearest, from METERING_INTERVAL_SECONDS to
    METERING_INTERVAL_MAX_SECONDS."""
    known = [left for left in seconds_left if left is not None]
    if not known:
        return METERING_INTERVAL_MAX_SECONDS
    share = min(known) * METERING_SHARE_OF_TIME_LEFT
    return min(METERING_INTERVAL_MAX_SECONDS, max(METERING_INTERVAL_SECONDS, share))


def _as_jobs_see_it(contract: Mapping[str, Any]) -> tuple[object, ...]:
    """What of a contract a job's reconcile acts on: its spec (terms, validity, budget,
    revocation), its being deleted, its phase, and each condition's state (not its message: the
    ledger's condition names the count of its entries, which every append changes)."""
    metadata = contract.get("metadata") or {}
    status = contract.get("status") or {}
    conditions = tuple(
        (c.get("type"), c.get("status"), c.get("reason"), c.get("observedGeneration"))
        for c in status.get("conditions") or []
    )
    return (
        metadata.get("uid"),
        metadata.get("deletionTimestamp"),
        contract.get("spec"),
        status.get("phase"),
        conditions,
    )


def contract_change_reaches_jobs(
    previous: Mapping[str, Any] | None, current: Mapping[str, Any]
) -> bool:
    """Whether a contract's change from `previous` (None: not seen before) to `current` may
    change what its jobs do. A status write of the contract's own reconcile that only moved its
    usage, its audit head or a condition's message (after each metering pass of its jobs) does
    not: waking every job of the contract for it would start their metering passes again, each
    of which would move the contract's usage once more."""
    return previous is None or _as_jobs_see_it(previous) != _as_jobs_see_it(current)
