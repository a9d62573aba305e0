"""`python -m tds_operator.output_manifest DIR`: the manifest of an output volume (every entry,
directories included, with its type and permission bits, a file's size and sha256, a link's
target, sorted by path; links reported, never followed), printed and written to the container's
termination message; if any entry cannot be read, no manifest but a failure. Run by the
operator, from its own image, in the clean room with the output mounted read-only, before the
output can be released."""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from pathlib import Path
from typing import Any

from tds_operator.policy.manifest import termination_message

TERMINATION_LOG = Path("/dev/termination-log")
CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    """The sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class Unreadable(Exception):
    """An entry of the output the step cannot read: there is no manifest of it."""


def entry(root: Path, path: Path) -> dict[str, Any]:
    """One path's manifest entry, from its own metadata (a link is not followed): its type and
    permission bits, and a file's size and sha256 or a link's target."""
    relative = path.relative_to(root).as_posix()
    mode = os.lstat(path).st_mode
    described: dict[str, Any] = {"path": relative, "mode": f"{stat.S_IMODE(mode):04o}"}
    if stat.S_ISLNK(mode):
        return {**described, "type": "symlink", "symlink": os.readlink(path)}
    if stat.S_ISREG(mode):
        size, sha256 = path.stat().st_size, file_digest(path)
        return {**described, "type": "file", "size": size, "sha256": sha256}
    if stat.S_ISDIR(mode):
        return {**described, "type": "dir"}
    return {**described, "type": "other"}


def _unreadable(error: OSError) -> None:
    raise Unreadable(error.filename) from error


def manifest_entries(root: Path) -> list[dict[str, Any]]:
    """Every entry under `root`, `root` itself (path ".") and every directory included, sorted
    by path; a link to a directory is listed, not walked. Any entry that cannot be read raises
    Unreadable: a manifest that skipped it would describe less than the volume holds."""
    try:
        entries = [entry(root, root)]
        for directory, subdirectories, files in os.walk(root, onerror=_unreadable):
            here = Path(directory)
            entries.extend(entry(root, here / name) for name in [*subdirectories, *files])
    except OSError as error:
        raise Unreadable(error.filename) from error
    return sorted(entries, key=lambda item: str(item["path"]))


UNREADABLE_MESSAGE = (
    "the output holds an entry the manifest step cannot read: no manifest, so the output cannot "
    "be approved (the path is in the step's log, not here: it is the workload's text)"
)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tds_operator.output_manifest DIR", file=sys.stderr)
        return 2
    try:
        message, code = termination_message(manifest_entries(Path(argv[0]))), 0
    except Unreadable as error:
        print(f"cannot read {error}", file=sys.stderr)
        message, code = UNREADABLE_MESSAGE, 1
    print(message)
    if TERMINATION_LOG.exists():  # the kubelet's file, in a pod
        TERMINATION_LOG.write_text(message)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
