"""How soon `kubectl tds` starts: `python -m bench.plugin_start` (`make bench-plugin`).

Runs each command line `--runs` times in turn (after one warm-up run each), as a user does, and
prints the median, the 90th percentile and the best wall time, and what each imports at start
(`python -X importtime`, cumulative microseconds of the top-level imports):

  - light:    the installed `kubectl-tds --help` (plugin/, package kubectl_tds);
  - operator: `python -m tds_operator.plugin --help`, the operator's tools, which is what
              `kubectl-tds` was before it became a distribution of its own.

With --kubeconfig it also times `kubectl-tds contracts -n NAMESPACE` against that cluster (one
kubectl call). A benchmark, never a test: the figures are those of one run on a machine that
may be shared, and it prints the load beside them.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def timed(command: list[str], runs: int) -> list[float]:
    """Wall seconds of `runs` runs of `command` (after one warm-up run)."""
    subprocess.run(command, capture_output=True, check=False)
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False)
        seconds.append(time.perf_counter() - start)
    return seconds


def heaviest_imports(module: str, top: int = 5) -> list[tuple[int, str]]:
    """The imports of `module` itself that it pays for most (cumulative microseconds)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=False,
    )
    rows = []
    for line in done.stderr.splitlines():
        found = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (.*)$", line)
        # The module's own imports are indented one level (two spaces) under it.
        if found and found[2].startswith("  ") and not found[2].startswith("   "):
            rows.append((int(found[1]), found[2].strip()))
    return sorted(rows, reverse=True)[:top]


def loaded_by_help(package: str) -> bool:
    """Whether `kubectl-tds --help` loads `package` (cryptography is the signing extra's, for the
    commands that check signatures only)."""
    probe = (
        "import contextlib, io, sys\n"
        "from kubectl_tds import cli\n"
        "with contextlib.suppress(SystemExit): cli.main(['--help'], io.StringIO())\n"
        f"print({package!r} in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() == "True"


def summary(name: str, seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p90 = ordered[max(0, round(0.9 * len(ordered)) - 1)]
    return (
        f"{name:10} median {1000 * statistics.median(ordered):7.1f} ms   "
        f"p90 {1000 * p90:7.1f} ms   best {1000 * ordered[0]:7.1f} ms   ({len(ordered)} runs)"
    )


def load() -> str:
    return " ".join(f"{average:.2f}" for average in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each command (default 20)")
    parser.add_argument("--kubeconfig", help="also time `contracts` against this cluster")
    parser.add_argument("--namespace", default="default", help="the namespace `contracts` lists")
    args = parser.parse_args()
    commands = {
        "light": [str(BIN / "kubectl-tds"), "--help"],
        "operator": [sys.executable, "-m", "tds_operator.plugin", "--help"],
    }
    if args.kubeconfig:
        commands["contracts"] = [
            str(BIN / "kubectl-tds"), "contracts", "-n", args.namespace,
            "--kubeconfig", args.kubeconfig,
        ]  # fmt: skip
    print(f"load average before: {load()}; cores: {os.cpu_count()}")
    for name, command in commands.items():
        print(summary(name, timed(command, args.runs)), flush=True)
    print(f"load average after:  {load()}")
    for module in ("kubectl_tds.cli", "tds_operator.plugin.cli"):
        heaviest = ", ".join(f"{name} {us / 1000:.0f} ms" for us, name in heaviest_imports(module))
        print(f"import {module}: {heaviest}")
    for package in ("cryptography", "tds_operator"):
        print(f"kubectl-tds --help loads {package}: {'yes' if loaded_by_help(package) else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
