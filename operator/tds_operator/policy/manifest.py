"""An output's manifest: every file's path, size and sha256, in a canonical form whose digest a
provider's approval binds to. Built in the clean room by the operator's own image
(tds_operator.output_manifest) and read back from its container's termination message. Pure."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from tds_operator.policy.decision import Decision

MESSAGE_LIMIT: Final = 4096
"""The kubelet keeps at most this many bytes of a container's termination message."""
DIGEST_PREFIX: Final = "sha256:"


def canonical(value: Any) -> str:
    """The one JSON text of a value: sorted keys, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def manifest_digest(entries: list[dict[str, Any]]) -> str:
    """The digest of a manifest: sha256 of the canonical JSON of its entries, sorted by path."""
    ordered = sorted(entries, key=lambda entry: str(entry.get("path")))
    return DIGEST_PREFIX + hashlib.sha256(canonical(ordered).encode()).hexdigest()


@dataclass(frozen=True)
class ManifestSummary:
    """What the ledger records of a manifest."""

    digest: str
    files: int
    bytes: int
    listed: bool
    """Whether the message carried every entry (False: only the digest, as it was too large)."""


def termination_message(entries: list[dict[str, Any]]) -> str:
    """The manifest as the container's termination message: its digest, file count and total
    bytes, with every entry when that fits in MESSAGE_LIMIT bytes (else without them)."""
    ordered = sorted(entries, key=lambda entry: str(entry.get("path")))
    summary = {
        "digest": manifest_digest(ordered),
        "files": len(ordered),
        "bytes": sum(int(entry.get("size") or 0) for entry in ordered),
    }
    whole = canonical({**summary, "entries": ordered})
    return whole if len(whole.encode()) <= MESSAGE_LIMIT else canonical(summary)


def read_message(message: str) -> ManifestSummary | None:
    """The manifest a termination message states, or None if it is not one. When it lists its
    entries, the digest, count and bytes must be theirs."""
    try:
        data = json.loads(message)
        digest, files, size = str(data["digest"]), int(data["files"]), int(data["bytes"])
    except (ValueError, TypeError, KeyError):
        return None
    if not digest.startswith(DIGEST_PREFIX) or files < 0 or size < 0:
        return None
    entries = data.get("entries")
    if entries is None:
        return ManifestSummary(digest, files, size, listed=False)
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        return None
    total = sum(int(entry.get("size") or 0) for entry in entries)
    if manifest_digest(entries) != digest or len(entries) != files or total != size:
        return None
    return ManifestSummary(digest, files, size, listed=True)


MANIFEST_CONTAINER: Final = "manifest"


def manifest_outcome(pod: Mapping[str, Any]) -> ManifestSummary | str | None:
    """What the manifest step's pod says: None while it has not ended, the manifest its
    container's termination message states, or why there is none."""
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated")
        if container.get("name") != MANIFEST_CONTAINER or terminated is None:
            continue
        if terminated.get("exitCode") != 0:
            return (
                f"the manifest step failed (exit code {terminated.get('exitCode')}, "
                f"{terminated.get('reason') or 'no reason'}): {terminated.get('message') or ''}"
            ).rstrip(": ")
        summary = read_message(str(terminated.get("message") or ""))
        return summary or "the manifest step's termination message is not a manifest"
    if status.get("phase") == "Failed":
        return f"the manifest step failed: {status.get('reason') or status.get('message') or ''}"
    return None


MANIFEST_MISMATCH: Final = "ManifestMismatch"
NO_MANIFEST: Final = "NoManifest"


def approval_binds_manifest(decision: str, named: str | None, recorded: str | None) -> Decision:
    """An approval approves one manifest: the output's own. Without one, an output can be
    rejected, never approved; a digest named by the reviewer must be the output's."""
    if decision != "Approved":
        return Decision.allow("NotAnApproval", "a rejection binds to no manifest")
    if recorded is None:
        return Decision.deny(
            NO_MANIFEST,
            "the output has no manifest (its TrainingJob's status.output.manifestMessage says "
            "why): spec.review.decision can be Rejected, not Approved",
        )
    if named is not None and named != recorded:
        return Decision.deny(
            MANIFEST_MISMATCH,
            f"spec.review.manifestDigest {named} is not the output's manifest {recorded} "
            "(the ModelRelease's status.manifestDigest): approve the manifest the "
            "output has, or leave the field out",
        )
    return Decision.allow("ManifestApproved", f"approves the output's manifest {recorded}")


TERMINAL_POD_PHASES: Final = frozenset({"Succeeded", "Failed"})


def claim_writers(pods: Iterable[Mapping[str, Any]], claim: str, *, manifest_pod: str) -> list[str]:
    """The pods, other than the manifest step's own, that may still write to the output claim:
    those that mount it and whose containers have not all ended (a worker in its termination
    grace period is still Running). The manifest is taken only once there is none: a byte
    written after the hash would leave the clean room unlisted."""
    writers = []
    for pod in pods:
        name = str((pod.get("metadata") or {}).get("name") or "")
        if name == manifest_pod:
            continue
        if ((pod.get("status") or {}).get("phase")) in TERMINAL_POD_PHASES:
            continue
        volumes = (pod.get("spec") or {}).get("volumes") or []
        if any((v.get("persistentVolumeClaim") or {}).get("claimName") == claim for v in volumes):
            writers.append(name)
    return sorted(writers)


WRITERS_WAIT_SECONDS: Final = 60
"""How long after a job's end the manifest step waits for pods that may still write to its
output (a stopped worker in its termination grace period, 1 s, or one whose node no longer
answers): past it, the output is not listed, and so never approved."""
WRITERS_OVERDUE: Final = (
    f"not listed: a pod of the clean room could still write to the output {WRITERS_WAIT_SECONDS} "
    "s after the job ended, so no manifest can cover what it holds; it cannot be approved and "
    "is discarded when its retention passes"
)


def writers_overdue(writers: list[str], ended: datetime | None, now: datetime) -> str | None:
    """Why the output is not listed, once pods that may still write to it (`writers`) have
    outlived the job's end (`ended`) by WRITERS_WAIT_SECONDS; None while they may yet end."""
    if not writers or ended is None:
        return None
    return WRITERS_OVERDUE if (now - ended).total_seconds() >= WRITERS_WAIT_SECONDS else None
