"""The manifest of an output: the module the operator's image runs on the volume, the message it
leaves, what the operator reads back from the pod, and the approval's binding to it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tds_operator.output_manifest import main, manifest_entries
from tds_operator.policy.manifest import (
    MANIFEST_MISMATCH,
    MESSAGE_LIMIT,
    NO_MANIFEST,
    ManifestSummary,
    approval_binds_manifest,
    manifest_digest,
    manifest_outcome,
    read_message,
    termination_message,
)

pytestmark = pytest.mark.unit


def model_directory(root: Path) -> Path:
    (root / "b").mkdir()
    (root / "b" / "weights.bin").write_bytes(b"w" * 100)
    (root / "a.txt").write_text("hello")
    (root / "link").symlink_to("/etc/passwd")
    (root / "dir-link").symlink_to("b")
    return root


def test_entries_are_sorted_with_types_modes_sizes_and_sha256_and_links_not_followed(
    tmp_path: Path,
) -> None:
    tmp_path.chmod(0o755)
    model_directory(tmp_path)
    (tmp_path / "b").chmod(0o750)
    entries = manifest_entries(tmp_path)
    file_mode = f"{(tmp_path / 'a.txt').stat().st_mode & 0o777:04o}"
    assert entries == [
        {"path": ".", "mode": "0755", "type": "dir"},
        {
            "path": "a.txt",
            "mode": file_mode,
            "type": "file",
            "size": 5,
            "sha256": hashlib.sha256(b"hello").hexdigest(),
        },
        {"path": "b", "mode": "0750", "type": "dir"},
        {
            "path": "b/weights.bin",
            "mode": file_mode,
            "type": "file",
            "size": 100,
            "sha256": hashlib.sha256(b"w" * 100).hexdigest(),
        },
        {"path": "dir-link", "mode": "0777", "type": "symlink", "symlink": "b"},
        {"path": "link", "mode": "0777", "type": "symlink", "symlink": "/etc/passwd"},
    ]


def test_the_message_lists_every_entry_and_reads_back(tmp_path: Path) -> None:
    entries = manifest_entries(model_directory(tmp_path))
    message = termination_message(entries)
    assert json.loads(message)["entries"] == entries
    assert read_message(message) == ManifestSummary(manifest_digest(entries), 6, 105, listed=True)


def test_the_digest_changes_with_any_byte(tmp_path: Path) -> None:
    before = manifest_digest(manifest_entries(model_directory(tmp_path)))
    (tmp_path / "a.txt").write_text("hellO")
    assert manifest_digest(manifest_entries(tmp_path)) != before


def test_a_manifest_too_large_for_the_message_keeps_its_digest_count_and_bytes(
    tmp_path: Path,
) -> None:
    for index in range(100):
        (tmp_path / f"shard-{index:03}.bin").write_bytes(b"x" * index)
    entries = manifest_entries(tmp_path)
    message = termination_message(entries)
    assert len(message.encode()) <= MESSAGE_LIMIT
    assert "entries" not in json.loads(message)
    assert read_message(message) == ManifestSummary(
        manifest_digest(entries), 101, sum(range(100)), listed=False
    )


def test_a_listed_message_whose_digest_is_not_its_entries_is_not_a_manifest(tmp_path: Path) -> None:
    data = json.loads(termination_message(manifest_entries(model_directory(tmp_path))))
    data["entries"][0]["size"] = 6
    data["bytes"] += 1
    assert read_message(json.dumps(data)) is None
    assert read_message("simulated failure") is None
    assert read_message('{"digest": "md5:x", "files": 1, "bytes": 1}') is None


def test_main_prints_the_message(tmp_path: Path, capsys: object) -> None:
    assert main([str(model_directory(tmp_path))]) == 0
    printed = capsys.readouterr().out  # type: ignore[attr-defined]
    assert read_message(printed.strip()) is not None


def pod(state: dict[str, object], phase: str = "Running") -> dict[str, object]:
    return {"status": {"phase": phase, "containerStatuses": [{"name": "manifest", "state": state}]}}


def test_the_pod_says_nothing_until_its_container_ends(tmp_path: Path) -> None:
    assert manifest_outcome(pod({"running": {}})) is None
    assert manifest_outcome({"status": {"phase": "Pending"}}) is None
    message = termination_message(manifest_entries(model_directory(tmp_path)))
    ended = pod({"terminated": {"exitCode": 0, "message": message}}, "Succeeded")
    assert isinstance(manifest_outcome(ended), ManifestSummary)


def test_a_failed_or_silent_step_says_why_there_is_no_manifest() -> None:
    failed = pod({"terminated": {"exitCode": 1, "reason": "Error", "message": "EIO"}}, "Failed")
    assert "failed (exit code 1, Error): EIO" in str(manifest_outcome(failed))
    silent = pod({"terminated": {"exitCode": 0, "reason": "Completed"}}, "Succeeded")
    assert "not a manifest" in str(manifest_outcome(silent))
    deadline = {"status": {"phase": "Failed", "reason": "DeadlineExceeded"}}
    assert "DeadlineExceeded" in str(manifest_outcome(deadline))


def test_an_approval_binds_to_the_recorded_manifest() -> None:
    digest, other = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    assert approval_binds_manifest("Approved", None, digest).allowed
    assert approval_binds_manifest("Approved", digest, digest).allowed
    mismatch = approval_binds_manifest("Approved", other, digest)
    assert mismatch.reason == MANIFEST_MISMATCH
    assert other in mismatch.message
    assert digest in mismatch.message
    assert approval_binds_manifest("Approved", None, None).reason == NO_MANIFEST
    assert approval_binds_manifest("Rejected", None, None).allowed
