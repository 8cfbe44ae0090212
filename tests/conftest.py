"""Shared fixtures. Integration tests (tests/integration/) use a real Docker engine with buildx
and a real distribution registry; `scripts/test-env.sh` provides both. Under CI=true a missing
engine or registry ends the whole run with an error instead of skipping anything.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.images import ROOTFS_DIR, ImageFactory, RegistryHTTP
from tests.support.registry import REGISTRY_BIN, RegistryProcess

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
INTEGRATION_DIR = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


def _environment_problem() -> str | None:
    """Why the real engine/registry cannot be used, or None when they can."""
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if info.returncode != 0:
        return f"the Docker engine does not answer: {info.stderr.strip().splitlines()[-1:]}"
    bx = subprocess.run(["docker", "buildx", "version"], capture_output=True, check=False)
    if bx.returncode != 0:
        return "docker buildx is not available"
    if shutil.which(REGISTRY_BIN) is None:
        return f"the registry binary `{REGISTRY_BIN}` is not installed"
    if not (ROOTFS_DIR / "arm64" / "bin" / "busybox").exists():
        return f"the busybox root filesystems are missing under {ROOTFS_DIR}"
    return None


@pytest.fixture(scope="session")
def test_env() -> None:
    problem = _environment_problem()
    if problem is None:
        return
    message = (
        f"real Docker/registry test environment unavailable: {problem}. "
        "Run `sudo bash scripts/test-env.sh`."
    )
    if IN_CI:
        pytest.exit(f"CI=true and {message}", returncode=3)
    pytest.skip(message)


@pytest.fixture(scope="session")
def registry(test_env: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    """The session's plain-HTTP registry on a free loopback port, in-memory storage."""
    reg = RegistryProcess(tmp_path_factory.mktemp("registry")).start()
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def registry_http(registry: RegistryProcess) -> RegistryHTTP:
    return RegistryHTTP(registry.url)


@pytest.fixture(scope="session")
def images(
    registry: RegistryProcess, registry_http: RegistryHTTP, tmp_path_factory: pytest.TempPathFactory
) -> ImageFactory:
    return ImageFactory(registry.host, tmp_path_factory.mktemp("images"), registry_http)


@pytest.fixture
def start_registry(test_env: None, tmp_path: Path) -> Iterator[Callable[..., RegistryProcess]]:
    """Start extra registries (auth, TLS, middleware variants); all stopped after the test."""
    started: list[RegistryProcess] = []
    counter = itertools.count()

    def start(**kwargs: Any) -> RegistryProcess:
        reg = RegistryProcess(tmp_path / f"registry-{next(counter)}", **kwargs).start()
        started.append(reg)
        return reg

    yield start
    for reg in started:
        reg.stop()


_repo_counter = itertools.count()


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> str:
    """A repository name no other test uses, so tests can push without stepping on each other."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower()).strip("-")[:40]
    return f"t{os.getpid()}-{next(_repo_counter)}/{base.strip('-') or 'base'}"


CliRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(tmp_path: Path) -> CliRunner:
    """Run the installed `imagelock` command as a user would, in a folder (default: tmp_path).

    DOCKER_CONFIG points to an empty folder so that the user's credentials never leak in.
    """
    docker_config = tmp_path / ".docker-config"
    docker_config.mkdir(exist_ok=True)

    def run(
        *args: str,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "DOCKER_CONFIG": str(docker_config), "NO_COLOR": "1"}
        full_env.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "imagelock", *args],
            cwd=cwd or tmp_path,
            env=full_env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


def write_files(root: Path, files: dict[str, str]) -> Path:
    """Create a tree of text files under root; returns root."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    """A failed command: the expected exit code, one line on stderr, no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
