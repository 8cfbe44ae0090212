"""Small helpers for tests that drive imagelock's registry client directly.

Every client a test makes reads its Docker config from a folder the test controls (never the
user's), and retries with tiny delays so that fault tests stay fast.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

from imagelock.errors import RegistryError
from imagelock.reference import Reference, parse_reference
from imagelock.registry import RegistryClient, RegistryOptions, Resolved, Unchanged, resolve_many

T = TypeVar("T")
Outcome = Resolved | Unchanged | RegistryError


def options(docker_config: Path, **overrides: Any) -> RegistryOptions:
    """Test options: an own Docker config folder, short timeouts, millisecond backoff."""
    docker_config.mkdir(parents=True, exist_ok=True)
    settings: dict[str, Any] = {
        "docker_config": docker_config,
        "timeout": 5.0,
        "retries": 3,
        "retry_budget": 10.0,
        "backoff": 0.01,
    }
    settings.update(overrides)
    return RegistryOptions(**settings)


def resolve_one(
    text: str, opts: RegistryOptions, transport: httpx.AsyncBaseTransport | None = None
) -> Outcome:
    ref = parse_reference(text)
    return resolve_many([ref], opts, transport=transport)[ref]


def resolved(text: str, opts: RegistryOptions) -> Resolved:
    """Resolve `text`, failing the test with the client's own message if it does not resolve."""
    outcome = resolve_one(text, opts)
    if isinstance(outcome, RegistryError):
        raise AssertionError(f"{text} did not resolve: {outcome}")
    assert isinstance(outcome, Resolved), outcome
    return outcome


def with_client(
    opts: RegistryOptions,
    work: Callable[[RegistryClient], Awaitable[T]],
    transport: httpx.AsyncBaseTransport | None = None,
) -> T:
    """Run `work(client)` with one client, as `resolve_many` does, and return its result."""

    async def main() -> T:
        async with RegistryClient(opts, transport) as client:
            return await work(client)

    return asyncio.run(main())


def ref(text: str) -> Reference:
    return parse_reference(text)


def write_docker_config(folder: Path, config: Mapping[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.json"
    path.write_text(json.dumps(config))
    return path


def fake_credential_helper(
    bin_dir: Path, name: str, answers: Mapping[str, tuple[str, str]], log: Path
) -> Path:
    """A `docker-credential-NAME` script answering `get` from `answers` (server URL ->
    (username, secret)), logging each server URL asked to `log`; "credentials not found" and
    exit 1 for any other server, as real helpers do."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    table = {url: {"ServerURL": url, "Username": u, "Secret": s} for url, (u, s) in answers.items()}
    script = bin_dir / f"docker-credential-{name}"
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        f"TABLE = {json.dumps(table)!r}\n"
        "if sys.argv[1:] != ['get']:\n"
        "    sys.exit(2)\n"
        "server = sys.stdin.read().strip()\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(server + '\\n')\n"
        "answer = json.loads(TABLE).get(server)\n"
        "if answer is None:\n"
        "    print('credentials not found in native keychain')\n"
        "    sys.exit(1)\n"
        "print(json.dumps(answer))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def path_with(bin_dir: Path) -> str:
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


def skopeo_copy(
    source: str,
    destination: str,
    *,
    dest_creds: str | None = None,
    dest_cert_dir: Path | None = None,
) -> None:
    """Copy an image (all platforms, digests kept) between registries with skopeo."""
    cmd = ["skopeo", "copy", "--all", "--preserve-digests", "--src-tls-verify=false"]
    if dest_cert_dir is not None:
        cmd.append(f"--dest-cert-dir={dest_cert_dir}")
    else:
        cmd.append("--dest-tls-verify=false")
    if dest_creds is not None:
        cmd.append(f"--dest-creds={dest_creds}")
    cmd += [f"docker://{source}", f"docker://{destination}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"skopeo copy failed: {proc.stderr[-2000:]}")
