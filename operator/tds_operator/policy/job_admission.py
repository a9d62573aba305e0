"""The admission decision of a TrainingJob, in one place: the webhook's immediate answer, the
operator's own queue and Kueue's contract check all ask it the same question.
"""

from __future__ import annotations

from tds_operator.api.resources import LiveObject
from tds_operator.policy.decision import Decision
from tds_operator.policy.enforcement import contract_lets_jobs_run, stop_reason
from tds_operator.policy.outputs import output_size_allowed
from tds_operator.policy.rules import HubRules
from tds_operator.policy.training import AdmissionInput, admit_training_job, contract_is_ours


def decide_admission(
    case: AdmissionInput, contract: LiveObject | None, rules: HubRules, *, waiting: bool
) -> Decision:
    """The contract's answer to a job: its terms, then the size of its output against the hub's
    rules. `waiting`: the job already waited for its turn (in a queue, or for Kueue's GPUs), so
    a contract that no longer lets jobs run refuses it with the contract's own reason (revoked,
    expired, exhausted or gone) rather than the term a new job would break; but a contract the
    job's namespace is no party to (one of the same name made after the job's was deleted) is
    told of no more than a new job learns of it."""
    if waiting and not contract_lets_jobs_run(contract):
        ours = contract_is_ours(case)
        if case.contract is not None and not ours.allowed:
            return ours
        return stop_reason(contract)
    decision = admit_training_job(case)
    if decision.allowed and case.job.output is not None:
        decision = output_size_allowed(case.job.output.size, rules)
    return decision
