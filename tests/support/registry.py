"""A real CNCF distribution registry (`docker-registry serve`) on a free loopback port.

Each instance has its own config and storage in a temporary folder. Variants (htpasswd, token
auth, TLS, redirect middleware) are expressed as extra config sections, so tests use the real
server's auth and TLS code, never a fake.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REGISTRY_BIN = "docker-registry"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _yaml(obj: Any, indent: int = 0) -> str:
    """Config as YAML; JSON is valid YAML flow style for every value we write."""
    pad = " " * indent
    lines = []
    for key, value in obj.items():
        if isinstance(value, dict):
            lines.append(f"{pad}{key}:")
            lines.append(_yaml(value, indent + 2))
        else:
            lines.append(f"{pad}{key}: {json.dumps(value)}")
    return "\n".join(lines)


@dataclass
class RegistryProcess:
    """One running registry. `host` is what goes in image references (127.0.0.1:PORT)."""

    workdir: Path
    port: int = field(default_factory=free_port)
    auth: dict[str, Any] | None = None
    tls: tuple[Path, Path] | None = None  # (certificate, key)
    storage: dict[str, Any] | None = None
    middleware: dict[str, Any] | None = None
    ca_file: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "registry.log"

    def config(self) -> dict[str, Any]:
        http: dict[str, Any] = {"addr": self.host, "secret": "imagelock-tests"}
        if self.tls:
            http["tls"] = {"certificate": str(self.tls[0]), "key": str(self.tls[1])}
        cfg: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "info", "accesslog": {"disabled": False}},
            "storage": {**(self.storage or {"inmemory": {}}), "delete": {"enabled": True}},
            "http": http,
        }
        if self.auth:
            cfg["auth"] = self.auth
        if self.middleware:
            cfg["middleware"] = self.middleware
        return cfg

    def start(self) -> RegistryProcess:
        if shutil.which(REGISTRY_BIN) is None:
            raise RuntimeError(
                f"{REGISTRY_BIN} is not installed: run `sudo bash scripts/test-env.sh` first"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_path = self.workdir / "config.yml"
        config_path.write_text(_yaml(self.config()) + "\n")
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [REGISTRY_BIN, "serve", str(config_path)], stdout=log, stderr=subprocess.STDOUT
        )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        verify: bool | ssl.SSLContext = not self.tls
        if self.ca_file:
            verify = ssl.create_default_context(cafile=str(self.ca_file))
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"registry exited with {self.process.returncode}: "
                    f"{self.log_path.read_text()[-2000:]}"
                )
            try:
                httpx.get(f"{self.url}/v2/", verify=verify, timeout=1.0)
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"registry on {self.host} did not answer within {timeout} s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def access_log(self, user_agent: str | None = "imagelock/") -> list[str]:
        """The `METHOD /path` of each request in the registry's access log, oldest first.

        By default only imagelock's own requests (its User-Agent), so that pushes made by
        fixtures do not count.
        """
        if not self.log_path.exists():
            return []
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            parts = line.split('"')
            if len(parts) < 6 or not parts[1].startswith(("GET ", "HEAD ", "PUT ", "POST ")):
                continue
            if user_agent is not None and user_agent not in parts[5]:
                continue
            out.append(parts[1].rsplit(" ", 1)[0])
        return out
