"""What the chaos campaign watches while it runs: every worker pod's own start and finish (or
deletion) and the moment each TrainingJob reached its final phase. Watches resume after the API
server restarts (a relist; what happened in the gap is read from the relisted objects)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubernetes import client, watch

from bench.chaos.judge import FINAL_PHASES
from bench.hubkit.manifests import GROUP, VERSION

JOB_LABEL = "tds.io/training-job"
MANIFEST_LABEL = "tds.io/output-manifest"


@dataclass
class PodSeen:
    """A worker pod as last seen: its job, GPUs, start, and finish or deletion if seen."""

    job: tuple[str, str]
    gpus: int
    start: float | None = None
    end: float | None = None


def _stamp(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return None


def _watch_forever(
    done: threading.Event, lister: Callable[..., Any], handle: Callable[[str, Any], None], **kw: Any
) -> None:
    """List-then-watch `lister` until `done`, starting over whenever the stream breaks."""
    while not done.is_set():
        try:
            listed = lister(**kw, _request_timeout=10)
            items = listed["items"] if isinstance(listed, dict) else listed.items
            for item in items:
                handle("LISTED", item)
            version = (
                listed["metadata"]["resourceVersion"]
                if isinstance(listed, dict)
                else listed.metadata.resource_version
            )
            stream: Iterator[dict[str, Any]] = watch.Watch().stream(
                lister, resource_version=version, timeout_seconds=30, **kw
            )
            for event in stream:
                handle(event["type"], event["object"])
                if done.is_set():
                    return
        except Exception:  # the API server restarting; list again
            time.sleep(0.5)


class Observer:
    """Watches worker pods and TrainingJobs across namespaces in two threads."""

    def __init__(self, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.done = threading.Event()
        self.pods: dict[str, PodSeen] = {}
        self.finished_seen: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._watch_pods, daemon=True),
            threading.Thread(target=self._watch_jobs, daemon=True),
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.done.set()

    def _watch_pods(self) -> None:
        _watch_forever(
            self.done,
            self.core.list_pod_for_all_namespaces,
            self._pod,
            label_selector=f"{JOB_LABEL},!{MANIFEST_LABEL}",
        )

    def _watch_jobs(self) -> None:
        _watch_forever(
            self.done,
            lambda **kw: self.custom.list_cluster_custom_object(
                GROUP, VERSION, "trainingjobs", **kw
            ),
            self._job,
        )

    def _pod(self, kind: str, pod: client.V1Pod) -> None:
        labels = pod.metadata.labels or {}
        job = (labels.get("tds.io/training-job-namespace", ""), labels.get(JOB_LABEL, ""))
        gpus = sum(
            int((c.resources.limits or {}).get("nvidia.com/gpu", 0))
            for c in pod.spec.containers
            if c.resources
        )
        with self.lock:
            seen = self.pods.setdefault(pod.metadata.uid, PodSeen(job, gpus))
            for status in pod.status.container_statuses or []:
                if status.state.running is not None:
                    seen.start = _stamp(status.state.running.started_at) or seen.start
                if status.state.terminated is not None:
                    seen.start = _stamp(status.state.terminated.started_at) or seen.start
                    # A container finishes once: the first finish seen stands (the hub's pod
                    # simulator, re-listing after an API server restart, may apply a pod's
                    # completion again from its stale cache and rewrite finishedAt later).
                    finished = _stamp(status.state.terminated.finished_at)
                    seen.end = min(seen.end, finished) if seen.end and finished else finished
            deleted = _stamp(pod.metadata.deletion_timestamp)
            if seen.end is None and deleted is not None:
                # The API server sets it to the deletion request plus the grace period.
                seen.end = deleted - (pod.metadata.deletion_grace_period_seconds or 0)
            if seen.end is None and kind == "DELETED":
                seen.end = time.time()

    def _job(self, kind: str, job: dict[str, Any]) -> None:
        key = (job["metadata"]["namespace"], job["metadata"]["name"])
        phase = (job.get("status") or {}).get("phase")
        with self.lock:
            if (phase in FINAL_PHASES or kind == "DELETED") and key not in self.finished_seen:
                self.finished_seen[key] = time.time()

    def pods_of(self, namespace: str, name: str) -> list[PodSeen]:
        with self.lock:
            return [seen for seen in self.pods.values() if seen.job == (namespace, name)]
