"""A joint job's reconcile: it stops at the first of its contracts that no longer lets it run,
naming that contract, and a metering pass acts on the most urgent of its contracts' answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.hubkit.manifests import contract_body, training_job_body
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.policy.decision import Decision
from tds_operator.policy.job_run import (
    JobInputs,
    MeterStep,
    contract_states,
    decide_run,
    joint_metering,
)

pytestmark = pytest.mark.unit

NOW = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
NAMES = ("grid-to-tel", "sky-to-tel")


def a_joint_job() -> dict[str, Any]:
    body = training_job_body("forecast", "tds-tel", NAMES[0])
    del body["spec"]["contract"]
    body["spec"]["contracts"] = list(NAMES)
    body["metadata"]["uid"] = "uid-1"
    body["status"] = {"phase": "Running"}
    return body


def a_contract(name: str, phase: str = "Active", days: int = 30) -> dict[str, Any]:
    body = contract_body(name, name.split("-")[0], "tel", not_after=NOW + timedelta(days=days))
    body["status"] = {"phase": phase}
    return body


def inputs(*contracts: dict[str, Any] | None) -> JobInputs:
    body = a_joint_job()
    every = tuple(zip(NAMES, contracts, strict=True))
    return JobInputs(
        body=body,
        job=TrainingJob.model_validate(body),
        invalid=None,
        contract=contracts[0],
        contracts=every,
    )


def test_a_joint_job_runs_while_every_contract_lets_it() -> None:
    assert decide_run(inputs(a_contract(NAMES[0]), a_contract(NAMES[1])), NOW).kind == "run"


@pytest.mark.parametrize("index", [0, 1])
def test_any_contract_not_active_stops_the_joint_job_naming_it(index: int) -> None:
    contracts = [a_contract(NAMES[0]), a_contract(NAMES[1])]
    contracts[index] = a_contract(NAMES[index], phase="Suspended")
    step = decide_run(inputs(*contracts), NOW)
    assert step.kind == "stop"
    assert step.stopped_by == NAMES[index]
    assert step.decision is not None
    assert f"DataContract {NAMES[index]}" in step.decision.message


def test_a_gone_or_expired_contract_stops_the_joint_job_naming_it() -> None:
    gone = decide_run(inputs(a_contract(NAMES[0]), None), NOW)
    assert gone.stopped_by == NAMES[1]
    assert gone.decision is not None
    assert gone.decision.message.startswith(f"DataContract {NAMES[1]}:")
    expired = decide_run(inputs(a_contract(NAMES[0], days=-1), a_contract(NAMES[1])), NOW)
    assert expired.stopped_by == NAMES[0]
    assert expired.decision is not None
    assert expired.decision.reason == "ValidityEnded"


EXHAUSTED = Decision.deny("GpuBudgetExhausted", "the contract's jobs metered 36 of its 36")


def test_the_contract_whose_budget_ran_out_stops_the_joint_job_named() -> None:
    steps = [
        ("grid", MeterStep("report", "Running", wake=5.0)),
        ("sky", MeterStep("exhausted", "Stopped", EXHAUSTED)),
    ]
    name, step = joint_metering(steps)
    assert (name, step.kind) == ("sky", "exhausted")
    assert step.decision is not None
    assert step.decision.message.startswith("DataContract sky: ")
    assert step.decision.reason == "GpuBudgetExhausted"


def test_the_earliest_budget_second_wins_and_reports_wake_at_the_soonest() -> None:
    soon, later = NOW + timedelta(seconds=0.4), NOW + timedelta(seconds=0.9)
    name, step = joint_metering(
        [("grid", MeterStep("stop_at", at=later)), ("sky", MeterStep("stop_at", at=soon))]
    )
    assert (name, step.at) == ("sky", soon)
    _, report = joint_metering(
        [
            ("grid", MeterStep("report", "Running", wake=9.0)),
            ("sky", MeterStep("report", "Running", wake=2.0)),
        ]
    )
    assert report.wake == 2.0


def test_a_finish_ended_by_a_contract_beats_a_plain_one_and_a_success_is_not_renamed() -> None:
    done = Decision.allow("Completed", "every worker completed")
    name, step = joint_metering(
        [
            ("grid", MeterStep("finish", "Succeeded", done)),
            ("sky", MeterStep("finish", "Stopped", EXHAUSTED)),
        ]
    )
    assert name == "sky"
    assert step.decision is not None
    assert step.decision.message.startswith("DataContract sky: ")
    _, success = joint_metering([("grid", MeterStep("finish", "Succeeded", done))] * 2)
    assert success.decision == done


def test_status_lists_each_contracts_phase_and_which_stopped_the_job() -> None:
    read = inputs(a_contract(NAMES[0], phase="Revoked"), None)
    step = decide_run(read, NOW)
    assert contract_states(read, step) == [
        {"name": NAMES[0], "phase": "Revoked", "stoppedJob": True},
        {"name": NAMES[1], "phase": "Missing"},
    ]
    running = inputs(a_contract(NAMES[0]), a_contract(NAMES[1]))
    assert [s["phase"] for s in contract_states(running, decide_run(running, NOW))] == [
        "Active",
        "Active",
    ]
