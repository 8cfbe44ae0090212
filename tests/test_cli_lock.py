"""`lock`, `update` and `outdated` through the installed command, where no registry is needed:
every broken lock file is one line naming the problem (and its line), exit 2; a write that
fails or is interrupted leaves the previous lock byte-identical and no temporary file behind."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from imagelock.cli import main
from imagelock.lockfile import Lock, LockEntry, dumps
from tests.conftest import CliRunner, assert_one_line_error, write_files

D = {c: "sha256:" + c * 64 for c in "abcdef0123456789"}
INDEX = "application/vnd.oci.image.index.v1+json"
RUBY = LockEntry(
    "docker.io/library/ruby",
    "3.3",
    D["a"],
    INDEX,
    ("Dockerfile",),
    {"linux/amd64": D["b"], "linux/arm64": D["c"]},
)
ALPINE = LockEntry(
    "docker.io/library/alpine", "3.19", D["d"], INDEX, ("Dockerfile",), {"linux/amd64": D["e"]}
)
GOOD = dumps(Lock((ALPINE, RUBY)))


def lock_text() -> list[str]:
    return GOOD.splitlines(keepends=True)


def line_of(prefix: str, nth: int = 0) -> int:
    """1-based number of the nth line of GOOD starting with prefix."""
    numbers = [n for n, line in enumerate(GOOD.splitlines(), 1) if line.startswith(prefix)]
    return numbers[nth]


def replaced(prefix: str, new: str, nth: int = 0) -> str:
    lines = lock_text()
    lines[line_of(prefix, nth) - 1] = new + "\n"
    return "".join(lines)


def removed(prefix: str, nth: int = 0) -> str:
    lines = lock_text()
    del lines[line_of(prefix, nth) - 1]
    return "".join(lines)


def duplicated_second_entry() -> str:
    second = GOOD[GOOD.index("[[image]]", GOOD.index("[[image]]") + 1) :]
    return GOOD + "\n" + second


ARM64_LINE = line_of('"linux/arm64"')

BROKEN = {
    "newer version": (
        GOOD.replace("version = 1", "version = 2"),
        ["images.lock:2:", "version 2", "newer imagelock"],
    ),
    "unknown version": (
        GOOD.replace("version = 1", "version = 0"),
        ["images.lock:2:", "unknown lock version 0"],
    ),
    "version not an integer": (
        GOOD.replace("version = 1", 'version = "1"'),
        ["images.lock:2:", "`version` must be an integer"],
    ),
    "missing version": (GOOD.replace("version = 1\n", ""), ["images.lock:", "missing `version`"]),
    "missing name": (
        removed("name = "),
        [f"images.lock:{line_of('[[image]]')}:", "image 1", "missing `name`"],
    ),
    "missing digest": (
        removed("digest = ", 1),
        ["image 2 (docker.io/library/ruby:3.3)", "missing `digest`"],
    ),
    "missing media-type": (removed("media-type = "), ["image 1", "missing `media-type`"]),
    "missing sources": (removed("sources = "), ["image 1", "missing `sources`"]),
    "missing platforms": (removed("[image.platforms]", 1), ["image 2", "missing `platforms`"]),
    "malformed digest": (
        replaced("digest = ", 'digest = "sha256:1234"', 1),
        [f"images.lock:{line_of('digest = ', 1)}:", "malformed digest 'sha256:1234'"],
    ),
    "upper-case digest": (
        replaced("digest = ", f'digest = "{D["a"].upper().replace("SHA256", "sha256")}"'),
        ["malformed digest"],
    ),
    "malformed platform": (
        replaced('"linux/arm64"', f'"linux" = "{D["c"]}"'),
        [f"images.lock:{ARM64_LINE}:", "invalid platform 'linux'"],
    ),
    "malformed platform digest": (
        replaced('"linux/arm64"', '"linux/arm64" = "sha512:00"'),
        [f"images.lock:{ARM64_LINE}:", "platform 'linux/arm64'", "malformed"],
    ),
    "non-canonical name": (
        replaced("name = ", 'name = "ruby"', 1),
        ["image 2", "invalid name 'ruby'", "canonical"],
    ),
    "duplicate entry": (
        duplicated_second_entry(),
        ["image 3 (docker.io/library/ruby:3.3)", "duplicate of image 2"],
    ),
    "TOML syntax error": (
        replaced("tag = ", 'tag = "3.3', 1),
        [f"images.lock:{line_of('tag = ', 1)}:", "invalid TOML"],
    ),
    "TOML duplicate key": (
        GOOD.replace('tag = "3.3"', 'tag = "3.3"\ntag = "3.4"'),
        [f"images.lock:{line_of('tag = ', 1) + 1}:", "invalid TOML"],
    ),
    "TOML error at the end": (GOOD + "[[image]\n", ["invalid TOML"]),
    "image not an array of tables": ("version = 1\nimage = 3\n", ["images.lock:2:", "`image`"]),
    "not UTF-8": ("\udcff", ["images.lock", "not UTF-8"]),
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_files(tmp_path, {"Dockerfile": "FROM ruby:3.3\nFROM alpine:3.19\n"})


def test_the_lock_the_tests_break_is_valid(cli: CliRunner, project: Path) -> None:
    (project / "images.lock").write_text(GOOD)
    proc = cli("lock", "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_lock_is_one_line_naming_the_problem(
    project: Path, case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In-process for speed; the next test runs the installed command on one of them."""
    text, needles = BROKEN[case]
    (project / "images.lock").write_bytes(text.encode("utf-8", "surrogateescape"))
    monkeypatch.chdir(project)
    with pytest.raises(SystemExit) as exit_info:
        main(["lock", "--check"])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("imagelock: error: images.lock")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_every_command_refuses_a_broken_lock_and_leaves_it_alone(
    cli: CliRunner, project: Path
) -> None:
    text = replaced("digest = ", 'digest = "sha256:1234"', 1)
    (project / "images.lock").write_text(text)
    for command in (["lock"], ["lock", "--upgrade"], ["update"], ["update", "ruby"], ["outdated"]):
        assert_one_line_error(cli(*command), 2, "images.lock:", "malformed digest")
    assert (project / "images.lock").read_text() == text


def test_check_without_a_lock_says_so_and_exits_1(cli: CliRunner, project: Path) -> None:
    proc = cli("lock", "--check")
    assert proc.returncode == 1
    assert "images.lock does not exist" in proc.stdout
    assert "+ docker.io/library/ruby:3.3" in proc.stdout
    assert not (project / "images.lock").exists()


def test_check_reports_a_required_platform_the_lock_lacks(cli: CliRunner, project: Path) -> None:
    (project / "images.lock").write_text(GOOD)
    assert cli("lock", "--check", "--platform", "linux/amd64").returncode == 0
    proc = cli("lock", "--check", "--platform", "linux/amd64,linux/arm64")
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        "! docker.io/library/alpine:3.19 has no linux/arm64 image (it has linux/amd64)"
    ]


def test_update_and_outdated_without_a_lock_say_to_run_lock(cli: CliRunner, project: Path) -> None:
    assert_one_line_error(cli("update"), 2, "images.lock does not exist", "imagelock lock")
    assert_one_line_error(cli("outdated"), 2, "images.lock does not exist", "imagelock lock")


def test_update_names_that_match_nothing(cli: CliRunner, project: Path) -> None:
    private = LockEntry(
        "registry.example.com:5000/team/ruby", "3", D["f"], INDEX, ("Dockerfile",), RUBY.platforms
    )
    (project / "images.lock").write_text(dumps(Lock((RUBY, private))))
    assert_one_line_error(cli("update", "postgres"), 2, "'postgres' matches no entry")
    assert_one_line_error(cli("update", "ruby:9"), 2, "'ruby:9' matches no entry")
    assert_one_line_error(
        cli("update", "team/ruby"), 2, "did you mean registry.example.com:5000/team/ruby?"
    )
    assert_one_line_error(cli("update", "ruby", "nginx"), 2, "'nginx'")
    assert_one_line_error(cli("update", "Ruby"), 2, "lowercase")
    assert_one_line_error(cli("update", f"ruby@{D['a']}"), 2, "not a digest")


def test_update_of_a_digest_only_entry_says_there_is_no_tag_to_follow(
    cli: CliRunner, project: Path
) -> None:
    digest_only = LockEntry(
        "docker.io/library/busybox", None, D["9"], INDEX, ("Dockerfile",), {"linux/amd64": D["8"]}
    )
    (project / "images.lock").write_text(dumps(Lock((digest_only,))))
    before = (project / "images.lock").read_bytes()
    proc = cli("update", "busybox")
    assert proc.returncode == 0, proc.stderr
    assert "docker.io/library/busybox@sha256:999999999999  locked by digest" in proc.stdout
    assert (project / "images.lock").read_bytes() == before


# --- writing: errors and interruptions -------------------------------------------------------


def test_a_lock_in_a_missing_folder_is_a_clear_error(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")  # nothing to resolve: offline
    assert_one_line_error(
        cli("lock", "--lockfile", "missing/images.lock"),
        2,
        "missing/images.lock",
        "cannot write",
        "No such file or directory",
    )
    assert_one_line_error(cli("--lockfile", "Dockerfile/images.lock", "lock"), 2, "Not a directory")
    (tmp_path / "folder.lock").mkdir()
    assert_one_line_error(cli("lock", "--lockfile", "folder.lock"), 2, "folder.lock", "directory")


def _pruning_project(tmp_path: Path) -> bytes:
    """A locked project whose next `lock` only prunes: it writes without the network."""
    write_files(tmp_path, {"Dockerfile": "FROM ruby:3.3\n"})
    (tmp_path / "images.lock").write_text(GOOD)
    return GOOD.encode()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "Dockerfile")


def test_a_failed_write_leaves_the_previous_lock_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _pruning_project(tmp_path)
    monkeypatch.chdir(tmp_path)

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("imagelock.lockfile.os.fsync", disk_full)
    with pytest.raises(SystemExit) as exit_info:
        main(["lock"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["imagelock: error: images.lock: cannot write: No space left on device"]
    assert (tmp_path / "images.lock").read_bytes() == before
    assert _leftovers(tmp_path) == ["images.lock"]


def test_ctrl_c_while_replacing_the_lock_leaves_it_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _pruning_project(tmp_path)
    monkeypatch.chdir(tmp_path)

    def interrupted(self: Path, target: Path) -> Path:
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "replace", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        main(["lock"])
    assert exit_info.value.code == 130
    assert capsys.readouterr().err.strip() == "imagelock: error: interrupted"
    assert (tmp_path / "images.lock").read_bytes() == before
    assert _leftovers(tmp_path) == ["images.lock"]


def test_the_pruning_write_itself_works(cli: CliRunner, tmp_path: Path) -> None:
    _pruning_project(tmp_path)
    proc = cli("lock")
    assert proc.returncode == 0, proc.stderr
    assert "- docker.io/library/alpine:3.19 (no longer used)" in proc.stdout
    assert "0 resolved, written" in proc.stdout
    assert (tmp_path / "images.lock").read_text() == dumps(Lock((RUBY,)))
