"""Before the churn: the campaign's knobs, the hub serving with the CRDs, two operator replicas
(the first leading) and the spaces."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config

from bench.chaos.bounds import DEFAULT, Bounds
from bench.chaos.churn import Churn, Ledger
from bench.chaos.faults import ControlPlane, Replicas
from bench.hubkit.hub import REPO_ROOT, Hub
from bench.hubkit.training import Story


class KnobError(ValueError):
    """A knob the campaign cannot run with."""


def _whole(env: Mapping[str, str], name: str, default: int, least: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.lstrip("-").isdigit() or int(text) < least:
        raise KnobError(f"{name} must be a whole number of at least {least}, not {text!r}")
    return int(text)


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise KnobError(f"{name} must be a number of seconds, not {text!r}") from None
    if value <= 0:
        raise KnobError(f"{name} must be a positive number of seconds, not {text!r}")
    return value


@dataclass(frozen=True)
class Knobs:
    """How much chaos, for how long (environment or Make variables of `make chaos`)."""

    kills: int = 50
    duration: float = 600.0
    churn: int = 3
    spaces: int = 6
    api_restarts: int = 2
    etcd_restarts: int = 1
    settle: float = 180.0
    seed: int = 0
    bounds: Bounds = DEFAULT

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Knobs:
        """Every knob from the environment, defaults for those unset; a bad one raises naming it."""
        return cls(
            kills=_whole(env, "KILLS", 50, 0),
            duration=_seconds(env, "DURATION", 600.0),
            churn=_whole(env, "CHURN", 3, 1),
            spaces=_whole(env, "SPACES", 6, 2),
            api_restarts=_whole(env, "API_RESTARTS", 2, 0),
            etcd_restarts=_whole(env, "ETCD_RESTARTS", 1, 0),
            settle=_seconds(env, "SETTLE", 180.0),
            seed=_whole(env, "SEED", int(time.time()), 0),
            bounds=Bounds.from_environment(env),
        )


def say(text: str) -> None:
    """One line of the campaign's log, with the time."""
    print(f"[chaos {time.strftime('%H:%M:%S')}] {text}", flush=True)


def hub_up(hub_dir: Path) -> str:
    """The hub serving (started if it is not), with 64 GPUs and the project's CRDs."""
    env = {**os.environ, "HUB_DIR": str(hub_dir), "HUB_GPU_NODES": os.environ.get("GPU_NODES", "8")}
    subprocess.run([str(REPO_ROOT / "hack/hub/up.sh")], env=env, check=True)
    kubeconfig = str(hub_dir / "kubeconfig")
    os.environ["KUBECONFIG"] = kubeconfig
    kubectl = [str(REPO_ROOT / "hack/hub/kubectl.sh"), "--kubeconfig", kubeconfig]
    crds = str(REPO_ROOT / "crds")
    subprocess.run(
        [
            *kubectl,
            "apply",
            "--server-side",
            "--field-manager=tds-operator",
            "--force-conflicts",
            "-f",
            crds,
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*kubectl, "wait", "--for=condition=Established", "-f", crds],
        check=True,
        capture_output=True,
    )
    return kubeconfig


@dataclass
class Campaign:
    """The hub, its replicas and the churn's threads."""

    knobs: Knobs
    control: ControlPlane
    out: Path
    api: client.ApiClient
    replicas: Replicas
    story: Story
    ledger: Ledger
    churns: list[Churn]


def prepare(knobs: Knobs, hub_dir: Path, out: Path) -> Campaign:
    """The hub up, two replicas (the first leading), the spaces."""
    kubeconfig = hub_up(hub_dir)
    api = config.new_client_from_config(config_file=kubeconfig)
    replicas = Replicas(kubeconfig, out, api)
    replicas.start_one()
    replicas.live_leader()
    replicas.start_one()
    story = Story(Hub(api))
    ledger = Ledger(spaces=[story.space() for _ in range(knobs.spaces)])
    churns = [Churn(story, ledger, knobs.seed + n) for n in range(knobs.churn)]
    control = ControlPlane(hub_dir, api)
    return Campaign(knobs, control, out, api, replicas, story, ledger, churns)
