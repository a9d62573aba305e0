"""DataSpaces at scale: the operator against applying the same objects by hand. `make bench-scale`.

In one run on one fresh hub, side by side:
  1. by hand: the exact children the operator makes for N spaces (rendered by its own builders in
     desired/ from the live DataSpaces), written with one `kubectl apply --server-side`;
  2. the same objects written by CLIENTS parallel `kubectl apply` (the API server's practical
     limit);
  3. the operator: from `kubectl apply` of the N DataSpaces until all are Ready, its writes
     (tds_api_writes_total) against the minimum (every child once, one status write per space;
     and with the Event of the Ready transition), its writes in IDLE quiet seconds, and after a
     restart with N converged spaces its writes and the time until every space was reconciled
     once; its peak RSS and CPU seconds.
Machines here are small and shared: the figures that matter are the ratios of one run.
"""

from __future__ import annotations

import argparse
import functools
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench.hubkit.benchhub import (
    REPO,
    BenchHub,
    OperatorProcess,
    component_cpu,
    cpu_seconds,
    peak_rss_mib,
    wait_until,
)
from tds_operator import API_VERSION
from tds_operator.api.dataspace import DataSpace
from tds_operator.api.resources import Manifest
from tds_operator.config import OperatorConfig
from tds_operator.desired.admission import space_admission_policies
from tds_operator.desired.labels import SPACE_LABEL
from tds_operator.desired.rbac import space_roles
from tds_operator.desired.space import space_children, space_ledger_access

SPACE_OBJECTS = "namespaces,clusterrolebindings,clusterroles"


def documents(manifests: list[Manifest]) -> str:
    """kubectl's input: one JSON document per object (a YAML stream)."""
    return "".join(f"---\n{json.dumps(m)}\n" for m in manifests)


def space_names(n: int, prefix: str = "bench") -> list[str]:
    return [f"{prefix}-{index:04d}" for index in range(n)]


def operator_children(hub: BenchHub, namespace: str) -> dict[str, list[Manifest]]:
    """What the operator makes for each live DataSpace (no contracts yet), namespace first."""
    live = json.loads(hub.kubectl("get", "dataspaces", "-o", "json"))["items"]
    children = {}
    for body in live:
        space = DataSpace.model_validate(body)
        children[body["metadata"]["name"]] = [
            *space_children(space, []),
            *space_ledger_access(space, [], namespace),
        ]
    return children


def timed_apply(hub: BenchHub, manifests_per_client: list[list[Manifest]], work: Path) -> float:
    """Seconds for parallel `kubectl apply --server-side` clients to write their objects."""
    files = []
    for index, manifests in enumerate(manifests_per_client):
        path = work / f"client-{index}.yaml"
        path.write_text(documents(manifests))
        files.append(path)
    started = time.monotonic()
    clients = [
        hub.kubectl_process("apply", "--server-side", "--field-manager=by-hand", "-f", str(path))
        for path in files
    ]
    for client in clients:
        client.communicate()
        if client.returncode != 0:
            raise RuntimeError("a by-hand kubectl apply failed")
    return time.monotonic() - started


def delete_children(hub: BenchHub, namespace: str) -> None:
    """Delete every space's children and wait until they are gone."""
    selector = f"-l={SPACE_LABEL}"
    hub.kubectl("delete", SPACE_OBJECTS, selector, "--wait=false")
    hub.kubectl("delete", "roles,rolebindings", "-n", namespace, selector, "--wait=false")

    def gone() -> bool:
        left = hub.kubectl("get", SPACE_OBJECTS, selector, "-o", "name")
        return not left.strip()

    wait_until(gone, timeout=1800, interval=3)


class ReadyWatch:
    """Watches DataSpaces and records when each was last seen Ready."""

    def __init__(self, hub: BenchHub) -> None:
        self.ready: set[str] = set()
        template = '{.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\\n"}'
        self._process = hub.kubectl_process(
            "get", "dataspaces", "--watch", "-o", f"jsonpath={template}"
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            name, _, status = line.strip().partition(" ")
            if status == "True":
                self.ready.add(name)
            else:
                self.ready.discard(name)

    def stop(self) -> None:
        self._process.kill()


def by_hand(hub: BenchHub, n: int, clients: int, work: Path, namespace: str) -> dict[str, float]:
    """Phases 1 and 2: the operator's children of N spaces written by hand."""
    figures = {}
    started = time.monotonic()
    hub.kubectl("apply", "--server-side", "-f", "-", stdin=documents(spaces(n)))
    figures["t_spaces_alone"] = time.monotonic() - started
    children = operator_children(hub, namespace)
    flat = [child for objects in children.values() for child in objects]
    namespaces_first = sorted(flat, key=lambda m: m["kind"] != "Namespace")
    figures["t_by_hand"] = timed_apply(hub, [namespaces_first], work)
    print(f"by hand, one apply: {len(flat)} objects in {figures['t_by_hand']:.1f}s", flush=True)
    delete_children(hub, namespace)
    shares: list[list[Manifest]] = [[] for _ in range(clients)]
    for index, objects in enumerate(children.values()):
        shares[index % clients].extend(objects)
    figures["t_parallel"] = timed_apply(hub, shares, work)
    print(f"by hand, {clients} clients: {figures['t_parallel']:.1f}s", flush=True)
    hub.kubectl("delete", "dataspaces", "--all", "--wait=false")
    delete_children(hub, namespace)
    return figures


def spaces(n: int, prefix: str = "bench") -> list[Manifest]:
    """N DataSpaces, each with an owner group, a member and one dataset."""
    return [
        {
            "apiVersion": API_VERSION,
            "kind": "DataSpace",
            "metadata": {"name": name},
            "spec": {
                "organization": f"Organisation {name}",
                "owners": [{"kind": "Group", "name": f"{name}-admins"}],
                "members": [{"kind": "User", "name": f"{name}-analyst"}],
                "quota": {"cpu": "16", "memory": "64Gi", "gpu": 8, "pods": 50},
                "datasets": [
                    {
                        "name": "records",
                        "classification": "general",
                        "source": {"service": {"name": "records-gateway", "port": 8443}},
                    }
                ],
            },
        }
        for name in space_names(n, prefix)
    ]


def reconciles(operator: OperatorProcess) -> float:
    return operator.metric("tds_reconcile_total", kind="DataSpace")


def reconciled(operator: OperatorProcess, spaces: int) -> bool:
    """Whether the operator has reconciled `spaces` DataSpaces since it started."""
    return reconciles(operator) >= spaces


def written_by_kind(operator: OperatorProcess) -> dict[str, float]:
    """The operator's writes so far by verb and kind, but the leader election's."""
    return {
        f"{labels['verb']} {labels['kind']}": value
        for labels, value in operator.samples("tds_api_writes_total")
        if labels["kind"] != "Lease"
    }


def profiler(pid: int, output: Path | None) -> subprocess.Popen[bytes] | None:
    """py-spy recording the operator's stacks (collapsed, for flame graphs) into `output`."""
    if output is None:
        return None
    py_spy = Path(sys.executable).with_name("py-spy")
    if not py_spy.exists():
        raise SystemExit("--profile needs py-spy in the virtualenv: .venv/bin/pip install py-spy")
    command = [str(py_spy), "record", "--format", "raw", "-o", str(output), "-p", str(pid)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def webhook_calls(hub: BenchHub) -> tuple[float, float]:
    """How many admission webhook calls the API server has made, and their seconds in all (as
    the API server measures them: the operator's answer and the wait for it)."""
    text = hub.kubectl("get", "--raw", "/metrics")
    totals = {"_count": 0.0, "_sum": 0.0}
    for family in text_string_to_metric_families(text):
        if family.name == "apiserver_admission_webhook_admission_duration_seconds":
            for sample in family.samples:
                for suffix in totals:
                    if sample.name == family.name + suffix:
                        totals[suffix] += sample.value
    return totals["_count"], totals["_sum"]


def provision(
    hub: BenchHub, operator: OperatorProcess, n: int, prefix: str, profile: Path | None
) -> dict[str, Any]:
    """The operator provisions N new DataSpaces: from `kubectl apply` until all are Ready."""
    assert operator.process is not None
    pid = operator.process.pid
    recording = profiler(pid, profile)
    at_start = written_by_kind(operator)
    before = {
        "writes": operator.writes(),
        "cpu": cpu_seconds(pid),
        "hub": component_cpu(hub.hub_dir),
        "webhook": webhook_calls(hub),
    }
    names = set(space_names(n, prefix))
    watch = ReadyWatch(hub)
    started = time.monotonic()
    hub.kubectl("apply", "--server-side", "-f", "-", stdin=documents(spaces(n, prefix)))
    figures: dict[str, Any] = {"t_applied": time.monotonic() - started}
    figures["ready_at_applied"] = len(watch.ready & names)
    wait_until(lambda: names <= watch.ready, timeout=3600, interval=0.2)
    figures["t_operator"] = time.monotonic() - started
    watch.stop()
    figures["cpu_seconds"] = cpu_seconds(pid) - before["cpu"]
    figures["hub_cpu"] = {
        name: used - before["hub"][name] for name, used in component_cpu(hub.hub_dir).items()
    }
    calls, seconds = webhook_calls(hub)
    figures["webhook_ms"] = (
        1000 * (seconds - before["webhook"][1]) / max(1, calls - before["webhook"][0])
    )
    if recording is not None:
        recording.send_signal(signal.SIGINT)
        recording.wait()
    time.sleep(5)
    figures["writes"] = operator.writes() - before["writes"]
    figures["writes_by_kind"] = {
        key: value - at_start.get(key, 0)
        for key, value in written_by_kind(operator).items()
        if value > at_start.get(key, 0)
    }
    return figures


def operator_settings(workers: int | None, in_flight: int | None) -> dict[str, str]:
    """The operator's environment for a number of space workers and requests in flight."""
    return {
        name: str(value)
        for name, value in (
            ("TDS_SPACE_WORKERS", workers),
            ("TDS_API_REQUESTS_IN_FLIGHT", in_flight),
        )
        if value is not None
    }


def by_operator(
    hub: BenchHub, n: int, idle: int, work: Path, profile: Path | None, env: dict[str, str]
) -> dict[str, Any]:
    """Phase 3: the operator provisions N DataSpaces; idle; restart."""
    operator = hub.operator(work / "operator.log", env)
    operator.start()
    assert operator.process is not None
    time.sleep(5)
    figures = provision(hub, operator, n, "bench", profile)
    print(f"operator: {n} spaces Ready in {figures['t_operator']:.1f}s", flush=True)
    figures["reconciles"] = reconciles(operator)
    before_idle = operator.writes()
    time.sleep(idle)
    figures["idle_writes"] = operator.writes() - before_idle
    figures["rss_mib"] = peak_rss_mib(operator.process.pid)
    operator.stop()
    started = time.monotonic()
    operator.start()
    figures["t_restart"] = (
        time.monotonic()
        - started
        + wait_until(lambda: reconciles(operator) >= n, timeout=1800, interval=0.5)
    )
    time.sleep(5)
    figures["restart_writes"] = operator.writes()
    figures["restart_rss_mib"] = peak_rss_mib(operator.process.pid)
    operator.stop()
    remove_webhooks(hub)
    return figures


def remove_webhooks(hub: BenchHub) -> None:
    """The webhook configuration a stopped operator left (it would refuse every space)."""
    hub.kubectl(
        "delete",
        "validatingwebhookconfiguration,mutatingwebhookconfiguration",
        "tds-operator",
        "--ignore-not-found",
    )


def sweep(hub: BenchHub, n: int, work: Path, settings: list[tuple[int, int]]) -> None:
    """The operator with each number of space workers and requests in flight in turn, on the
    same hub: N new spaces each, once it has reconciled those the settings before made."""
    made = 0
    for turn, (workers, in_flight) in enumerate(settings):
        env = operator_settings(workers, in_flight)
        operator = hub.operator(work / f"operator-{workers}-{in_flight}.log", env)
        operator.start()
        wait_until(functools.partial(reconciled, operator, made), timeout=1800, interval=0.5)
        time.sleep(5)
        load = Path("/proc/loadavg").read_text().split()[0]
        f = provision(hub, operator, n, f"s{turn}-w{workers}-f{in_flight}", None)
        made += n
        print(
            f"workers {workers:3d}, in flight {in_flight:3d}: {f['t_operator']:6.1f} s "
            f"(apply {f['t_applied']:5.1f} s, {f['ready_at_applied']} Ready then; webhook "
            f"{f['webhook_ms']:.0f} ms) writes {f['writes']:.0f}, operator CPU "
            f"{f['cpu_seconds']:.0f} s, hub CPU {hub_cpu_line(f['hub_cpu'])}; load {load}",
            flush=True,
        )
        operator.stop()
        remove_webhooks(hub)


def hub_cpu_line(used: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.0f} s" for name, seconds in used.items())


def prepare(hub: BenchHub, namespace: str) -> None:
    """CRDs, the operator's namespace, and what the operator installs once for all spaces."""
    hub.kubectl("apply", "--server-side", "--field-manager=tds-operator", "-f", str(REPO / "crds"))
    hub.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    config = OperatorConfig.from_environment({})
    shared = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        *space_roles(),
        *space_admission_policies(config.hub_rules),
    ]
    hub.kubectl(
        "apply", "--server-side", "--field-manager=tds-operator", "-f", "-", stdin=documents(shared)
    )


def children_per_space(namespace: str) -> int:
    """How many objects the operator makes for one of the benchmark's spaces."""
    body = spaces(1)[0]
    space = DataSpace.model_validate({**body, "metadata": {**body["metadata"], "uid": "0"}})
    return len(space_children(space, [])) + len(space_ledger_access(space, [], namespace))


def report(n: int, clients: int, idle: int, namespace: str, f: dict[str, Any]) -> None:
    children = children_per_space(namespace)
    minimal = n * (children + 1)
    # The operator promises an Event of each Ready transition (`kubectl describe`): one a space.
    promised = minimal + n
    print(f"\n== {n} DataSpaces ({children} children each) ==")
    print(
        f"by hand, one apply:        {f['t_by_hand']:8.1f} s  (the DataSpaces before, with no "
        f"operator: {f['t_spaces_alone']:.1f} s)"
    )
    print(f"by hand, {clients} clients:        {f['t_parallel']:8.1f} s")
    print(
        f"operator, apply → Ready:   {f['t_operator']:8.1f} s  (the apply of the DataSpaces "
        f"itself: {f['t_applied']:.1f} s, {f['ready_at_applied']} Ready then; webhook calls "
        f"{f['webhook_ms']:.0f} ms on average)"
    )
    print(f"T_by_hand / T_operator:    {f['t_by_hand'] / f['t_operator']:8.2f}")
    print(f"T_{clients}_clients / T_operator: {f['t_parallel'] / f['t_operator']:8.2f}")
    print(
        f"operator writes:           {f['writes']:8.0f}  (minimal {minimal:.0f}: "
        f"{f['writes'] / minimal:.2f}x; with the Ready Event {promised:.0f}: "
        f"{f['writes'] / promised:.2f}x)  {f['writes_by_kind']}"
    )
    print(
        f"DataSpace reconciles:      {f['reconciles']:8.0f}  ({f['reconciles'] / n:.2f} per space)"
    )
    print(f"writes in {idle} idle seconds: {f['idle_writes']:8.0f}")
    print(
        f"restart: writes            {f['restart_writes']:8.0f}, every space reconciled in "
        f"{f['t_restart']:.1f} s"
    )
    print(
        f"operator peak RSS:         {f['rss_mib']:8.0f} MiB (after restart "
        f"{f['restart_rss_mib']:.0f} MiB); CPU {f['cpu_seconds']:.0f} s provisioning"
    )
    print(f"hub CPU while provisioning: {hub_cpu_line(f['hub_cpu'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--idle", type=int, default=60)
    parser.add_argument("--hub-dir", type=Path, default=REPO / ".hub-bench")
    parser.add_argument(
        "--profile", type=Path, help="record the operator's provisioning with py-spy into this file"
    )
    parser.add_argument(
        "--operator-only", action="store_true", help="skip the by-hand runs (to tune the operator)"
    )
    parser.add_argument("--keep-hub", action="store_true", help="leave the hub running")
    parser.add_argument("--workers", type=int, help="the operator's space workers (its default: 4)")
    parser.add_argument(
        "--in-flight", type=int, help="the operator's requests in flight (its default: 8)"
    )
    parser.add_argument(
        "--sweep",
        help="instead: provision N spaces with each WORKERS:IN_FLIGHT in turn, e.g. 4:8,8:16",
    )
    args = parser.parse_args()
    hub = BenchHub(args.hub_dir)
    work = args.hub_dir.with_name(args.hub_dir.name + "-work")
    work.mkdir(exist_ok=True)
    namespace = OperatorConfig.from_environment({}).namespace
    hub.up()
    try:
        prepare(hub, namespace)
        if args.sweep:
            settings = [tuple(map(int, pair.split(":"))) for pair in args.sweep.split(",")]
            sweep(hub, args.spaces, work, settings)  # type: ignore[arg-type]
            return
        nothing = float("nan")
        figures = (
            {"t_by_hand": nothing, "t_parallel": nothing, "t_spaces_alone": nothing}
            if args.operator_only
            else by_hand(hub, args.spaces, args.clients, work, namespace)
        )
        env = operator_settings(args.workers, args.in_flight)
        figures |= by_operator(hub, args.spaces, args.idle, work, args.profile, env)
        report(args.spaces, args.clients, args.idle, namespace, figures)
    finally:
        if not args.keep_hub:
            hub.down()


if __name__ == "__main__":
    main()
