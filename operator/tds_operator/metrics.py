"""Prometheus metrics of the operator, under the `tds_` prefix."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RECONCILES = Counter(
    "tds_reconcile_total", "Reconciliations by kind and result.", ["kind", "result"]
)
RECONCILE_DURATION = Histogram(
    "tds_reconcile_duration_seconds", "Time spent in one reconciliation.", ["kind"]
)
API_WRITES = Counter(
    "tds_api_writes_total", "Write requests the operator sent to the API server.", ["verb", "kind"]
)
QUEUE_DEPTH = Gauge("tds_reconcile_queue_depth", "Objects waiting to be reconciled.", ["kind"])


def serve(port: int) -> None:
    """Expose the metrics on their own port (0 disables them)."""
    if port:
        start_http_server(port)
