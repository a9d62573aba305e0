"""`make run` (hack/run.sh) refuses a set port that is taken, naming the setting, before it
touches the cluster; the tutorial's integration test runs it on the hub."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

RUN = Path(__file__).parents[2] / "hack" / "run.sh"


@pytest.mark.parametrize("setting", ["TDS_WEBHOOK_PORT", "TDS_METRICS_PORT"])
def test_a_taken_port_is_refused_by_name(setting: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TDS_")}
        env.update({setting: str(port), "KUBECONFIG": str(tmp_path / "no-cluster")})
        result = subprocess.run(["bash", str(RUN)], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert f"{setting}={port}: that port is taken" in result.stderr
    assert f"unset {setting}" in result.stderr
