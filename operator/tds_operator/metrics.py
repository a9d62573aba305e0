"""Prometheus metrics of the operator: `tds_*`, plus controller-runtime's `workqueue_*` names.

Cardinality stays bounded: labels are kinds, operations, results, reasons (constants of the
API), phases, and the names of contracts and their spaces. No series names a job. A contract's
series are removed when the contract is deleted, and a decision about a contract that does not
exist is counted under `contract=""`, so made-up names in requests cannot grow the registry.
What the leader's reconciles report of a contract (its state: phase, usage, budget, jobs) is
exported by the leader only: a replica that stops leading drops those series at once and
reports none until it leads again, so that summing over replicas never counts a contract twice.
Units are base units: seconds (GPU-seconds), and instants as Unix timestamps.
The pure core never touches these: the reconcilers, webhooks and ledger store report here.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar, get_args

from prometheus_client import Counter, Gauge, Histogram, start_http_server
from prometheus_client.metrics import MetricWrapperBase

from tds_operator.api.datacontract import ContractPhase

# --- The controller ---------------------------------------------------------------------------

RECONCILES = Counter(
    "tds_reconcile_total", "Reconciliations by kind and result.", ["kind", "result"]
)
RECONCILE_ERRORS = Counter(
    "tds_reconcile_errors_total",
    "Reconciliations that failed and are retried with backoff, by kind.",
    ["kind"],
)
RECONCILE_DURATION = Histogram(
    "tds_reconcile_duration_seconds", "Time spent in one reconciliation.", ["kind"]
)
API_WRITES = Counter(
    "tds_api_writes_total", "Write requests the operator sent to the API server.", ["verb", "kind"]
)
# controller-runtime's work queue metrics; `name` is the kind the queue reconciles.
QUEUE_DEPTH = Gauge("workqueue_depth", "Objects waiting to be reconciled, by kind.", ["name"])
QUEUE_ADDS = Counter("workqueue_adds_total", "Objects added to the work queue.", ["name"])
QUEUE_RETRIES = Counter(
    "workqueue_retries_total", "Reconciles put back on the queue after a failure.", ["name"]
)

LEADER = Gauge(
    "tds_leader",
    "1 while this process holds the leader Lease and reconciles, 0 otherwise: a standby, "
    "or a process that serves the admission webhooks only (TDS_ROLE=webhooks).",
)

# --- Admission webhooks -----------------------------------------------------------------------

WEBHOOK_REQUESTS = Counter(
    "tds_webhook_requests_total",
    "Admission requests by kind, operation and result (allowed, denied or error).",
    ["kind", "operation", "result"],
)
WEBHOOK_DENIALS = Counter(
    "tds_webhook_denials_total",
    "Admission requests refused, by kind, operation and the reason the refusal names.",
    ["kind", "operation", "reason"],
)
WEBHOOK_LATENCY = Histogram(
    "tds_webhook_request_duration_seconds",
    "Time the operator took to answer one admission request.",
    ["kind", "operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# --- Contracts --------------------------------------------------------------------------------

CONTRACT_INFO = Gauge(
    "tds_contract_info",
    "1 for each contract, naming its two spaces.",
    ["contract", "provider", "consumer"],
)
CONTRACT_PHASE = Gauge(
    "tds_contract_phase",
    "1 for the contract's current phase, 0 for the others.",
    ["contract", "phase"],
)
GPU_SECONDS_USED = Counter(
    "tds_contract_gpu_seconds",
    "GPU-seconds the contract's jobs have used (its recorded usage; exported by the leader).",
    ["contract"],
)
GPU_SECONDS_BUDGET = Gauge(
    "tds_contract_gpu_seconds_budget",
    "The contract's compute.maxGpuHours, in GPU-seconds.",
    ["contract"],
)
GPUS_HELD = Gauge(
    "tds_contract_gpus_held", "GPUs the contract's admitted and running jobs hold.", ["contract"]
)
GPUS_LIMIT = Gauge(
    "tds_contract_gpus_max_concurrent", "The contract's compute.maxConcurrentGpus.", ["contract"]
)
JOBS = Gauge(
    "tds_contract_jobs",
    "Live TrainingJobs of the contract: queued (not running yet) or running.",
    ["contract", "state"],
)
NOT_AFTER = Gauge(
    "tds_contract_not_after_timestamp_seconds",
    "The contract's validity.notAfter, as a Unix timestamp.",
    ["contract"],
)
LEDGER_INTACT = Gauge(
    "tds_contract_ledger_intact",
    "1 while the contract's audit ledger verifies, 0 once it fails verification.",
    ["contract"],
)
JOB_ADMISSIONS = Counter(
    "tds_trainingjob_admissions_total",
    "TrainingJob admission decisions by contract, result (admitted or denied) and reason.",
    ["contract", "result", "reason"],
)

# --- The audit ledger -------------------------------------------------------------------------

LEDGER_APPENDS = Counter(
    "tds_ledger_appends_total", "Entries appended to the audit ledgers, by entry kind.", ["event"]
)
LEDGER_VERIFICATION_FAILURES = Counter(
    "tds_ledger_verification_failures_total",
    "Appends refused because the contract's stored ledger failed verification.",
    ["contract"],
)

CONTRACT_PHASES: tuple[str, ...] = get_args(ContractPhase)
SECONDS_PER_HOUR = 3600.0

# What only the leader exports: dropped when this replica stops leading.
LEADER_ONLY: tuple[MetricWrapperBase, ...] = (
    CONTRACT_INFO,
    CONTRACT_PHASE,
    GPU_SECONDS_USED,
    GPU_SECONDS_BUDGET,
    GPUS_HELD,
    GPUS_LIMIT,
    JOBS,
    NOT_AFTER,
    LEDGER_INTACT,
)

Series = tuple[MetricWrapperBase, tuple[str, ...]]
# Every labelled series of each contract, so that all of them go with the contract.
_contract_series: dict[str, set[Series]] = {}
# The usage last exported per contract: the counter advances by the difference.
_usage_exported: dict[str, float] = {}
_leading = False


Metric = TypeVar("Metric", bound=MetricWrapperBase)


def _of_contract(metric: Metric, contract: str, *labels: str) -> Metric:
    if contract:
        _contract_series.setdefault(contract, set()).add((metric, (contract, *labels)))
    return metric.labels(contract, *labels)


@dataclass(frozen=True)
class ContractFigures:
    """What one reconcile of a contract observed, for its gauges."""

    provider: str
    consumer: str
    phase: str
    gpu_hours_used: float
    gpu_hours_budget: float
    max_concurrent_gpus: int
    gpus_held: int
    jobs_queued: int
    jobs_running: int
    not_after: datetime
    ledger_intact: bool


def _remove(contract: str, series: Series) -> None:
    metric, labels = series
    with contextlib.suppress(KeyError):
        metric.remove(*labels)
    _contract_series.get(contract, set()).discard(series)


def _export_usage(contract: str, gpu_seconds: float) -> None:
    """Advance the usage counter to the recorded usage (a drop, which recorded usage never
    makes, restarts the series as a counter reset)."""
    exported = _usage_exported.get(contract)
    if exported is not None and gpu_seconds < exported:
        _remove(contract, (GPU_SECONDS_USED, (contract,)))
        exported = None
    counter = _of_contract(GPU_SECONDS_USED, contract)
    counter.inc(gpu_seconds - (exported or 0.0))
    _usage_exported[contract] = gpu_seconds


def set_leading(leading: bool) -> None:
    """This replica leads (it reconciles and reports contracts) or no longer does: then every
    series only the leader exports goes, and later reports are ignored until it leads again."""
    global _leading
    _leading = leading
    LEADER.set(int(leading))
    if leading:
        return
    for contract, series in list(_contract_series.items()):
        for one in list(series):
            if one[0] in LEADER_ONLY:
                _remove(contract, one)
        if not _contract_series.get(contract):
            _contract_series.pop(contract, None)
    _usage_exported.clear()


def report_contract(contract: str, figures: ContractFigures) -> None:
    """Set the contract's gauges to what its reconcile observed (on the leader only: a
    reconcile that ends after this replica stopped leading reports nothing)."""
    if not _leading:
        return
    for metric, labels in list(_contract_series.get(contract, ())):
        if metric is CONTRACT_INFO and labels[1:] != (figures.provider, figures.consumer):
            metric.remove(*labels)
            _contract_series[contract].discard((metric, labels))
    _of_contract(CONTRACT_INFO, contract, figures.provider, figures.consumer).set(1)
    for phase in CONTRACT_PHASES:
        _of_contract(CONTRACT_PHASE, contract, phase).set(int(phase == figures.phase))
    for gauge, value in (
        (GPU_SECONDS_BUDGET, figures.gpu_hours_budget * SECONDS_PER_HOUR),
        (GPUS_LIMIT, figures.max_concurrent_gpus),
        (GPUS_HELD, figures.gpus_held),
        (LEDGER_INTACT, int(figures.ledger_intact)),
    ):
        _of_contract(gauge, contract).set(value)
    _of_contract(JOBS, contract, "queued").set(figures.jobs_queued)
    _of_contract(JOBS, contract, "running").set(figures.jobs_running)
    _of_contract(NOT_AFTER, contract).set(figures.not_after.timestamp())
    _export_usage(contract, figures.gpu_hours_used * SECONDS_PER_HOUR)


def count_admission(contract: str | None, admitted: bool, reason: str) -> None:
    """One TrainingJob admission decision; `contract` is None when no such contract exists."""
    result = "admitted" if admitted else "denied"
    _of_contract(JOB_ADMISSIONS, contract or "", result, reason).inc()


def count_ledger_failure(contract: str) -> None:
    """An append refused because the contract's ledger fails verification."""
    _of_contract(LEDGER_VERIFICATION_FAILURES, contract).inc()


def forget_contract(contract: str) -> None:
    """Remove every series of a deleted contract."""
    for metric, labels in _contract_series.pop(contract, ()):
        with contextlib.suppress(KeyError):
            metric.remove(*labels)
    _usage_exported.pop(contract, None)


def serve(port: int) -> None:
    """Expose the metrics on their own port (0 disables them)."""
    if port:
        start_http_server(port)
