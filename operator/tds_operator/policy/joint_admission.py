"""The admission decision of a joint TrainingJob: every contract it names must admit it, and
every provider must have consented to its data being trained together with the others'.

The webhook, the operator's own queue and Kueue's contract check ask this one question, with
one case per contract (in the order the job names them). A refusal names the contract and the
term; one about a contract the job's namespace is not party to is the answer a missing contract
gets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tds_operator.api.resources import LiveObject
from tds_operator.policy.decision import Decision
from tds_operator.policy.job_admission import decide_admission
from tds_operator.policy.rules import HubRules
from tds_operator.policy.training import AdmissionInput, must_wait


@dataclass(frozen=True)
class ContractCase:
    """One contract of the job: the case judged against it, and the contract as live."""

    case: AdmissionInput
    live: LiveObject | None


def _of(name: str, decision: Decision) -> Decision:
    """The decision, its message saying which contract gave it."""
    return Decision(decision.allowed, decision.reason, f"DataContract {name}: {decision.message}")


def distinct_providers(cases: Sequence[AdmissionInput]) -> Decision:
    """Each contract of a joint job is from a different provider."""
    seen: dict[str, str] = {}
    for case in cases:
        assert case.contract is not None
        provider = case.contract.spec.provider.space
        if provider in seen:
            return Decision.deny(
                "SameProvider",
                f"spec.contracts: DataContracts {seen[provider]} and {case.name} are both from "
                f"provider space {provider}; a joint job combines different providers' data, "
                "one contract each",
            )
        seen[provider] = case.name
    return Decision.allow("DistinctProviders", "every contract is from a different provider")


def joint_training_allowed(cases: Sequence[AdmissionInput]) -> Decision:
    """Every contract's jointTraining term allows the combination: allowed, and naming every
    other contract's provider if it names any."""
    for case in cases:
        assert case.contract is not None
        term = case.contract.spec.joint_training
        if term is None or not term.allowed:
            return Decision.deny(
                "JointTrainingNotAllowed",
                f"DataContract {case.name}: its jointTraining term does not allow its data to be "
                "trained together with other providers' data; the job must name it alone",
            )
        for other in cases:
            assert other.contract is not None
            provider = other.contract.spec.provider.space
            if other is not case and not term.allows(provider):
                return Decision.deny(
                    "JointPartnerNotAllowed",
                    f"DataContract {case.name}: its jointTraining.with does not name provider "
                    f"space {provider} (of DataContract {other.name}); the provider allows "
                    f"joint training only with {', '.join(term.with_ or [])}",
                )
    return Decision.allow("JointTrainingAllowed", "every provider allows the combination")


def datasets_in_contracts(cases: Sequence[AdmissionInput]) -> Decision:
    """Every dataset the joint job names is one of its contracts'."""
    job = cases[0].job
    covered = {
        name for case in cases if case.contract for name in case.contract.spec.provider.datasets
    }
    outside = [name for name in job.datasets or [] if name not in covered]
    if outside:
        return Decision.deny(
            "DatasetNotInContract",
            f"spec.datasets: {', '.join(outside)} not covered by any of DataContracts "
            f"{', '.join(case.name for case in cases)}",
        )
    return Decision.allow("DatasetsInContracts", "the datasets are in the job's contracts")


JOINT_POLICIES = (distinct_providers, joint_training_allowed, datasets_in_contracts)


def decide_joint_admission(
    contracts: Sequence[ContractCase],
    rules: HubRules,
    *,
    waiting: bool,
) -> Decision:
    """Every contract's answer to the job (policy/job_admission.py), then the joint terms.

    A contract's permanent refusal comes first, in the order the job names them; then the joint
    terms; then a contract whose concurrency makes the job wait (the job waits, holding
    nothing, until every contract has room). One contract: its own answer, unchanged."""
    if len(contracts) == 1:
        only = contracts[0]
        return decide_admission(only.case, only.live, rules, waiting=waiting)
    answers = [
        (item.case.name, decide_admission(item.case, item.live, rules, waiting=waiting))
        for item in contracts
    ]
    for name, answer in answers:
        if not answer.allowed and not must_wait(answer):
            return _of(name, answer)
    cases = [item.case for item in contracts]
    for policy in JOINT_POLICIES:
        decision = policy(cases)
        if not decision.allowed:
            return decision
    for name, answer in answers:
        if must_wait(answer):
            return _of(name, answer)
    names = ", ".join(name for name, _ in answers)
    job = cases[0].job
    return Decision.allow(
        "Admitted",
        f"admitted under DataContracts {names}: {job.workers} workers x "
        f"{job.gpus_per_worker} GPUs, each contract charged the job's full GPU-seconds",
    )
