"""Registry host names: Docker Hub's aliases, loopback, and the keys credentials are stored by.

Users write `docker.io`, `index.docker.io` or `registry-1.docker.io` for Docker Hub; its API
lives at `registry-1.docker.io` and `docker login` stores its credentials under
`https://index.docker.io/v1/`. Everything else is keyed by `host[:port]`.
"""

from __future__ import annotations

import ipaddress
from typing import Final

DOCKER_HUB: Final = "docker.io"
DOCKER_HUB_API: Final = "registry-1.docker.io"
DOCKER_HUB_CREDENTIALS_KEY: Final = "https://index.docker.io/v1/"
_DOCKER_HUB_ALIASES: Final = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


def normalize_host(text: str) -> str:
    """`host[:port]` from a registry name, URL or config key (`https://ghcr.io/v2/` -> `ghcr.io`),
    lower case, Docker Hub's aliases folded into `docker.io`."""
    host = text.strip()
    for scheme in ("https://", "http://"):
        if host.lower().startswith(scheme):
            host = host[len(scheme) :]
    host = host.split("/", 1)[0].lower()
    return DOCKER_HUB if host in _DOCKER_HUB_ALIASES else host


def api_host(registry: str) -> str:
    """The host the registry API is reached at: Docker Hub's API host, else the name itself."""
    host = normalize_host(registry)
    return DOCKER_HUB_API if host == DOCKER_HUB else host


def credentials_key(host: str) -> str:
    """The server URL credentials for `host` are stored and asked for under."""
    host = normalize_host(host)
    return DOCKER_HUB_CREDENTIALS_KEY if host == DOCKER_HUB else host


def login_command(registry: str) -> str:
    """What to tell a user to run to give imagelock credentials for `registry`."""
    host = normalize_host(registry)
    return "docker login" if host == DOCKER_HUB else f"docker login {host}"


def hostname(host: str) -> str:
    """The name or address in `host[:port]`, IPv6 brackets removed."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(host: str) -> bool:
    """Whether `host[:port]` is this machine: `localhost`, 127.0.0.0/8 or ::1."""
    name = hostname(host).lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
