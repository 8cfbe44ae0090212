"""The command shell itself: version, help, usage errors as one line with exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from imagelock import __version__
from tests.conftest import CliRunner, assert_one_line_error


def test_version_and_help(cli: CliRunner) -> None:
    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"imagelock {__version__}"
    help_text = cli("--help").stdout
    for command in ("scan", "lock", "update", "outdated", "build"):
        assert command in help_text
    build_help = cli("build", "--help").stdout
    for option in ("--pin-mode", "--strict", "--reproducible", "--dry-run", "--push", "--builder"):
        assert option in build_help


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "imagelock"
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_usage_errors_are_one_line_with_exit_2(cli: CliRunner) -> None:
    assert_one_line_error(cli("frobnicate"), 2, "frobnicate")
    assert_one_line_error(cli("lock", "--no-such-option"), 2, "--no-such-option")
    assert_one_line_error(cli("build"), 2, "CONTEXT")
    assert_one_line_error(cli("build", "--pin-mode", "magic", "."), 2, "magic")


def test_build_refuses_a_context_that_is_not_a_local_folder(cli: CliRunner) -> None:
    assert_one_line_error(cli("build", "https://example.com/repo.git"), 2, "not a local folder")


def test_build_without_a_lock_says_to_run_lock(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM ruby:3.3\n")
    assert_one_line_error(cli("build", "."), 2, "imagelock lock")


def test_build_with_a_broken_lock_names_the_problem(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM ruby:3.3\n")
    (tmp_path / "images.lock").write_text("version = 7\n")
    assert_one_line_error(cli("build", "."), 2, "images.lock", "version")


def test_source_date_epoch_needs_reproducible(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM ruby:3.3\n")
    assert_one_line_error(cli("build", "--source-date-epoch", "1", "."), 2, "--reproducible")


def test_a_second_positional_argument_must_follow_the_double_dash(
    cli: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM ruby:3.3\n")
    assert_one_line_error(cli("build", ".", "extra"), 2, "'extra'", "after `--`")


def test_an_unreachable_docker_daemon_is_one_line_before_any_build(
    cli: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM ruby:3.3\n")
    proc = cli("build", ".", env={"DOCKER_HOST": "tcp://127.0.0.1:1"})
    assert_one_line_error(proc, 2, "Cannot connect to the Docker daemon")
