"""`make hub-up` names a hub component that died (e.g. one that lost a race for its port) and
shows the end of its log, instead of timing out on the nodes without a word."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

HACK = Path(__file__).parents[2] / "hack"


def report(workdir: Path) -> subprocess.CompletedProcess[str]:
    script = f'. "{HACK}/lib.sh"; . "{HACK}/hub/components.sh"; hub_report_dead_components'
    env = {**os.environ, "KWOK_WORKDIR": str(workdir), "HUB_NAME": "hub"}
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)


def component(workdir: Path, name: str, pid: int, log: str) -> None:
    cluster = workdir / "clusters" / "hub"
    (cluster / "pids").mkdir(parents=True, exist_ok=True)
    (cluster / "logs").mkdir(parents=True, exist_ok=True)
    (cluster / "pids" / f"{name}.pid").write_text(f"{pid}\n")
    (cluster / "logs" / f"{name}.log").write_text(log)


def ended_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_dead_component_is_named_with_its_log_tail(tmp_path: Path) -> None:
    component(tmp_path, "kube-apiserver", os.getpid(), "serving\n")
    component(
        tmp_path, "kwok-controller", ended_pid(), "listen tcp :10247: address already in use\n"
    )
    result = report(tmp_path)
    assert result.returncode == 0
    assert "kwok-controller is not running" in result.stderr
    assert "address already in use" in result.stderr
    assert "kube-apiserver" not in result.stderr


def test_nothing_is_reported_while_every_component_runs(tmp_path: Path) -> None:
    component(tmp_path, "kube-apiserver", os.getpid(), "serving\n")
    result = report(tmp_path)
    assert result.returncode == 1
    assert result.stderr == ""
