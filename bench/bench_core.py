"""Benchmarks of the pure core: audit ledger and admission. Run with `make bench`.

Machines here are small and noisy, so each figure is reported with a ratio measured in the same
run (e.g. verifying 10x the entries should cost about 10x the time: the ledger is linear).
"""

from __future__ import annotations

import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tds_operator.api.datacontract import DataContract
from tds_operator.api.trainingjob import TrainingJobSpec
from tds_operator.audit.chain import AuditEvent, decode_entries, encode_entries, extend, verify
from tds_operator.policy.training import AdmissionInput, admit_training_job

START = datetime(2027, 1, 1, tzinfo=UTC)


def best_of(repeats: int, work: Callable[[], object]) -> float:
    """The fastest of `repeats` runs, in seconds (the least disturbed by other load)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def ledger(entries: int) -> dict[str, str]:
    events = [
        AuditEvent(
            id=f"usage/job-{n % 50}/{n}",
            kind="UsageMetered",
            contract="sgcc-to-cmcc-load",
            actor="tds-operator",
            at=START + timedelta(seconds=n),
            details={"uid": f"job-{n % 50}", "gpuSeconds": n * 16},
        )
        for n in range(entries)
    ]
    return encode_entries(extend([], events))


def bench_ledger() -> None:
    print("audit ledger: decode + verify (best of 3)")
    rows = []
    for size in (1_000, 10_000):
        data = ledger(size)
        seconds = best_of(3, lambda d=data: verify(decode_entries(d).entries))
        tracemalloc.start()
        verify(decode_entries(data).entries)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows.append((size, seconds, peak))
        print(
            f"  {size:>6} entries: {seconds * 1e3:8.1f} ms, {seconds / size * 1e6:6.1f} us/entry, "
            f"peak {peak / 2**20:6.1f} MiB"
        )
    (small, t_small, m_small), (large, t_large, m_large) = rows
    print(
        f"  ratio {large // small}x entries -> {t_large / t_small:.1f}x time, "
        f"{m_large / m_small:.1f}x memory"
    )


def bench_admission() -> None:
    contract = DataContract.model_validate(
        {
            "metadata": {"name": "sgcc-to-cmcc-load"},
            "spec": {
                "provider": {"space": "sgcc", "datasets": ["grid-load-2025"]},
                "consumer": {"space": "cmcc"},
                "validity": {"notAfter": "2027-03-01T00:00:00Z"},
                "compute": {"maxGpuHours": 500, "maxConcurrentGpus": 16},
                "consent": {"provider": {"approved": True}, "consumer": {"approved": True}},
            },
        }
    )
    job = TrainingJobSpec.model_validate(
        {"contract": "sgcc-to-cmcc-load", "image": "r/forecast:1", "workers": 2, "gpusPerWorker": 8}
    )
    case = AdmissionInput(job, "tds-cmcc", contract, "Active", 0, 3, 12.5)
    denied = AdmissionInput(job, "tds-cmcc", contract, "Active", 8, 3, 12.5)
    rounds = 20_000
    admit = best_of(3, lambda: [admit_training_job(case) for _ in range(rounds)])
    deny = best_of(3, lambda: [admit_training_job(denied) for _ in range(rounds)])
    print("admission decision (all eight terms checked, best of 3)")
    print(f"  admitted: {admit / rounds * 1e6:6.1f} us per decision")
    print(f"  denied at the last term: {deny / rounds * 1e6:6.1f} us ({deny / admit:.2f}x)")


def main() -> None:
    samples = [best_of(1, lambda: sum(range(10_000))) for _ in range(5)]
    print(f"machine noise: {statistics.pstdev(samples) / statistics.mean(samples):.0%} spread\n")
    bench_ledger()
    print()
    bench_admission()


if __name__ == "__main__":
    main()
