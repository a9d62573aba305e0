"""The operator's metrics: a contract's gauges follow its figures and go with it; admission
answers are counted by kind, operation, result and reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
import pytest
from prometheus_client import REGISTRY

from tds_operator import metrics
from tds_operator.webhooks import Refusal, measured

pytestmark = pytest.mark.unit


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
    assert value("tds_contract_gpu_hours_used", contract="gauges") == 1.5
    assert value("tds_contract_gpus_held", contract="gauges") == 8
    assert value("tds_contract_jobs", contract="gauges", state="queued") == 2
    left = value("tds_contract_seconds_until_not_after", contract="gauges")
    assert left is not None
    assert 3 * 86400 - 60 < left <= 3 * 86400
    metrics.report_contract("gauges", figures(phase="Exhausted", ledger_intact=False))
    assert value("tds_contract_phase", contract="gauges", phase="Active") == 0
    assert value("tds_contract_phase", contract="gauges", phase="Exhausted") == 1
    assert value("tds_contract_ledger_intact", contract="gauges") == 0


def test_a_deleted_contract_leaves_no_series() -> None:
    metrics.report_contract("gone", figures())
    metrics.count_admission("gone", False, "BudgetExhausted")
    metrics.count_ledger_failure("gone")
    metrics.forget_contract("gone")
    names = {
        sample.name
        for family in REGISTRY.collect()
        for sample in family.samples
        if sample.labels.get("contract") == "gone"
    }
    assert names == set()


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
