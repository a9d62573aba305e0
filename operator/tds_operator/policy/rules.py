"""Hub rules: limits the platform team sets for every contract (Helm values become TDS_* env)."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Number = TypeVar("_Number", int, int | None)

DEFAULT_GPU_NODE_SELECTOR = {"hub.tds.io/pool": "gpu"}
DEFAULT_GPU_TOLERATION_KEY = "nvidia.com/gpu"
DEFAULT_SCRATCH_SIZE_LIMIT = "10Gi"
DEFAULT_OUTPUT_MAX_SIZE = "100Gi"
DEFAULT_OUTPUT_STORAGE_CLASS = "tds-output"
DEFAULT_OUTPUT_RETENTION = timedelta(hours=720)
# A whole, positive duration in seconds, minutes or hours, such as 720h, 90m or 30s.
_DURATION = re.compile(r"([1-9][0-9]*)(s|m|h)")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}
DEFAULT_GATEWAY_FILE_SERVER_IMAGE = "python:3.11-slim"
DEFAULT_GATEWAY_PROXY_IMAGE = "quay.io/brancz/kube-rbac-proxy:v0.19.1"
DEFAULT_FAIR_SHARING_WEIGHT = 1
# The word that lifts an organisation's GPU borrowing limit (TDS_GPU_BORROWING_LIMITS).
NO_LIMIT = "none"
_WHOLE = re.compile(r"[0-9]+")
# A whole, positive Kubernetes quantity of bytes, such as 10Gi, 500M or 1073741824.
_BYTE_QUANTITY = re.compile(r"[1-9][0-9]*([KMGTPE]i|[kMGTPE])?")
_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no", ""})


@dataclass(frozen=True)
class HubRules:
    """What the hub allows any contract, and where its training runs."""

    max_contract_days: int = 365
    """Longest validity window a contract may have, in days."""
    gpu_node_selector: dict[str, str] = field(
        default_factory=lambda: dict(DEFAULT_GPU_NODE_SELECTOR)
    )
    """Node labels that select the GPU pool clean-room workers run on (space pods may not)."""
    gpu_toleration_key: str = DEFAULT_GPU_TOLERATION_KEY
    """Taint key of the GPU nodes that clean-room workers tolerate (space pods may not)."""
    max_gpu_hours_per_contract: float | None = None
    """Largest spec.compute.maxGpuHours a contract may ask for (None: no hub limit)."""
    max_concurrent_gpus_per_contract: int | None = None
    """Largest spec.compute.maxConcurrentGpus a contract may ask for (None: no hub limit)."""
    suspended_spaces: frozenset[str] = frozenset()
    """DataSpaces whose contracts are Suspended by the hub (e.g. during an investigation)."""
    scratch_size_limit: str = DEFAULT_SCRATCH_SIZE_LIMIT
    """Size limit of each clean-room worker's scratch space (its emptyDir at /tmp)."""
    output_max_size: str = DEFAULT_OUTPUT_MAX_SIZE
    """Largest output volume a TrainingJob may ask for (spec.output.size)."""
    output_storage_class: str = DEFAULT_OUTPUT_STORAGE_CLASS
    """StorageClass of the output volumes; its volumes must be re-bindable (the output moves to
    the consumer by re-binding the same PersistentVolume)."""
    output_retention: timedelta = DEFAULT_OUTPUT_RETENTION
    """How long a Quarantined output waits for a release before it is discarded."""
    operator_image: str = ""
    """The operator's own image (the chart sets it from image.*): the trusted step that makes
    an output's manifest runs it in the clean room. Empty: no manifest can be made."""
    simulation_hub: bool = False
    """Whether pods are simulated (the local GPU hub): only then do a TrainingJob's
    `hub.tds.io/*` labels and annotations, which steer the simulation, reach its workers."""
    pod_cidrs: tuple[Network, ...] = ()
    """The cluster's pod networks: no contract's egress may reach into them."""
    service_cidrs: tuple[Network, ...] = ()
    """The cluster's service networks: no contract's egress may reach into them."""
    api_server_cidrs: tuple[Network, ...] = ()
    """Addresses of the API server: no contract's egress may reach them."""
    allow_any_egress_destination: bool = False
    """Whether a contract may name 0.0.0.0/0 or ::/0 (the internet; the cluster's own ranges and
    link-local addresses are still cut out of it)."""
    require_signed_consent: bool = False
    """Whether every consent must carry a signature by a key its party's owners registered."""
    gateway_file_server_image: str = DEFAULT_GATEWAY_FILE_SERVER_IMAGE
    """Image of the file server in volume datasets' gateways: any image with Python 3 (its
    standard `http.server`); the chart sets the operator's own image."""
    gateway_proxy_image: str = DEFAULT_GATEWAY_PROXY_IMAGE
    """Image of kube-rbac-proxy in front of volume datasets' gateways."""
    fair_sharing_weight: int = DEFAULT_FAIR_SHARING_WEIGHT
    """With Kueue: each consumer organisation's fair-sharing weight in the GPU pool, unless
    `fair_sharing_weights` names it (0: it borrows only what no other organisation wants)."""
    fair_sharing_weights: dict[str, int] = field(default_factory=dict)
    """With Kueue: fair-sharing weights of named organisations (DataSpaces)."""
    gpu_borrowing_limit: int | None = None
    """With Kueue: how many idle GPUs of the pool each consumer organisation may borrow beyond its
    guaranteed share (spec.quota.gpu), unless `gpu_borrowing_limits` names it (None: no limit,
    0: none)."""
    gpu_borrowing_limits: dict[str, int | None] = field(default_factory=dict)
    """With Kueue: the borrowing limits of named organisations (None: no limit)."""

    def fair_sharing_weight_of(self, space: str) -> int:
        """The consumer organisation's fair-sharing weight in the GPU pool."""
        return self.fair_sharing_weights.get(space, self.fair_sharing_weight)

    def gpu_borrowing_limit_of(self, space: str) -> int | None:
        """How many idle GPUs the consumer organisation may borrow (None: no limit)."""
        return self.gpu_borrowing_limits.get(space, self.gpu_borrowing_limit)

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> HubRules:
        """Read TDS_* variables from a mapping; unset or empty variables keep their defaults."""
        defaults = cls()
        return cls(
            max_contract_days=_positive_int(env, "TDS_MAX_CONTRACT_DAYS")
            or defaults.max_contract_days,
            gpu_node_selector=_labels(env, "TDS_GPU_NODE_SELECTOR") or defaults.gpu_node_selector,
            gpu_toleration_key=env.get("TDS_GPU_TOLERATION_KEY", "").strip()
            or defaults.gpu_toleration_key,
            max_gpu_hours_per_contract=_positive_float(env, "TDS_MAX_GPU_HOURS_PER_CONTRACT"),
            max_concurrent_gpus_per_contract=_positive_int(
                env, "TDS_MAX_CONCURRENT_GPUS_PER_CONTRACT"
            ),
            suspended_spaces=frozenset(_words(env, "TDS_SUSPENDED_SPACES")),
            scratch_size_limit=_byte_quantity(env, "TDS_SCRATCH_SIZE_LIMIT")
            or defaults.scratch_size_limit,
            output_max_size=_byte_quantity(env, "TDS_OUTPUT_MAX_SIZE") or defaults.output_max_size,
            output_storage_class=_text(env, "TDS_OUTPUT_STORAGE_CLASS")
            or defaults.output_storage_class,
            output_retention=_duration(env, "TDS_OUTPUT_RETENTION") or defaults.output_retention,
            operator_image=_text(env, "TDS_OPERATOR_IMAGE"),
            simulation_hub=_switch(env, "TDS_SIMULATION_HUB"),
            pod_cidrs=_networks(env, "TDS_POD_CIDRS"),
            service_cidrs=_networks(env, "TDS_SERVICE_CIDRS"),
            api_server_cidrs=_networks(env, "TDS_API_SERVER_CIDRS"),
            allow_any_egress_destination=_switch(env, "TDS_ALLOW_ANY_EGRESS_DESTINATION"),
            require_signed_consent=_switch(env, "TDS_REQUIRE_SIGNED_CONSENT"),
            gateway_file_server_image=_text(env, "TDS_GATEWAY_FILE_SERVER_IMAGE")
            or defaults.gateway_file_server_image,
            gateway_proxy_image=_text(env, "TDS_GATEWAY_PROXY_IMAGE")
            or defaults.gateway_proxy_image,
            fair_sharing_weight=_default_weight(env),
            fair_sharing_weights=_weights(env),
            gpu_borrowing_limit=_limit(
                "TDS_GPU_BORROWING_LIMIT", _text(env, "TDS_GPU_BORROWING_LIMIT")
            ),
            gpu_borrowing_limits=_limits(env),
        )


def _text(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _positive_int(env: Mapping[str, str], name: str) -> int | None:
    text = _text(env, name)
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"{name} must be a positive whole number, such as 365; got {text!r}")
    return value


def _whole(name: str, text: str, example: str) -> int:
    """A whole number, 0 or more, read from (one entry of) the variable `name`."""
    if not _WHOLE.fullmatch(text):
        raise ValueError(
            f"{name} must be a whole number, 0 or more, such as {example}; got {text!r}"
        )
    return int(text)


def _limit(name: str, text: str, example: str = "8") -> int | None:
    """A GPU borrowing limit: a whole number, 0 or more, or `none` (no limit)."""
    return None if text.lower() in ("", NO_LIMIT) else _whole(name, text, example)


def _per_space(
    env: Mapping[str, str], name: str, example: str, number: Callable[[str], _Number]
) -> dict[str, _Number]:
    """Comma-separated space=number pairs, each number read by `number`."""
    numbers: dict[str, _Number] = {}
    for pair in _words(env, name):
        space, equals, value = (part.strip() for part in pair.partition("="))
        try:
            if not equals or not space:
                raise ValueError(pair)
            numbers[space] = number(value)
        except ValueError:
            raise ValueError(
                f"{name} must be comma-separated space=number pairs, such as {example}; "
                f"got {pair!r}"
            ) from None
    return numbers


def _default_weight(env: Mapping[str, str]) -> int:
    text = _text(env, "TDS_FAIR_SHARING_WEIGHT")
    return _whole("TDS_FAIR_SHARING_WEIGHT", text, "1") if text else DEFAULT_FAIR_SHARING_WEIGHT


def _weights(env: Mapping[str, str]) -> dict[str, int]:
    name, example = "TDS_FAIR_SHARING_WEIGHTS", "lab-a=2,lab-b=1"
    return _per_space(env, name, example, lambda value: _whole(name, value, example))


def _limits(env: Mapping[str, str]) -> dict[str, int | None]:
    name, example = "TDS_GPU_BORROWING_LIMITS", f"lab-a=16,lab-b={NO_LIMIT}"
    return _per_space(
        env,
        name,
        example,
        lambda value: _limit(name, value, example) if value else _whole(name, value, example),
    )


def _positive_float(env: Mapping[str, str], name: str) -> float | None:
    text = _text(env, name)
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, such as 5000; got {text!r}")
    return value


def _byte_quantity(env: Mapping[str, str], name: str) -> str | None:
    text = _text(env, name)
    if not text:
        return None
    if not _BYTE_QUANTITY.fullmatch(text):
        raise ValueError(f"{name} must be a positive size, such as 10Gi; got {text!r}")
    return text


def _duration(env: Mapping[str, str], name: str) -> timedelta | None:
    text = _text(env, name)
    if not text:
        return None
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{name} must be a positive duration, such as 720h, 90m or 30s; got {text!r}"
        )
    return timedelta(seconds=int(match.group(1)) * _DURATION_UNITS[match.group(2)])


def _switch(env: Mapping[str, str], name: str) -> bool:
    text = _text(env, name).lower()
    if text not in _TRUE | _FALSE:
        raise ValueError(f"{name} must be true or false; got {text!r}")
    return text in _TRUE


def _words(env: Mapping[str, str], name: str) -> list[str]:
    return [word.strip() for word in _text(env, name).split(",") if word.strip()]


def _labels(env: Mapping[str, str], name: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for pair in _words(env, name):
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise ValueError(
                f"{name} must be comma-separated key=value node labels, "
                f"such as hub.tds.io/pool=gpu; got {pair!r}"
            )
        labels[key.strip()] = value.strip()
    return labels


def _networks(env: Mapping[str, str], name: str) -> tuple[Network, ...]:
    networks = []
    for word in _words(env, name):
        try:
            networks.append(ipaddress.ip_network(word if "/" in word else f"{word}/{_bits(word)}"))
        except ValueError:
            raise ValueError(
                f"{name} must be comma-separated CIDRs or addresses, such as "
                f"10.244.0.0/16,fd00:10:244::/56; got {word!r} (host bits must be zero)"
            ) from None
    return tuple(networks)


def _bits(address: str) -> int:
    return 128 if ":" in address else 32
