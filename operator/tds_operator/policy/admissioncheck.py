"""The contract as a Kueue AdmissionCheck: the operator's admission decision for a clean-room
workload, in the states Kueue acts on, and why a workload Kueue holds back still waits.

- Ready: the contract admits the job now (Active, within maxConcurrentGpus with its other admitted
  jobs, within maxJobs, budget left).
- Retry: it merely does not fit yet (ContractConcurrency): Kueue releases the quota it reserved,
  so others may use the GPUs, and asks again later.
- Rejected: the contract can never admit it (any other refusal): Kueue deactivates the workload.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from tds_operator.api.jobcontracts import contracts_of
from tds_operator.api.trainingjob import (
    CONTRACT_CONCURRENCY,
    FINISHED_PHASES,
    HUB_CAPACITY,
    ORGANISATION_QUOTA,
)
from tds_operator.policy.decision import Decision
from tds_operator.policy.training import must_wait

CheckState = Literal["Ready", "Retry", "Rejected"]


def contract_check_state(decision: Decision) -> CheckState:
    """What Kueue should do with the workload, from the contract's decision on its job."""
    if decision.allowed:
        return "Ready"
    return "Retry" if must_wait(decision) else "Rejected"


def check_of(workload: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    """The workload's state of the admission check `name`, if Kueue lists it."""
    checks = (workload.get("status") or {}).get("admissionChecks") or []
    return next((check for check in checks if check.get("name") == name), None)


def workload_condition(workload: Mapping[str, Any], type: str) -> Mapping[str, Any] | None:
    conditions = (workload.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == type), None)


def holds(workload: Mapping[str, Any], type: str) -> bool:
    """Whether the workload's condition `type` (QuotaReserved, Admitted, Finished...) is True."""
    condition = workload_condition(workload, type)
    return condition is not None and condition.get("status") == "True"


def _gpus(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def organisation_gpus(cluster_queue: Mapping[str, Any] | None, resource: str) -> tuple[int, int]:
    """The organisation's guaranteed GPUs (nominal quota) and those its workloads hold now."""
    if cluster_queue is None:
        return 0, 0
    nominal = 0
    for group in (cluster_queue.get("spec") or {}).get("resourceGroups") or []:
        for flavor in group.get("flavors") or []:
            for quota in flavor.get("resources") or []:
                if quota.get("name") == resource:
                    nominal += _gpus(quota.get("nominalQuota", 0))
    held = 0
    for flavor in (cluster_queue.get("status") or {}).get("flavorsReservation") or []:
        for usage in flavor.get("resources") or []:
            if usage.get("name") == resource:
                held += _gpus(usage.get("total", 0))
    return nominal, held


def waiting_reason(
    workload: Mapping[str, Any] | None,
    check: str,
    wanted: int,
    organisation: tuple[int, int],
) -> Decision:
    """Why a queued job waits, from its Workload: its contract (the check answered Retry, or is
    still deciding), its organisation's quota (guaranteed GPUs `organisation` = (nominal, held)
    taken, none idle to borrow), or the hub's capacity (quota left, but the pool's GPUs are lent
    to others); Kueue's own words in the message."""
    if workload is None:
        return Decision.deny(HUB_CAPACITY, "waiting for Kueue to queue its workload")
    state = check_of(workload, check) or {}
    if state.get("state") == "Retry" or holds(workload, "QuotaReserved"):
        said = state.get("message") or "the contract check decides"
        return Decision.deny(CONTRACT_CONCURRENCY, f"GPUs reserved; the contract check: {said}")
    kueue_says = (workload_condition(workload, "QuotaReserved") or {}).get("message") or (
        "waiting for quota"
    )
    nominal, held = organisation
    if held + wanted > nominal:
        return Decision.deny(
            ORGANISATION_QUOTA,
            f"its {wanted} GPUs, with the {held} its organisation's jobs hold, exceed the "
            f"organisation's guaranteed {nominal}, and no idle GPUs of the pool are left to "
            f"borrow (Kueue: {kueue_says})",
        )
    return Decision.deny(
        HUB_CAPACITY,
        f"its organisation has {nominal - held} of its {nominal} guaranteed GPUs free, but the "
        f"hub's GPUs are in use (Kueue: {kueue_says})",
    )


def queue_position(pending: Mapping[str, Any], workload: str) -> int | None:
    """A Workload's place among its LocalQueue's pending workloads, 1 being the next Kueue admits,
    from the visibility API's PendingWorkloadsSummary (whose positions count from 0); None if it
    is not among them (Kueue reserved its GPUs already, or has not queued it yet)."""
    for item in pending.get("items") or []:
        if (item.get("metadata") or {}).get("name") != workload:
            continue
        position = item.get("positionInLocalQueue")
        if isinstance(position, int) and not isinstance(position, bool) and position >= 0:
            return position + 1
        return None
    return None


def gpus_admitted(
    jobs: Iterable[Mapping[str, Any]], contract: str, admitted: set[str], *, except_uid: str
) -> int:
    """GPUs the contract's jobs hold that the ledger records admitted and that have not ended
    (other than one): what the contract check counts against maxConcurrentGpus. The ledger, not
    the jobs' phases, so that two checks answered one after the other never both take the last
    GPUs."""
    held = 0
    for job in jobs:
        spec, uid = job.get("spec") or {}, str(job["metadata"].get("uid"))
        ended = (job.get("status") or {}).get("phase") in FINISHED_PHASES
        if contract in contracts_of(spec) and uid in admitted and uid != except_uid and not ended:
            held += int(spec.get("workers", 1)) * int(spec.get("gpusPerWorker", 1))
    return held
