"""The kind build's helpers on this machine (hack/kind/lib.sh): its Debian images come from the
machine's own Debian mirror, as its apt sources name it (`debian_mirror`: no mirror is written
into the project), and what it builds is named by a digest of its inputs that every clone shares
(`inputs_digest`)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

LIB = Path(__file__).parents[2] / "hack" / "kind" / "lib.sh"


def mirror(etc: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "DEBIAN_MIRROR"}
    environment.update(APT_ETC=str(etc), **env)
    return subprocess.run(
        ["bash", "-c", f". {LIB} && debian_mirror"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_first_archive_of_deb822_sources_is_used_not_the_security_one(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n"
    )
    result = mirror(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "http://mirror.example/debian"


def test_one_line_sources_are_read_options_and_all(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "# a comment\ndeb [signed-by=/k.gpg] https://local.example/debian bookworm main\n"
    )
    assert mirror(tmp_path).stdout.strip() == "https://local.example/debian"


def test_debian_mirror_overrides_the_sources_and_none_at_all_fails(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text("deb http://mirror.example/debian bookworm main\n")
    chosen = mirror(tmp_path, DEBIAN_MIRROR="http://other.example/debian")
    assert chosen.stdout.strip() == "http://other.example/debian"
    empty = tmp_path / "empty"
    empty.mkdir()
    none = mirror(empty)
    assert none.returncode != 0
    assert none.stdout == ""


def digest(*items: Path | str) -> str:
    result = subprocess.run(
        ["bash", "-c", f'. {LIB} && inputs_digest "$@"', "digest", *map(str, items)],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_an_inputs_digest_is_the_same_in_every_clone_and_moves_with_a_files_content(
    tmp_path: Path,
) -> None:
    """Images and cached binaries are named by the digest of their inputs: a fresh clone
    elsewhere (as CI's are) must find what another clone built, and an edit must not."""
    clones = [tmp_path / "one" / "images", tmp_path / "elsewhere" / "two" / "images"]
    for clone in clones:
        (clone / "trainer").mkdir(parents=True)
        (clone / "trainer" / "train.py").write_text("print('fit')\n")
        (clone / "pause.c").write_text("int main(void) { return 0; }\n")
    first, second = (digest(c / "trainer", c / "pause.c", "bookworm") for c in clones)
    assert first == second
    (clones[1] / "trainer" / "train.py").write_text("print('fit twice')\n")
    assert digest(clones[1] / "trainer", clones[1] / "pause.c", "bookworm") != first
    assert digest(clones[0] / "trainer", clones[0] / "pause.c", "trixie") != first
