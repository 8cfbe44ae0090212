"""Finding the Dockerfiles of a project: the files `lock` and `scan` read when given folders.

A path given explicitly is a Dockerfile whatever its name; in folders, files are recognised by
the names people give Dockerfiles (matched case-insensitively, as editors and `docker build`'s
fallback to `dockerfile` do):

- `Dockerfile`, `dockerfile`
- `Dockerfile.<anything>` (`Dockerfile.dev`, `Dockerfile.alpine`), and `Dockerfile-<anything>`
  (`Dockerfile-hello-world`: `-f` takes any name, and people use this one too)
- `<anything>.Dockerfile` (`api.Dockerfile`, `build.dockerfile`)

except files whose last suffix says they are something else: `Dockerfile.dockerignore` (the
per-Dockerfile ignore file), templates rendered into Dockerfiles by other tools
(`Dockerfile.template`, `.tmpl`, `.tpl`, `.j2`, `.jinja`, `.jinja2`, `.in`), notes
(`.md`, `.txt`) and editor or merge leftovers (`.bak`, `.orig`, `.rej`, `.swp`, `~`).
Reading a template as a Dockerfile would fail on its placeholders and stop the whole run.

Hidden folders (`.git`, `.venv`, ...) and `node_modules` (other people's packages, some of
which ship Dockerfiles) are not searched. Symbolic links to folders are not followed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePath
from typing import Final

from imagelock.errors import DockerfileError

__all__ = ["SKIPPED_FOLDERS", "find_dockerfiles", "is_dockerfile_name"]

#: Folders never searched, besides hidden ones.
SKIPPED_FOLDERS: Final = frozenset({"node_modules"})

#: Last suffixes that mark a file named like a Dockerfile as something else.
_NOT_DOCKERFILE_SUFFIXES: Final = frozenset(
    {
        ".dockerignore",
        ".template",
        ".tmpl",
        ".tpl",
        ".j2",
        ".jinja",
        ".jinja2",
        ".in",
        ".md",
        ".txt",
        ".bak",
        ".orig",
        ".rej",
        ".swp",
    }
)


def is_dockerfile_name(name: str) -> bool:
    """Whether a file found in a folder is taken for a Dockerfile (see the module doc)."""
    lower = name.lower()
    if lower.endswith("~"):
        return False
    suffix = PurePath(lower).suffix
    if lower != "dockerfile" and suffix in _NOT_DOCKERFILE_SUFFIXES:
        return False
    return (
        lower == "dockerfile"
        or lower.startswith(("dockerfile.", "dockerfile-"))
        or lower.endswith(".dockerfile")
    )


def find_dockerfiles(paths: Sequence[Path] = ()) -> list[Path]:
    """The Dockerfiles at `paths` (each a Dockerfile or a folder to search; default: the
    current folder), sorted, each once. A folder holding none adds nothing; a path that does
    not exist is a DockerfileError.
    """
    found: dict[Path, Path] = {}
    for path in paths or [Path()]:
        for dockerfile in _dockerfiles_at(path):
            found.setdefault(dockerfile.resolve(), dockerfile)
    return sorted(found.values(), key=lambda p: p.as_posix())


def _dockerfiles_at(path: Path) -> Iterator[Path]:
    if path.is_dir():
        yield from _search(path)
    elif path.is_file():
        yield path
    elif path.exists():
        raise DockerfileError(f"{path} is neither a file nor a folder")
    else:
        raise DockerfileError(f"no such file or folder: {path}")


def _search(root: Path) -> Iterator[Path]:
    """Dockerfiles below `root`, pruning hidden and skipped folders as the walk descends."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SKIPPED_FOLDERS]
        base = Path(folder)
        for name in files:
            candidate = base / name
            if is_dockerfile_name(name) and candidate.is_file():
                yield candidate
