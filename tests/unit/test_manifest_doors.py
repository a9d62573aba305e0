"""Raw data hidden in an output beside an approved model: the manifest the provider approves
must change with everything the volume holds, or there must be no manifest at all. These run the
manifest step's own code on a real directory, as the manifest user (uid 1000) where the tests
run as root."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tds_operator.output_manifest import UNREADABLE_MESSAGE, Unreadable, main, manifest_entries
from tds_operator.policy.manifest import manifest_digest

pytestmark = pytest.mark.unit

WORKER = 1000
"""The uid of the workers and of the manifest step."""


@pytest.fixture
def volume() -> Iterator[Path]:
    """A model as a worker leaves it, in a directory the manifest user can reach."""
    root = Path(tempfile.mkdtemp(prefix="tds-output-"))
    root.chmod(0o755)
    (root / "model").mkdir(mode=0o755)
    (root / "model" / "weights.bin").write_bytes(b"\x00\x01" * 512)
    (root / "README").write_text("a model\n")
    for path in (root, root / "model", root / "model" / "weights.bin", root / "README"):
        path.chmod(0o755 if path.is_dir() else 0o644)
        if os.geteuid() == 0:
            os.chown(path, WORKER, WORKER)
    yield root
    for directory, _, _ in os.walk(root):
        Path(directory).chmod(0o755)
    shutil.rmtree(root)


def digest(root: Path) -> str:
    return manifest_digest(manifest_entries(root))


def as_manifest_user(root: Path) -> str:
    """The digest the step finds as uid 1000, or "unreadable"."""
    if os.geteuid() != 0:
        try:
            return digest(root)
        except Unreadable:
            return "unreadable"
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.close(read)
        try:
            os.setgid(WORKER)
            os.setuid(WORKER)
            answer = digest(root)
        except Unreadable:
            answer = "unreadable"
        except BaseException as error:
            answer = f"error: {error!r}"
        os.write(write, answer.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as stream:
        answer = stream.read()
    os.waitpid(child, 0)
    return answer


def test_raw_rows_in_a_directory_name_change_the_digest(volume: Path) -> None:
    clean = digest(volume)
    assert digest(volume) == clean  # positive control: the same volume, the same digest
    (volume / "model" / "4111111111111111,alice,1987-02-03").mkdir(mode=0o755)
    assert digest(volume) != clean


def test_a_mode_changes_the_digest(volume: Path) -> None:
    clean = digest(volume)
    (volume / "README").chmod(0o600)  # permission bits are bits a workload chooses
    assert digest(volume) != clean


def test_an_unreadable_directory_leaves_no_manifest(volume: Path) -> None:
    clean = as_manifest_user(volume)
    assert clean.startswith("sha256:"), clean  # positive control: all readable, a manifest
    hidden = volume / "model" / "cache"
    hidden.mkdir()
    (hidden / "rows.csv").write_text("4111111111111111,alice,1987-02-03\n")
    if os.geteuid() == 0:
        os.chown(hidden, WORKER, WORKER)
    hidden.chmod(0o000)
    assert as_manifest_user(volume) == "unreadable"


def test_an_unreadable_file_leaves_no_manifest(volume: Path) -> None:
    (volume / "README").chmod(0o000)
    assert as_manifest_user(volume) == "unreadable"


def test_the_failure_names_no_path_the_workload_chose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its message reaches the job's status: it is fixed text, the path only in the log."""

    def unreadable(root: Path) -> list[dict[str, object]]:
        raise Unreadable(str(root / "4111111111111111,alice"))

    monkeypatch.setattr("tds_operator.output_manifest.manifest_entries", unreadable)
    assert main([str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out.strip() == UNREADABLE_MESSAGE
    assert "4111111111111111" in captured.err
