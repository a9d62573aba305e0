"""Every TDS_* setting the operator reads (config.py, policy/rules.py), for `--help`.

A unit test holds this list to the names those modules read, so that none is missed or stale;
docs/reference/configuration.md explains each with its Helm value.
"""

from __future__ import annotations

from typing import NamedTuple


class Setting(NamedTuple):
    name: str
    default: str
    meaning: str


OPERATOR_SETTINGS = (
    Setting("TDS_NAMESPACE", "tds-system", "the operator's namespace: ledgers, signing key, Lease"),
    Setting("TDS_ROLE", "all", "controller (reconciles), webhooks (admission only) or all"),
    Setting("TDS_KUEUE", "auto", "TrainingJobs wait in Kueue: auto, on or off"),
    Setting("TDS_SPACE_WORKERS", "4", "DataSpaces reconciled at once"),
    Setting("TDS_API_REQUESTS_IN_FLIGHT", "16", "reconcilers' requests open at once"),
    Setting("TDS_LEADER_LEASE", "tds-operator-leader", "the Lease whose holder reconciles"),
    Setting("TDS_REPLICA_NAME", "host-pid", "this replica's name in the Lease"),
    Setting("TDS_METRICS_PORT", "9090", "Prometheus metrics port (0: none)"),
    Setting("TDS_LIVENESS_ENDPOINT", "http://0.0.0.0:8080/healthz", "liveness endpoint"),
    Setting("TDS_WEBHOOK_MODE", "local", "local (own certificate and configuration) or cluster"),
    Setting("TDS_WEBHOOK_ADDRESS", "127.0.0.1 (local), 0.0.0.0", "where the webhooks listen"),
    Setting("TDS_WEBHOOK_PORT", "9443", "the webhooks' port"),
    Setting("TDS_WEBHOOK_HOST", "TDS_WEBHOOK_ADDRESS", "local mode: host the API server calls"),
    Setting("TDS_WEBHOOK_CERT_DIR", "none", "the webhooks' certificate directory"),
)

HUB_RULES = (
    Setting("TDS_MAX_CONTRACT_DAYS", "365", "longest validity window of a contract"),
    Setting("TDS_GPU_NODE_SELECTOR", "hub.tds.io/pool=gpu", "node labels of the GPU pool"),
    Setting("TDS_GPU_TOLERATION_KEY", "nvidia.com/gpu", "taint key workers tolerate"),
    Setting("TDS_MAX_GPU_HOURS_PER_CONTRACT", "none", "largest compute.maxGpuHours"),
    Setting("TDS_MAX_CONCURRENT_GPUS_PER_CONTRACT", "none", "largest compute.maxConcurrentGpus"),
    Setting("TDS_SUSPENDED_SPACES", "none", "spaces whose contracts are suspended"),
    Setting("TDS_SCRATCH_SIZE_LIMIT", "10Gi", "each worker's scratch space at /tmp"),
    Setting("TDS_OUTPUT_MAX_SIZE", "100Gi", "largest spec.output.size of a TrainingJob"),
    Setting("TDS_OUTPUT_STORAGE_CLASS", "tds-output", "StorageClass of output volumes"),
    Setting("TDS_OUTPUT_RETENTION", "720h", "how long a Quarantined output waits"),
    Setting("TDS_OPERATOR_IMAGE", "none", "the operator's image: runs outputs' manifest step"),
    Setting("TDS_SIMULATION_HUB", "false", "tests and demos only: jobs steer simulated pods"),
    Setting("TDS_POD_CIDRS", "none", "the cluster's pod networks (kept out of egress)"),
    Setting("TDS_SERVICE_CIDRS", "none", "the cluster's Service networks"),
    Setting("TDS_API_SERVER_CIDRS", "none", "the API server's networks"),
    Setting("TDS_ALLOW_ANY_EGRESS_DESTINATION", "false", "spec.egress may name 0.0.0.0/0"),
    Setting("TDS_REQUIRE_SIGNED_CONSENT", "false", "every consent signed with a registered key"),
    Setting("TDS_GATEWAY_FILE_SERVER_IMAGE", "the operator's", "volume datasets' file server"),
    Setting("TDS_GATEWAY_PROXY_IMAGE", "kube-rbac-proxy", "volume datasets' gateway proxy"),
    Setting("TDS_FAIR_SHARING_WEIGHT", "1", "Kueue: each organisation's fair-sharing weight"),
    Setting("TDS_FAIR_SHARING_WEIGHTS", "none", "Kueue: weights of named ones (space=weight,...)"),
    Setting("TDS_GPU_BORROWING_LIMIT", "none", "Kueue: idle GPUs an organisation may borrow"),
    Setting("TDS_GPU_BORROWING_LIMITS", "none", "Kueue: limits of named ones (space=limit,...)"),
)

SETTINGS = OPERATOR_SETTINGS + HUB_RULES


def settings_help() -> str:
    """The settings as `--help` lists them."""
    width = max(len(setting.name) for setting in SETTINGS)

    def lines(settings: tuple[Setting, ...]) -> list[str]:
        return [f"  {s.name:<{width}}  {s.meaning} (default: {s.default})" for s in settings]

    return "\n".join(
        [
            "settings (environment variables; unset or empty keeps the default, a bad value "
            "stops the operator naming it):",
            *lines(OPERATOR_SETTINGS),
            "hub rules:",
            *lines(HUB_RULES),
            "KUBECONFIG: the cluster (default: in-cluster). "
            "Explained in docs/reference/configuration.md.",
        ]
    )
