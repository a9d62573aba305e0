"""The Grafana dashboard and the alerting rules: each loads in its schema, and every query names
only metrics the operator exports (or Prometheus's own `up`)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog import plugins, runtime
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard
from grafana_foundation_sdk.models.prometheus import Dataquery
from prometheus_client.metrics import MetricWrapperBase

from tds_operator import metrics

pytestmark = pytest.mark.unit

CHART = Path(__file__).parents[2] / "charts" / "tds-operator"
DASHBOARD = CHART / "dashboards" / "tds-operator.json"
RULES = CHART / "rules" / "tds-operator.rules.yaml"
RULE_TESTS = Path(__file__).parents[1] / "alerts" / "tds-operator.rules.test.yaml"
RUNBOOKS = Path(__file__).parents[2] / "docs" / "operations" / "runbooks.md"
# The chart replaces this with metrics.prometheusRule.runbookBaseURL.
RUNBOOK_BASE = "https://tds-docs.invalid"

# Series Prometheus adds to every scrape target.
SCRAPE_SERIES = {"up"}
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "inf", "nan",
}  # fmt: skip


def exported_series() -> set[str]:
    """Every series name the operator's metrics produce."""
    names: set[str] = set()
    for metric in vars(metrics).values():
        if isinstance(metric, MetricWrapperBase):
            for family in metric.describe():
                names.update(family.name + suffix for suffix in SUFFIXES[family.type])
    return names


def series_named(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions,
    keywords, label names (in braces or grouping clauses), strings or durations."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.$])([a-zA-Z_:][\w:]*)\b(?!\s*\()", expr):
        if match.group(1).lower() not in PROMQL_WORDS:
            names.add(match.group(1))
    return names


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def dashboard_queries() -> list[str]:
    board = dashboard()
    queries = [t["expr"] for panel in board["panels"] for t in panel.get("targets", [])]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            queries.append(
                re.sub(r"label_values\((.+),\s*\w+\)", r"\1", variable["query"]["query"])
            )
    return queries


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def rule_queries() -> list[str]:
    return [rule["expr"] for rule in rules()]


def contained(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where `expected` differs from `actual`, which may hold more (defaults the schema adds)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: {actual!r} is not an object"]
        return [
            difference
            for key, value in expected.items()
            for difference in (
                contained(value, actual[key], f"{path}.{key}")
                if key in actual
                else [f"{path}.{key}: not in the schema"]
            )
        ]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: list differs"]
        return [d for i, v in enumerate(expected) for d in contained(v, actual[i], f"{path}[{i}]")]
    return [] if expected == actual else [f"{path}: {expected!r} became {actual!r}"]


def test_the_series_parser_finds_metric_names_only() -> None:
    expr = (
        'sum by (kind, le) (rate(tds_a_bucket{kind="x", result=~"a|b"}[5m])) / on (contract) '
        "group_left (consumer) tds_b and ignoring (x) tds_c offset 1h > bool 0.8"
    )
    assert series_named(expr) == {"tds_a_bucket", "tds_b", "tds_c"}


def test_the_dashboard_loads_in_grafanas_dashboard_schema() -> None:
    plugins.register_default_plugins()  # type: ignore[no-untyped-call]
    board = dashboard()
    decoded = Dashboard.from_json(board)
    encoded = json.loads(json.dumps(decoded, cls=JSONEncoder))
    assert contained(board, encoded) == []
    for panel in decoded.panels or []:
        if panel.type_val == "row":
            continue
        assert runtime.panelcfg_config(panel.type_val) is not None, panel.type_val
        for target in panel.targets or []:
            assert isinstance(target, Dataquery), f"{panel.title}: not a Prometheus query"


def test_the_dashboard_has_the_panels_a_platform_team_looks_for() -> None:
    titles = {panel["title"] for panel in dashboard()["panels"]}
    assert {
        "GPUs held by consumer space",
        "Contracts by phase",
        "Budget left (GPU-hours)",
        "Admission latency",
        "Denials by reason",
        "Operator up",
    } <= titles


@pytest.mark.parametrize("expr", dashboard_queries())
def test_every_dashboard_query_names_metrics_the_operator_exports(expr: str) -> None:
    named = series_named(expr)
    assert named, f"no metric found in {expr}"
    assert named <= exported_series() | SCRAPE_SERIES


@pytest.mark.parametrize("expr", rule_queries())
def test_every_alert_names_metrics_the_operator_exports(expr: str) -> None:
    named = series_named(expr)
    assert named, f"no metric found in {expr}"
    assert named <= exported_series() | SCRAPE_SERIES


def test_every_alert_has_a_summary_a_description_and_a_severity() -> None:
    for rule in rules():
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]


def duration_seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.fullmatch(r"(?:(\d+)([smhd]))+", duration)
    assert parts, duration
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smhd])", duration))


def test_every_alert_waits_before_firing() -> None:
    for rule in rules():
        assert duration_seconds(rule.get("for", "0s")) >= 60, rule["alert"]


def runbook_anchors() -> set[str]:
    """The anchors of the runbooks page: one level-2 heading per alert, slugged as MkDocs does."""
    headings = re.findall(r"^## (.+)$", RUNBOOKS.read_text(), re.MULTILINE)
    return {
        re.sub(r"[^\w-]", "", heading.strip().lower().replace(" ", "-")) for heading in headings
    }


def test_every_alert_links_its_own_runbook_section() -> None:
    anchors = runbook_anchors()
    for rule in rules():
        url = rule["annotations"].get("runbook_url", "")
        assert url == f"{RUNBOOK_BASE}/operations/runbooks/#{rule['alert'].lower()}", rule["alert"]
        assert rule["alert"].lower() in anchors, f"no runbook section for {rule['alert']}"


def test_running_out_of_budget_is_information_not_a_page() -> None:
    (exhausted,) = [rule for rule in rules() if rule["alert"] == "TDSContractBudgetExhausted"]
    assert exhausted["labels"]["severity"] == "info"


def test_the_dashboard_selects_by_cluster_and_job_everywhere() -> None:
    board = dashboard()
    names = [variable["name"] for variable in board["templating"]["list"]]
    assert {"cluster", "job", "contract"} <= set(names)
    panel_queries = [t["expr"] for panel in board["panels"] for t in panel.get("targets", [])]
    for expr in panel_queries:
        for selector in re.findall(r"\b(?:tds_\w+|workqueue_\w+|up)(\{[^}]*\})?", expr):
            assert 'cluster=~"$cluster"' in selector, expr
            assert 'job=~"$job"' in selector, expr


def test_every_alert_has_a_firing_and_a_silent_promtool_case() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = {rule["alert"] for group in groups for rule in group["rules"]}
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    cases = [case for test in tests for case in test["alert_rule_test"]]
    assert {case["alertname"] for case in cases if case["exp_alerts"]} == alerts
    assert {case["alertname"] for case in cases if not case["exp_alerts"]} == alerts
