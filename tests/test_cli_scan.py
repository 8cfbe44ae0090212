"""`imagelock scan` end to end: the installed command in a folder, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import CliRunner, assert_one_line_error, write_files

DIGEST = "sha256:" + "ab" * 32
KEYS = {"reference", "name", "tag", "digest", "platform", "kind", "source"}

PROJECT = {
    "Dockerfile": (
        "# syntax=docker/dockerfile:1\n"
        "ARG RUBY_VERSION=3.3.0\n"
        "FROM ruby:${RUBY_VERSION}-slim AS base\n"
        "FROM base AS build\n"
        "COPY --from=ghcr.io/astral-sh/uv:0.4.0 /uv /bin/uv\n"
        "RUN --mount=type=cache,target=/c --mount=type=bind,from=busybox,target=/b true\n"
        f"FROM gcr.io/distroless/base-debian12@{DIGEST}\n"
        "COPY --from=build /app /app\n"
    ),
    "services/api/api.Dockerfile": (
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nFROM localhost:5000/team/base:2\n"
    ),
    ".git/Dockerfile": "FROM hidden:1\n",
    "notes.md": "FROM not-a-dockerfile\n",
}


def scan_json(cli: CliRunner, *args: str, cwd: Path | None = None) -> list[dict[str, Any]]:
    proc = cli("scan", "--format", "json", *args, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    result = json.loads(proc.stdout)
    assert isinstance(result, list)
    for item in result:
        assert set(item) == KEYS, item
    return result


def test_json_output(cli: CliRunner, tmp_path: Path) -> None:
    write_files(tmp_path, PROJECT)
    result = scan_json(cli, "Dockerfile")
    assert result == [
        {
            "reference": "docker/dockerfile:1",
            "name": "docker.io/docker/dockerfile",
            "tag": "1",
            "digest": None,
            "platform": None,
            "kind": "syntax",
            "source": "Dockerfile:1",
        },
        {
            "reference": "ruby:3.3.0-slim",
            "name": "docker.io/library/ruby",
            "tag": "3.3.0-slim",
            "digest": None,
            "platform": None,
            "kind": "from",
            "source": "Dockerfile:3",
        },
        {
            "reference": "ghcr.io/astral-sh/uv:0.4.0",
            "name": "ghcr.io/astral-sh/uv",
            "tag": "0.4.0",
            "digest": None,
            "platform": None,
            "kind": "copy",
            "source": "Dockerfile:5",
        },
        {
            "reference": "busybox",
            "name": "docker.io/library/busybox",
            "tag": "latest",
            "digest": None,
            "platform": None,
            "kind": "mount",
            "source": "Dockerfile:6",
        },
        {
            "reference": f"gcr.io/distroless/base-debian12@{DIGEST}",
            "name": "gcr.io/distroless/base-debian12",
            "tag": None,
            "digest": DIGEST,
            "platform": None,
            "kind": "from",
            "source": "Dockerfile:7",
        },
    ]


def test_build_arg(cli: CliRunner, tmp_path: Path) -> None:
    write_files(tmp_path, PROJECT)
    result = scan_json(cli, "--build-arg", "RUBY_VERSION=3.2.2", "Dockerfile")
    assert result[1]["reference"] == "ruby:3.2.2-slim"
    assert result[1]["tag"] == "3.2.2-slim"


def test_discovery_without_path(cli: CliRunner, tmp_path: Path) -> None:
    write_files(tmp_path, PROJECT)
    result = scan_json(cli)
    sources = [item["source"] for item in result]
    assert sources == [
        "Dockerfile:1",
        "Dockerfile:3",
        "Dockerfile:5",
        "Dockerfile:6",
        "Dockerfile:7",
        "services/api/api.Dockerfile:1",
        "services/api/api.Dockerfile:2",
    ]
    api = result[-2:]
    assert [(i["name"], i["tag"], i["platform"]) for i in api] == [
        ("docker.io/library/golang", "1.22", "$BUILDPLATFORM"),
        ("localhost:5000/team/base", "2", None),
    ]


def test_folder_path_and_dockerfile_of_any_name(cli: CliRunner, tmp_path: Path) -> None:
    write_files(tmp_path, {**PROJECT, "ci/image.build": "FROM node:20\n"})
    result = scan_json(cli, "services", "ci/image.build")
    assert [item["source"] for item in result] == [
        "ci/image.build:1",
        "services/api/api.Dockerfile:1",
        "services/api/api.Dockerfile:2",
    ]


def test_table_format(cli: CliRunner, tmp_path: Path) -> None:
    write_files(tmp_path, PROJECT)
    proc = cli("scan", "Dockerfile")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["SOURCE", "KIND", "PLATFORM", "IMAGE"]
    assert len(lines) == 6
    assert "docker.io/library/ruby:3.3.0-slim" in lines[2]
    assert lines[2].split()[:2] == ["Dockerfile:3", "from"]
    assert f"gcr.io/distroless/base-debian12@{DIGEST}" in proc.stdout


def test_unknown_arg_is_one_line_error(cli: CliRunner, tmp_path: Path) -> None:
    write_files(tmp_path, {"Dockerfile": "FROM alpine\nARG BASE\nFROM ${BASE}\n"})
    proc = cli("scan")
    assert_one_line_error(proc, 2, "Dockerfile:3", "BASE")
    assert proc.stdout == ""
    write_files(tmp_path, {"Dockerfile": "ARG BASE\nFROM ${BASE}\n"})
    assert_one_line_error(cli("scan"), 2, "Dockerfile:2", "BASE", "--build-arg")
    assert cli("scan", "--build-arg", "BASE=alpine").returncode == 0


def test_bad_reference_is_one_line_error(cli: CliRunner, tmp_path: Path) -> None:
    write_files(tmp_path, {"app/Dockerfile.prod": "FROM alpine\n\nFROM Ubuntu:22.04\n"})
    assert_one_line_error(cli("scan"), 2, "app/Dockerfile.prod:3")


def test_missing_path_is_one_line_error(cli: CliRunner, tmp_path: Path) -> None:
    assert_one_line_error(cli("scan", "nope/Dockerfile"), 2, "nope")


def test_non_utf8_file_is_one_line_error(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_bytes(b"# caf\xe9\nFROM alpine\n")
    assert_one_line_error(cli("scan"), 2, "Dockerfile", "UTF-8")


def test_folder_without_dockerfiles_is_one_line_error(cli: CliRunner, tmp_path: Path) -> None:
    write_files(tmp_path, {"empty/README.md": "nothing here\n"})
    assert_one_line_error(cli("scan", "empty"), 2, "empty")


def test_syntax_error_is_one_line_error(cli: CliRunner, tmp_path: Path) -> None:
    write_files(tmp_path, {"Dockerfile": "FROM alpine\nRUN <<EOF\necho never ends\n"})
    assert_one_line_error(cli("scan"), 2, "Dockerfile:2", "heredoc")


def test_a_named_build_context_is_not_an_image_to_scan(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM ruby:3.3\nCOPY --from=assets / /\n")
    every = json.loads(cli("scan", "--format", "json").stdout)
    assert [u["name"] for u in every] == ["docker.io/library/ruby", "docker.io/library/assets"]
    proc = cli("scan", "--format", "json", "--build-context", "assets=./web/dist")
    assert proc.returncode == 0, proc.stderr
    assert [u["name"] for u in json.loads(proc.stdout)] == ["docker.io/library/ruby"]


def test_named_contexts_can_be_configured_beside_the_lock(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM ruby:3.3\nCOPY --from=assets / /\n")
    (tmp_path / "imagelock.toml").write_text('build-contexts = ["assets"]\n')
    proc = cli("scan", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert [u["name"] for u in json.loads(proc.stdout)] == ["docker.io/library/ruby"]
    (tmp_path / "imagelock.toml").write_text('build-contexts = "assets"\n')
    assert_one_line_error(cli("scan"), 2, "build-contexts must be a list of strings")
