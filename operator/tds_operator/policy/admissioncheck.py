"""The contract as a Kueue AdmissionCheck (not wired into a reconcile yet): the operator's admission
decision for a clean-room workload, in the states Kueue acts on.

- Ready: the contract admits the job now (Active, within maxConcurrentGpus with its other admitted
  jobs, within maxJobs, budget left).
- Retry: it merely does not fit yet (ContractConcurrency): Kueue releases the quota it reserved,
  so others may use the GPUs, and asks again later.
- Rejected: the contract can never admit it (any other refusal): Kueue deactivates the workload.
"""

from __future__ import annotations

from typing import Literal

from tds_operator.policy.decision import Decision
from tds_operator.policy.training import must_wait

CheckState = Literal["Ready", "Retry", "Rejected"]


def contract_check_state(decision: Decision) -> CheckState:
    """What Kueue should do with the workload, from the contract's decision on its job."""
    if decision.allowed:
        return "Ready"
    return "Retry" if must_wait(decision) else "Rejected"
