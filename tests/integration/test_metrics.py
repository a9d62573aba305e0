"""The operator's metrics endpoint, scraped while a contract's story unfolds: its series move as
the story does (phase, budget burn, jobs and GPUs, denials by reason), a party cannot grow the
registry with made-up names, and a deleted contract's series go with it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bench.hubkit.hub import owner_of, refusal, space_namespace, unique
from bench.hubkit.manifests import training_job_body
from bench.hubkit.processes import OperatorProcess
from bench.hubkit.training import Story
from bench.hubkit.waiting import wait_until

pytestmark = pytest.mark.integration

# 0.004 GPU-hours are 14.4 GPU-seconds: a 1 x 2 GPU job uses them up in 7.2 s of its 60.
BUDGET = 0.004


def wait_metric(
    operator: OperatorProcess, value: float, name: str, timeout: float = 20, **labels: str
) -> None:
    """Until the scraped metric (its matching samples summed) equals `value`."""
    wait_until(
        lambda: operator.metric(name, **labels) == value,
        timeout=timeout,
        what=f"{name}{labels} == {value} (now {operator.metric(name, **labels)})",
    )


def contract_series(operator: OperatorProcess, contract: str) -> list[tuple[str, Any]]:
    """Every series of the operator that names the contract."""
    names = [
        "tds_contract_info",
        "tds_contract_phase",
        "tds_contract_gpu_seconds_total",
        "tds_contract_gpu_seconds_budget",
        "tds_contract_gpus_held",
        "tds_contract_jobs",
        "tds_contract_not_after_timestamp_seconds",
        "tds_contract_ledger_intact",
        "tds_trainingjob_admissions_total",
    ]
    return [
        (name, labels) for name in names for labels, _ in operator.samples(name, contract=contract)
    ]


def test_the_contract_series_follow_its_story(story: Story, operator: OperatorProcess) -> None:
    deal = story.deal(compute={"maxGpuHours": BUDGET, "maxConcurrentGpus": 8})
    contract = deal.contract
    wait_metric(operator, 1, "tds_contract_phase", contract=contract, phase="Active")
    assert operator.metric("tds_contract_phase", contract=contract, phase="Proposed") == 0
    assert (
        operator.metric(
            "tds_contract_info", contract=contract, provider=deal.provider, consumer=deal.consumer
        )
        == 1
    )
    assert operator.metric("tds_contract_gpu_seconds_budget", contract=contract) == BUDGET * 3600
    assert operator.metric("tds_contract_gpu_seconds_total", contract=contract) == 0
    # notAfter as a timestamp: about 30 days ahead (story contracts run for 30 days).
    left = (
        operator.metric("tds_contract_not_after_timestamp_seconds", contract=contract) - time.time()
    )
    assert 29 * 86400 < left <= 30 * 86400

    # A refusal at admission is counted by the reason it names.
    consumer = owner_of(deal.consumer)
    too_big = training_job_body(unique("j"), deal.namespace, contract, workers=2)
    assert "ConcurrencyExceeded" in refusal(lambda: story.submit(consumer, too_big))
    assert (
        operator.metric(
            "tds_trainingjob_admissions_total",
            contract=contract,
            result="denied",
            reason="ConcurrencyExceeded",
        )
        == 1
    )
    assert (
        operator.metric(
            "tds_webhook_denials_total",
            kind="TrainingJob",
            operation="CREATE",
            reason="ConcurrencyExceeded",
        )
        >= 1
    )
    assert (
        operator.metric(
            "tds_webhook_request_duration_seconds_count", kind="TrainingJob", operation="CREATE"
        )
        >= 1
    )

    # A job runs: it is admitted, holds its GPUs, and burns the budget until it is spent.
    appended = operator.metric("tds_ledger_appends_total", event="JobAdmitted")
    job = story.submit(
        consumer,
        training_job_body(unique("j"), deal.namespace, contract, gpus_per_worker=2, run_for="60s"),
    )
    story.wait_job(deal.namespace, job, "Running", timeout=30)
    wait_metric(operator, 1, "tds_contract_jobs", contract=contract, state="running")
    assert operator.metric("tds_contract_gpus_held", contract=contract) == 2
    assert (
        operator.metric("tds_trainingjob_admissions_total", contract=contract, result="admitted")
        == 1
    )
    assert operator.metric("tds_ledger_appends_total", event="JobAdmitted") == appended + 1

    story.wait_job(deal.namespace, job, "Stopped", timeout=30)
    status = story.wait_contract(contract, "Exhausted")["status"]
    wait_metric(operator, 1, "tds_contract_phase", contract=contract, phase="Exhausted")
    assert operator.metric("tds_contract_phase", contract=contract, phase="Active") == 0
    used = status["usage"]["gpuHours"] * 3600
    wait_until(
        lambda: (
            abs(operator.metric("tds_contract_gpu_seconds_total", contract=contract) - used) < 1e-6
        ),
        timeout=10,
        what=f"GPU-seconds of {contract} == {used}",
    )
    assert operator.metric("tds_contract_gpu_seconds_total", contract=contract) >= BUDGET * 3600
    wait_metric(operator, 0, "tds_contract_jobs", contract=contract)
    assert operator.metric("tds_contract_gpus_held", contract=contract) == 0
    assert operator.metric("tds_contract_ledger_intact", contract=contract) == 1

    # The contract goes, and every series that named it with it.
    story.contracts.delete(contract)
    wait_until(
        lambda: contract_series(operator, contract) == [],
        timeout=20,
        what=f"no series of deleted contract {contract}",
    )


def test_made_up_contract_names_do_not_grow_the_registry(
    story: Story, operator: OperatorProcess
) -> None:
    """The attacker, a consumer's owner, sends jobs naming contracts that do not exist: each is
    refused and counted, but under no series that names what the attacker made up."""
    consumer = story.space()
    before = operator.metric(
        "tds_trainingjob_admissions_total", contract="", reason="UnknownContract"
    )
    made_up = [unique("nosuch") for _ in range(3)]
    for name in made_up:
        body = training_job_body(unique("j"), space_namespace(consumer), name)
        assert "UnknownContract" in refusal(
            lambda body=body: story.submit(owner_of(consumer), body)
        )
    assert (
        operator.metric("tds_trainingjob_admissions_total", contract="", reason="UnknownContract")
        == before + 3
    )
    for name in made_up:
        assert contract_series(operator, name) == []
