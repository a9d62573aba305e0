"""Operator configuration, read once from the environment (Helm values end up here)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tds_operator.policy.rules import HubRules

WebhookMode = Literal["local", "cluster"]
Role = Literal["all", "controller", "webhooks"]
ROLES: tuple[Role, ...] = ("all", "controller", "webhooks")


def role_reconciles(role: Role) -> bool:
    """Whether a process of `role` takes part in the election and reconciles while it leads."""
    return role != "webhooks"


def role_serves_webhooks(role: Role) -> bool:
    """Whether a process of `role` serves the admission webhooks."""
    return role != "controller"


# The settings that describe a pod rather than the hub's configuration: its ports, address,
# certificate directory, its name (a fieldRef), and its role (the pod's two processes are one
# process of role `all` outside a cluster). A run of the chart's settings on a machine
# (hack/chart-run.sh, the e2e suite's ServiceAccount run) leaves them out and sets its own.
POD_LOCAL_SETTINGS = frozenset(
    {
        "TDS_METRICS_PORT",
        "TDS_LIVENESS_ENDPOINT",
        "TDS_WEBHOOK_ADDRESS",
        "TDS_WEBHOOK_PORT",
        "TDS_WEBHOOK_CERT_DIR",
        "TDS_REPLICA_NAME",
        "TDS_ROLE",
    }
)
KueueMode = Literal["auto", "on", "off"]
KUEUE_MODES: tuple[KueueMode, ...] = ("auto", "on", "off")


@dataclass(frozen=True)
class OperatorConfig:
    """Settings of one operator process."""

    kubeconfig: str | None
    namespace: str
    liveness_endpoint: str
    metrics_port: int
    webhook_mode: WebhookMode
    webhook_address: str
    webhook_port: int
    webhook_host: str | None
    webhook_cert_dir: Path | None
    leader_lease: str
    """The Lease (in `namespace`) whose holder reconciles."""
    replica: str
    """This replica's name as the Lease's holderIdentity: the pod's name, else host and pid."""
    hub_rules: HubRules
    role: Role = "all"
    """What this process does: `controller` takes part in the leader election and reconciles
    while it leads; `webhooks` serves the admission webhooks only; `all` (a local run) both.
    The chart runs the two roles in two containers of each pod, so that the death of a
    reconciling process never takes an admission webhook with it."""
    kueue: KueueMode = "auto"
    """Whether TrainingJobs queue in Kueue: `on`, `off`, or `auto` (when the cluster serves
    Kueue's Workload CRD, workloads.kueue.x-k8s.io, at startup)."""
    space_workers: int = 4
    """DataSpaces reconciled at once (TDS_SPACE_WORKERS)."""
    requests_in_flight: int = 16
    """Requests the reconcilers have open at once against the API server
    (TDS_API_REQUESTS_IN_FLIGHT): enough for one space's children to go at once beside the
    other workers' requests, not so many that the API server serves people's requests later."""

    @property
    def reconciles(self) -> bool:
        """Whether this process takes part in the election and reconciles while it leads."""
        return role_reconciles(self.role)

    @property
    def serves_webhooks(self) -> bool:
        """Whether this process serves the admission webhooks."""
        return role_serves_webhooks(self.role)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> OperatorConfig:
        """Read TDS_* variables (and KUBECONFIG), with defaults for a local run.

        `local` webhooks listen on 127.0.0.1 with a certificate the operator makes and a webhook
        configuration it manages; `cluster` webhooks use the certificate mounted from the chart
        and the chart's webhook configuration.
        """
        env = os.environ if environ is None else environ
        mode = env.get("TDS_WEBHOOK_MODE", "local")
        if mode not in ("local", "cluster"):
            raise ValueError(f"TDS_WEBHOOK_MODE must be local or cluster, not {mode!r}")
        cert_dir = env.get("TDS_WEBHOOK_CERT_DIR")
        role = env.get("TDS_ROLE") or "all"
        if role not in ROLES:
            raise ValueError(f"TDS_ROLE must be all, controller or webhooks, not {role!r}")
        kueue = env.get("TDS_KUEUE", "auto")
        if kueue not in KUEUE_MODES:
            raise ValueError(
                f"TDS_KUEUE must be auto, on or off (Helm value kueue.enabled: auto, true or "
                f"false), not {kueue!r}"
            )
        return cls(
            kubeconfig=env.get("KUBECONFIG") or None,
            namespace=env.get("TDS_NAMESPACE", "tds-system"),
            liveness_endpoint=env.get("TDS_LIVENESS_ENDPOINT", "http://0.0.0.0:8080/healthz"),
            metrics_port=int(env.get("TDS_METRICS_PORT", "9090")),
            webhook_mode=mode,  # type: ignore[arg-type]
            webhook_address=env.get(
                "TDS_WEBHOOK_ADDRESS", "127.0.0.1" if mode == "local" else "0.0.0.0"
            ),
            webhook_port=int(env.get("TDS_WEBHOOK_PORT", "9443")),
            webhook_host=env.get("TDS_WEBHOOK_HOST") or None,
            webhook_cert_dir=Path(cert_dir) if cert_dir else None,
            leader_lease=env.get("TDS_LEADER_LEASE", "tds-operator-leader"),
            replica=env.get("TDS_REPLICA_NAME") or f"{socket.gethostname()}-{os.getpid()}",
            hub_rules=HubRules.from_environment(env),
            role=role,
            kueue=kueue,
            space_workers=_positive(env, "TDS_SPACE_WORKERS", 4),
            requests_in_flight=_positive(env, "TDS_API_REQUESTS_IN_FLIGHT", 16),
        )


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number of at least 1 from the environment variable `name`, or `default`."""
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, not {text!r}")
    return int(text)
