"""The tutorial (docs/tutorial.md) works as written: its commands run in order on the hub, in its
two terminals, and each line that says what to expect (`# Active`, `# no`, a `# denied: ...`
line after a command) gets it.

Terminal 1 is `make run`, started in the background as the tutorial says; terminal 2 is a shell
set up as the tutorial's first block says. The tutorial's objects have fixed names (spaces sgcc,
cmcc and cma, contract sgcc-to-cmcc-load): they are removed before and after.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[2]
TUTORIAL = REPO / "docs" / "tutorial.md"
# Expectations the tutorial writes after a command: the first word of its comment.
EXPECTED_WORDS = {
    "Proposed",
    "Active",
    "Running",
    "Revoked",
    "Stopped",
    "Quarantined",
    "AwaitingReview",
    "Released",
    "no",
}
WAIT = 120.0


@dataclass
class Step:
    command: str
    expect: str | None = None
    """A word its output shows (retried until it does)."""
    refusal: str | None = None
    """The reason its refusal names (it must fail)."""


def steps(markdown: str) -> list[Step]:
    """The shell commands of the tutorial's ```sh blocks, continuation lines joined, with what
    each is expected to show."""
    found: list[Step] = []
    for block in re.findall(r"```sh\n(.*?)```", markdown, re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            text, _, comment = line.partition(" #")
            if line.startswith("#"):
                refusal = re.match(r"# denied: (\w+):", line)
                if refusal and found:
                    found[-1].refusal = refusal.group(1)
                continue
            if not text.strip():
                continue
            words = comment.strip().split()
            first = words[0].strip(",;:.") if words else ""
            found.append(Step(" ".join(text.split()), first if first in EXPECTED_WORDS else None))
    return found


def test_the_tutorial_reads_as_steps() -> None:
    """The parser finds the two terminals' commands and the expectations (a control for the
    walk below: a tutorial it misread would test nothing)."""
    found = steps(TUTORIAL.read_text())
    commands = [step.command for step in found]
    assert commands[:2] == ["make hub-up", "make run"]
    assert any(step.refusal == "NotConsumerOwner" for step in found)
    assert {step.expect for step in found} >= {"Proposed", "Active", "Quarantined", "no"}
    # Each party finds its contracts by listing its own namespace.
    listings = [step for step in found if step.command.startswith("kubectl get contracts -n")]
    assert {step.expect for step in listings} >= {"Proposed", "Active"}


def shell(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # The tutorial's kubectl is the alias its first block sets; aliases are off in `bash -c`.
    kubectl = f'kubectl() {{ {shlex.quote(str(REPO / "hack/hub/kubectl.sh"))} "$@"; }}'
    return subprocess.run(
        ["bash", "-c", f"set -o pipefail; {kubectl}; {command}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def remove_the_tutorials_objects(env: dict[str, str]) -> None:
    for command in (
        "kubectl delete -f examples/04-modelrelease.yaml --ignore-not-found --wait=false",
        "kubectl delete -f examples/03-trainingjob.yaml --ignore-not-found",
        "kubectl delete -f examples/02-datacontract.yaml --ignore-not-found",
        "kubectl delete -f examples/01-dataspaces.yaml --ignore-not-found",
    ):
        shell(command, env)


@pytest.fixture
def terminal_two(crds_installed: None) -> dict[str, str]:
    """Terminal 2's environment, as the tutorial's first block sets it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TDS_")}
    env["KUBECONFIG"] = str(REPO / ".hub" / "kubeconfig")
    env["PATH"] = f"{REPO / '.venv' / 'bin'}:{env['PATH']}"
    if Path(os.environ.get("KUBECONFIG", "")).resolve() != Path(env["KUBECONFIG"]).resolve():
        pytest.fail("the tutorial runs on the hub at .hub (KUBECONFIG must be .hub/kubeconfig)")
    return env


def test_the_tutorial_works_as_written(terminal_two: dict[str, str], tmp_path: Path) -> None:
    env = terminal_two
    walk = steps(TUTORIAL.read_text())
    assert [step.command for step in walk[:2]] == ["make hub-up", "make run"]
    hub_up = shell("make hub-up", env)
    assert hub_up.returncode == 0, hub_up.stderr[-2000:]
    log_path = tmp_path / "terminal-1.log"
    with log_path.open("w") as log:
        operator = subprocess.Popen(
            ["make", "run"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + WAIT
        while "leads: it reconciles" not in log_path.read_text():
            assert operator.poll() is None, f"make run ended:\n{log_path.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "the operator did not start leading"
            time.sleep(0.5)
        assert "TDS_SIMULATION_HUB=true" in log_path.read_text()
        remove_the_tutorials_objects(env)
        for step in walk[2:]:
            if step.command.startswith(("export ", "alias ")):
                continue  # terminal 2's set-up, done above
            run_step(step, env, log_path)
    finally:
        remove_the_tutorials_objects(env)
        os.killpg(operator.pid, signal.SIGTERM)
        operator.wait(timeout=30)


def run_step(step: Step, env: dict[str, str], log_path: Path) -> None:
    deadline = time.monotonic() + WAIT
    while True:
        result = shell(step.command, env)
        output = result.stdout + result.stderr
        if step.refusal:
            assert result.returncode != 0, f"{step.command}: not refused\n{output}"
            assert step.refusal in output, f"{step.command}: refused otherwise\n{output}"
            return
        done = step.expect is None or re.search(rf"\b{step.expect}\b", result.stdout)
        # `kubectl auth can-i` answers "no" with exit status 1.
        succeeded = result.returncode == 0 or step.expect == "no"
        if succeeded and done:
            return
        # A party's access to a contract just proposed is granted by its space's reconcile,
        # moments after the proposal: a refusal by RBAC is waited out, as a person would retry.
        pending_access = "is forbidden" in output
        if time.monotonic() > deadline or (
            not succeeded and step.expect is None and not pending_access
        ):
            operator_log = log_path.read_text()[-2000:]
            pytest.fail(
                f"{step.command}\nexpected {step.expect or 'success'}, got (exit "
                f"{result.returncode}):\n{output}\noperator log ends:\n{operator_log}"
            )
        time.sleep(1)
