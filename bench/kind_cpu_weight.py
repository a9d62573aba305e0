"""The kind tier's revocation bounds with and without its cluster's raised CPU weight, side by
side, under the same load: `make bench-kind-weight` on the cluster `KIND_KEEP_CLUSTER=1 make
e2e-kind` kept (hack/kind/with-env.sh gives it the kind tier's environment).

Each round runs `tests/kind/test_revocation.py` (a contract walked to a running job on the
cluster, revoked; the test prints the last clean-room read served and the first refused, the
worker's pod deleted and its process ended, in seconds after the revocation) twice: once with
the cgroup holding the cluster's containers at the default weight, once raised
(hack/kind/cpu-weight.sh), in alternating order. During both, HOGS processes spin on the CPU,
each in a session of its own (so each is an autogroup of its own, as each of a hub's processes
is). It prints each run's figures and the medians per arm. A benchmark, never a test: one run's
figures on a machine that may be shared.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIGURES = re.compile(
    r"last read served (?P<served>\S+)s, first refused (?P<refused>\S+)s, "
    r"worker deleted (?P<deleted>\S+)s, worker's process ended (?P<ended>\S+)s"
)
SHARES = Path("/sys/fs/cgroup/cpu/docker/cpu.shares")


@contextlib.contextmanager
def hogs(count: int) -> Iterator[None]:
    """COUNT busy loops, each in a new session."""
    procs = [
        subprocess.Popen(["sh", "-c", "while :; do :; done"], start_new_session=True)
        for _ in range(count)
    ]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def run_once(weight: int) -> dict[str, float]:
    SHARES.write_text(f"{weight}\n")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-m",
            "kind",
            "-rP",
            "-q",
            "tests/kind/test_revocation.py",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    found = FIGURES.search(out)
    if found is None:
        tail = "\n".join(out.splitlines()[-20:])
        raise SystemExit(f"no figures in the test's output:\n{tail}")
    return {key: float(value) for key, value in found.groupdict().items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hogs", type=int, default=6)
    parser.add_argument("--raised", type=int, default=8192)
    args = parser.parse_args()
    if os.environ.get("TDS_E2E_OPERATOR") != "cluster" or not SHARES.exists():
        raise SystemExit(
            "needs the kind tier's environment (make bench-kind-weight) and cgroup v1's docker"
            " cgroup"
        )
    before = SHARES.read_text().strip()
    runs: dict[int, list[dict[str, float]]] = {1024: [], args.raised: []}
    try:
        with hogs(args.hogs):
            for round_ in range(args.rounds):
                order = [1024, args.raised] if round_ % 2 == 0 else [args.raised, 1024]
                for weight in order:
                    load = os.getloadavg()[0]
                    figures = run_once(weight)
                    runs[weight].append(figures)
                    shown = ", ".join(f"{k} {v:.3f}" for k, v in figures.items())
                    print(f"round {round_ + 1} weight {weight:5d} load {load:5.1f}: {shown}")
    finally:
        SHARES.write_text(f"{before}\n")
    for weight, figures in runs.items():
        medians = {k: statistics.median(f[k] for f in figures) for k in figures[0]}
        shown = ", ".join(f"{k} {v:.3f}" for k, v in medians.items())
        print(f"median at weight {weight}: {shown}")


if __name__ == "__main__":
    main()
