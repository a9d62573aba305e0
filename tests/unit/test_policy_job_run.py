"""A TrainingJob's reconcile: the step decided from the job and its contract as read, and what a
metering pass does with the budget it measured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.hubkit.manifests import contract_body, rfc3339, training_job_body
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.policy.decision import Decision
from tds_operator.policy.job_run import (
    STOP_LEAD_SECONDS,
    WAKE_MARGIN_SECONDS,
    JobInputs,
    MeterInputs,
    decide_metering,
    decide_run,
)
from tds_operator.policy.metering import LiveBudget

pytestmark = pytest.mark.unit

NOW = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)


def a_job(phase: str | None = None, **metadata: Any) -> dict[str, Any]:
    body = training_job_body("forecast", "tds-cmcc", "sgcc-to-cmcc")
    body["metadata"] |= {"uid": "uid-1", **metadata}
    if phase is not None:
        body["status"] = {"phase": phase}
    return body


def a_contract(
    phase: str = "Active", not_after: datetime = NOW + timedelta(days=30), **spec: Any
) -> dict[str, Any]:
    body = contract_body("sgcc-to-cmcc", "sgcc", "cmcc", not_after=not_after, **spec)
    body["status"] = {"phase": phase}
    return body


def inputs(body: dict[str, Any] | None, contract: dict[str, Any] | None = None) -> JobInputs:
    job = TrainingJob.model_validate(body) if body is not None else None
    return JobInputs(body=body, job=job, invalid=None, contract=contract)


def test_a_job_that_is_gone_releases_what_it_held() -> None:
    assert decide_run(inputs(None), NOW).kind == "gone"


def test_a_deleted_job_is_let_go_whatever_its_phase() -> None:
    body = a_job("Running", deletionTimestamp=rfc3339(NOW))
    assert decide_run(inputs(body, a_contract()), NOW).kind == "delete"


def test_a_job_that_does_not_parse_is_denied_naming_the_field() -> None:
    body = a_job()
    step = decide_run(JobInputs(body, None, "spec.workers: too many", None), NOW)
    assert step.kind == "invalid"
    assert step.decision == Decision.deny("InvalidSpec", "spec.workers: too many")


@pytest.mark.parametrize("phase", ["Succeeded", "Failed", "Denied", "Stopped"])
def test_a_finished_job_keeps_its_output_and_needs_no_contract(phase: str) -> None:
    read = inputs(a_job(phase))
    assert not read.needs_contract
    assert decide_run(read, NOW).kind == "finished"


@pytest.mark.parametrize("phase", [None, "Pending", "Queued"])
def test_a_job_not_admitted_yet_asks_for_admission_even_under_a_revoked_contract(
    phase: str | None,
) -> None:
    read = inputs(a_job(phase), a_contract("Revoked", revoked=True))
    assert read.needs_contract
    assert decide_run(read, NOW).kind == "admit"


@pytest.mark.parametrize(
    ("contract", "reason"),
    [
        (None, "ContractDeleted"),
        (a_contract(revoked=True), "Revoked"),
        (a_contract(not_after=NOW - timedelta(seconds=1)), "ValidityEnded"),
    ],
)
def test_an_admitted_job_stops_with_its_contracts_reason(
    contract: dict[str, Any] | None, reason: str
) -> None:
    step = decide_run(inputs(a_job("Running"), contract), NOW)
    assert step.kind == "stop"
    assert step.decision is not None
    assert step.decision.reason == reason
    assert not step.decision.allowed


def test_an_admitted_job_under_an_active_contract_runs() -> None:
    assert decide_run(inputs(a_job("Admitted"), a_contract()), NOW).kind == "run"


def metering(**changes: Any) -> MeterInputs:
    values: dict[str, Any] = {
        "outcome": None,
        "budget": LiveBudget(gpu_seconds_left=3600.0, gpus_running=8),
        "gpu_budget": 36000.0,
        "total_gpus": 8,
        "not_after": NOW + timedelta(days=30),
        "stop_waiting": False,
        "workers": 1,
    }
    return MeterInputs(**(values | changes))


def test_a_finished_batch_job_ends_the_job_with_its_outcome() -> None:
    outcome = ("Succeeded", Decision.allow("Completed", "all workers completed"))
    step = decide_metering(metering(outcome=outcome), NOW)
    assert (step.kind, step.phase, step.decision) == ("finish", *outcome)


def test_a_used_up_budget_stops_the_job_at_once_even_with_a_stop_waiting() -> None:
    spent = LiveBudget(gpu_seconds_left=0.0, gpus_running=8)
    step = decide_metering(metering(budget=spent, stop_waiting=True), NOW)
    assert step.kind == "exhausted"
    assert step.decision is not None
    assert step.decision.reason == "GpuBudgetExhausted"


def test_a_pass_gives_way_to_a_stop_that_came_while_it_read() -> None:
    assert decide_metering(metering(stop_waiting=True), NOW).kind == "yield"


def test_a_budget_that_runs_out_within_the_lead_is_stopped_at_its_whole_second() -> None:
    # 4 GPU-seconds left at 8 GPUs: used up within the second.
    near = LiveBudget(gpu_seconds_left=4.0, gpus_running=8)
    step = decide_metering(metering(budget=near), NOW)
    assert step.kind == "stop_at"
    assert step.at is not None
    assert NOW < step.at <= NOW + timedelta(seconds=STOP_LEAD_SECONDS)


def test_running_workers_are_reported_and_metered_again_before_the_budget_runs_out() -> None:
    step = decide_metering(metering(), NOW)
    assert (step.kind, step.phase) == ("report", "Running")
    assert step.wake is not None
    # 3600 GPU-seconds at 8 GPUs: 450 s; the pass comes at least the lead before it.
    assert WAKE_MARGIN_SECONDS < step.wake <= 450 - STOP_LEAD_SECONDS + WAKE_MARGIN_SECONDS


def test_workers_still_starting_are_reported_admitted_with_no_wake() -> None:
    idle = LiveBudget(gpu_seconds_left=3600.0, gpus_running=0)
    step = decide_metering(metering(budget=idle, workers=0), NOW)
    assert (step.kind, step.phase, step.wake) == ("report", "Admitted", None)
