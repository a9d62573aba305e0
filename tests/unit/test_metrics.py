"""The operator's metrics: a contract's gauges follow its figures and go with it, in base units;
the leader alone exports them; admission answers are counted by kind, operation, result and
reason."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
import pytest
from prometheus_client import REGISTRY

from tds_operator import metrics
from tds_operator.webhooks import Refusal, measured

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def leading() -> Iterator[None]:
    """Contracts are reported by the leader: these tests run as one."""
    metrics.set_leading(True)
    yield
    metrics.set_leading(False)


def contract_series(contract: str) -> set[str]:
    return {
        sample.name
        for family in REGISTRY.collect()
        for sample in family.samples
        if sample.labels.get("contract") == contract
    }


def value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def figures(**changes: Any) -> metrics.ContractFigures:
    base: dict[str, Any] = {
        "provider": "acme",
        "consumer": "cmcc",
        "phase": "Active",
        "gpu_hours_used": 1.5,
        "gpu_hours_budget": 10.0,
        "max_concurrent_gpus": 16,
        "gpus_held": 8,
        "jobs_queued": 2,
        "jobs_running": 1,
        "not_after": datetime.now(UTC) + timedelta(days=3),
        "ledger_intact": True,
    }
    return metrics.ContractFigures(**{**base, **changes})


def test_a_contracts_gauges_are_its_figures_with_one_phase_set() -> None:
    metrics.report_contract("gauges", figures())
    assert value("tds_contract_phase", contract="gauges", phase="Active") == 1
    others = [p for p in metrics.CONTRACT_PHASES if p != "Active"]
    assert [value("tds_contract_phase", contract="gauges", phase=p) for p in others] == [0] * 5
    assert value("tds_contract_gpu_seconds_budget", contract="gauges") == 36000
    assert value("tds_contract_gpus_held", contract="gauges") == 8
    assert value("tds_contract_jobs", contract="gauges", state="queued") == 2
    metrics.report_contract("gauges", figures(phase="Exhausted", ledger_intact=False))
    assert value("tds_contract_phase", contract="gauges", phase="Active") == 0
    assert value("tds_contract_phase", contract="gauges", phase="Exhausted") == 1
    assert value("tds_contract_ledger_intact", contract="gauges") == 0


def test_expiry_is_the_timestamp_of_not_after_not_a_countdown() -> None:
    not_after = datetime(2031, 5, 4, 3, 2, 1, tzinfo=UTC)
    metrics.report_contract("ends", figures(not_after=not_after))
    assert value("tds_contract_not_after_timestamp_seconds", contract="ends") == 1935630121
    assert "tds_contract_seconds_until_not_after" not in contract_series("ends")


def test_usage_is_a_counter_of_gpu_seconds_that_follows_the_recorded_usage() -> None:
    metrics.report_contract("used", figures(gpu_hours_used=1.5))
    assert value("tds_contract_gpu_seconds_total", contract="used") == 5400
    metrics.report_contract("used", figures(gpu_hours_used=1.5))
    assert value("tds_contract_gpu_seconds_total", contract="used") == 5400
    metrics.report_contract("used", figures(gpu_hours_used=2.0))
    assert value("tds_contract_gpu_seconds_total", contract="used") == 7200
    # Recorded usage never drops; if it did, the series would restart (a counter reset).
    metrics.report_contract("used", figures(gpu_hours_used=0.5))
    assert value("tds_contract_gpu_seconds_total", contract="used") == 1800
    family = next(f for f in REGISTRY.collect() if f.name == "tds_contract_gpu_seconds")
    assert family.type == "counter"


def test_a_deleted_contract_leaves_no_series() -> None:
    metrics.report_contract("gone", figures())
    metrics.count_admission("gone", False, "BudgetExhausted")
    metrics.count_ledger_failure("gone")
    metrics.forget_contract("gone")
    assert contract_series("gone") == set()
    # A contract of the same name later starts its usage from nothing.
    metrics.report_contract("gone", figures(gpu_hours_used=0.25))
    assert value("tds_contract_gpu_seconds_total", contract="gone") == 900


ADMISSIONS = {"tds_trainingjob_admissions_total", "tds_trainingjob_admissions_created"}


def test_a_replica_that_stops_leading_drops_the_contract_state_it_reported() -> None:
    metrics.report_contract("led", figures(gpu_hours_used=1.0))
    metrics.count_admission("led", True, "Admitted")
    assert value("tds_leader") == 1
    assert "tds_contract_gpu_seconds_total" in contract_series("led")
    metrics.set_leading(False)
    assert value("tds_leader") == 0
    # The webhooks' counters stay (every replica serves them; rates do not double-count).
    assert contract_series("led") == ADMISSIONS
    # A reconcile that ends after the lead was lost reports nothing.
    metrics.report_contract("led", figures(gpu_hours_used=1.0))
    assert contract_series("led") == ADMISSIONS
    # Leading again, the replica exports the contract's whole usage afresh.
    metrics.set_leading(True)
    metrics.report_contract("led", figures(gpu_hours_used=1.0))
    assert value("tds_contract_gpu_seconds_total", contract="led") == 3600
    assert value("tds_contract_phase", contract="led", phase="Active") == 1


def test_info_names_the_contracts_current_spaces_only() -> None:
    metrics.report_contract("moved", figures())
    metrics.report_contract("moved", figures(consumer="other"))
    assert value("tds_contract_info", contract="moved", provider="acme", consumer="cmcc") is None
    assert value("tds_contract_info", contract="moved", provider="acme", consumer="other") == 1


def test_a_decision_about_no_contract_is_counted_under_no_name() -> None:
    before = value("tds_trainingjob_admissions_total", contract="", result="denied", reason="X")
    metrics.count_admission(None, False, "X")
    after = value("tds_trainingjob_admissions_total", contract="", result="denied", reason="X")
    assert after == (before or 0) + 1


async def test_admission_answers_are_counted_by_result_and_reason() -> None:
    async def refuse(**_: Any) -> None:
        raise Refusal("NotAParty", "no")

    async def allow(**_: Any) -> None:
        return None

    async def fail(**_: Any) -> None:
        raise RuntimeError("broken")

    labels = {"kind": "Probe", "operation": "UPDATE"}
    await measured("Probe", allow)(operation="UPDATE")
    with pytest.raises(kopf.AdmissionError):
        await measured("Probe", refuse)(operation="UPDATE")
    with pytest.raises(RuntimeError):
        await measured("Probe", fail)(operation="UPDATE")
    for result in ("allowed", "denied", "error"):
        assert value("tds_webhook_requests_total", **labels, result=result) == 1
    assert value("tds_webhook_denials_total", **labels, reason="NotAParty") == 1
    assert value("tds_webhook_request_duration_seconds_count", **labels) == 3
