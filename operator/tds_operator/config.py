"""Operator configuration, read once from the environment (Helm values end up here)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class OperatorConfig:
    """Settings of one operator process."""

    kubeconfig: str | None
    liveness_endpoint: str
    metrics_port: int

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> OperatorConfig:
        """Read TDS_* variables (and KUBECONFIG), with defaults for a local run."""
        env = os.environ if environ is None else environ
        return cls(
            kubeconfig=env.get("KUBECONFIG") or None,
            liveness_endpoint=env.get("TDS_LIVENESS_ENDPOINT", "http://0.0.0.0:8080/healthz"),
            metrics_port=int(env.get("TDS_METRICS_PORT", "9090")),
        )
