"""Finding Dockerfiles: names recognised in folders, folders skipped, explicit paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imagelock.discover import find_dockerfiles, is_dockerfile_name
from imagelock.errors import DockerfileError


def make(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("FROM alpine\n")


def rel(root: Path, paths: list[Path]) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


@pytest.mark.parametrize(
    "name",
    [
        "Dockerfile",
        "dockerfile",
        "Dockerfile.dev",
        "Dockerfile.alpine",
        "Dockerfile-hello-world",
        "api.Dockerfile",
        "build.dockerfile",
    ],
)
def test_dockerfile_names(name: str) -> None:
    assert is_dockerfile_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "Dockerfile.dockerignore",
        ".dockerignore",
        "Dockerfile.template",
        "Dockerfile.j2",
        "Dockerfile.md",
        "Dockerfile.bak",
        "Dockerfile~",
        "README.md",
        "docker-compose.yml",
        "Dockerfiles",
        "MyDockerfile",
    ],
)
def test_not_dockerfile_names(name: str) -> None:
    assert not is_dockerfile_name(name)


def test_finds_dockerfiles_below_a_folder_sorted(tmp_path: Path) -> None:
    make(
        tmp_path,
        "Dockerfile",
        "services/api/Dockerfile",
        "services/api/Dockerfile.dev",
        "services/web/web.Dockerfile",
        "deep/a/b/c/Dockerfile.test",
        "services/api/README.md",
        "services/api/main.go",
    )
    assert rel(tmp_path, find_dockerfiles([tmp_path])) == [
        "Dockerfile",
        "deep/a/b/c/Dockerfile.test",
        "services/api/Dockerfile",
        "services/api/Dockerfile.dev",
        "services/web/web.Dockerfile",
    ]


def test_skips_git_hidden_folders_and_node_modules(tmp_path: Path) -> None:
    make(
        tmp_path,
        "app/Dockerfile",
        ".git/Dockerfile",
        ".git/modules/x/Dockerfile",
        ".github/docker/Dockerfile",
        ".venv/lib/pkg/Dockerfile",
        "node_modules/pkg/Dockerfile",
        "app/.cache/Dockerfile",
    )
    assert rel(tmp_path, find_dockerfiles([tmp_path])) == ["app/Dockerfile"]


def test_default_is_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make(tmp_path, "Dockerfile", "sub/x.Dockerfile")
    monkeypatch.chdir(tmp_path)
    assert [p.as_posix() for p in find_dockerfiles()] == ["Dockerfile", "sub/x.Dockerfile"]


def test_explicit_file_of_any_name(tmp_path: Path) -> None:
    make(tmp_path, "ci/build-image.txt", "Containerfile")
    found = find_dockerfiles([tmp_path / "ci/build-image.txt", tmp_path / "Containerfile"])
    assert rel(tmp_path, found) == ["Containerfile", "ci/build-image.txt"]


def test_explicit_hidden_folder_is_searched(tmp_path: Path) -> None:
    make(tmp_path, ".docker/Dockerfile")
    assert rel(tmp_path, find_dockerfiles([tmp_path / ".docker"])) == [".docker/Dockerfile"]


def test_each_file_once(tmp_path: Path) -> None:
    make(tmp_path, "a/Dockerfile", "b/Dockerfile")
    found = find_dockerfiles([tmp_path, tmp_path / "a", tmp_path / "a" / "Dockerfile"])
    assert rel(tmp_path, found) == ["a/Dockerfile", "b/Dockerfile"]


def test_folder_without_dockerfiles_finds_nothing(tmp_path: Path) -> None:
    make(tmp_path, "README.md")
    assert find_dockerfiles([tmp_path]) == []


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DockerfileError, match="no such file or folder"):
        find_dockerfiles([tmp_path / "nope"])


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")
def test_symlinked_folders_are_not_followed(tmp_path: Path) -> None:
    make(tmp_path, "real/Dockerfile")
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    assert rel(tmp_path, find_dockerfiles([tmp_path])) == ["real/Dockerfile"]
