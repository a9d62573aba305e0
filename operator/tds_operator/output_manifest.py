"""`python -m tds_operator.output_manifest DIR`: the manifest of an output volume (every file's
path, size and sha256, sorted by path; symbolic links reported, never followed), printed and
written to the container's termination message. Run by the operator, from its own image, in the
clean room with the output mounted read-only, before the output can be released."""

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


def entry(root: Path, path: Path) -> dict[str, Any]:
    """One path's manifest entry, from its own metadata (a link is not followed)."""
    relative = path.relative_to(root).as_posix()
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        return {"path": relative, "symlink": os.readlink(path)}
    if stat.S_ISREG(mode):
        return {"path": relative, "size": path.stat().st_size, "sha256": file_digest(path)}
    return {"path": relative, "type": "other"}


def manifest_entries(root: Path) -> list[dict[str, Any]]:
    """Every file, link and special file under `root`, sorted by path (directories are walked,
    not listed; a link to a directory is listed, not walked)."""
    entries = []
    for directory, subdirectories, files in os.walk(root, followlinks=False):
        here = Path(directory)
        for name in subdirectories:
            if (here / name).is_symlink():
                entries.append(entry(root, here / name))
        entries.extend(entry(root, here / name) for name in files)
    return sorted(entries, key=lambda item: str(item["path"]))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tds_operator.output_manifest DIR", file=sys.stderr)
        return 2
    message = termination_message(manifest_entries(Path(argv[0])))
    print(message)
    if TERMINATION_LOG.exists():  # the kubelet's file, in a pod
        TERMINATION_LOG.write_text(message)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
