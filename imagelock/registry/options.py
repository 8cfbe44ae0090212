"""How imagelock may talk to registries: mirrors, insecure hosts, extra CA, limits, retries.

Options are passed in, never read from globals, so that a program (or a test) can resolve with
settings of its own. The CLI builds them from `--mirror`, `IMAGELOCK_MIRRORS` and the config file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from imagelock.errors import ConfigError
from imagelock.registry.hosts import hostname, is_loopback, normalize_host

MIRRORS_ENV: Final = "IMAGELOCK_MIRRORS"
_HOST_RE: Final = re.compile(r"(?:[a-z0-9.-]+|\[[0-9a-f:]+\])(?::[0-9]+)?")


@dataclass(frozen=True)
class RegistryOptions:
    """Settings of a registry client.

    `mirrors` maps a registry (`docker.io`, `ghcr.io`, `host:5000`) to mirror base URLs, tried in
    order before the registry itself; a URL path is a repository prefix (Harbor and Artifactory
    proxy projects). `insecure` hosts may be reached over plain HTTP (loopback always may).
    `ca_file` is trusted in addition to the system and certifi roots. `docker_config` is the
    folder holding `config.json` (default `$DOCKER_CONFIG`, else `~/.docker`).
    `timeout` bounds each request attempt; `retries` and `retry_budget` (seconds) bound the
    attempts after the first; `backoff` is the first retry delay, doubled each time, jittered.
    """

    mirrors: Mapping[str, Sequence[str]] = field(default_factory=dict)
    insecure: frozenset[str] = frozenset()
    ca_file: Path | None = None
    docker_config: Path | None = None
    max_per_host: int = 8
    timeout: float = 30.0
    retries: int = 4
    retry_budget: float = 60.0
    backoff: float = 0.5

    def __post_init__(self) -> None:
        mirrors: dict[str, tuple[str, ...]] = {}
        for registry, urls in self.mirrors.items():
            host = _checked_host(registry, "mirror")
            mirrors[host] = tuple(mirrors.get(host, ())) + tuple(_checked_url(u) for u in urls)
        object.__setattr__(self, "mirrors", mirrors)
        object.__setattr__(self, "insecure", frozenset(normalize_host(h) for h in self.insecure))
        if self.max_per_host < 1:
            raise ConfigError("max_per_host must be at least 1")
        if self.retries < 0 or self.timeout <= 0 or self.retry_budget < 0 or self.backoff < 0:
            raise ConfigError("timeout must be positive; retries, retry budget, backoff >= 0")
        for registry, urls in mirrors.items():
            for url in urls:
                split = urlsplit(url)
                if split.scheme == "http" and not self.allows_plain_http(split.netloc):
                    raise ConfigError(
                        f"mirror {url} for {registry} uses plain HTTP: use https, or list "
                        f"{split.netloc} as an insecure registry"
                    )

    def allows_plain_http(self, host: str) -> bool:
        """Whether `host[:port]` may be reached without TLS: loopback or marked insecure."""
        host = normalize_host(host)
        return is_loopback(host) or host in self.insecure or hostname(host) in self.insecure

    def mirrors_for(self, registry: str) -> tuple[str, ...]:
        """The mirror base URLs for `registry`, in the order they are tried."""
        return tuple(self.mirrors.get(normalize_host(registry), ()))


def parse_mirror(text: str) -> tuple[str, str]:
    """Parse `HOST=URL` (`docker.io=https://harbor.example.com/dockerhub-proxy`).

    Returns the registry host (Docker Hub's aliases folded into `docker.io`) and the mirror's
    base URL (`https://` when no scheme is written, no trailing slash). Raises ConfigError.
    """
    registry, equals, url = text.partition("=")
    if not equals or not registry.strip() or not url.strip():
        shown = text if "@" not in text else "<hidden: it contains credentials>"
        raise ConfigError(
            f"mirror {shown!r} is not HOST=URL "
            "(e.g. docker.io=https://harbor.example.com/dockerhub-proxy)"
        )
    return _checked_host(registry, "mirror"), _checked_url(url)


def mirrors_from_env(environ: Mapping[str, str]) -> dict[str, list[str]]:
    """Mirrors from `IMAGELOCK_MIRRORS`: comma-separated `HOST=URL` pairs."""
    out: dict[str, list[str]] = {}
    for item in environ.get(MIRRORS_ENV, "").split(","):
        if item.strip():
            host, url = parse_mirror(item.strip())
            out.setdefault(host, []).append(url)
    return out


def _checked_host(text: str, what: str) -> str:
    host = normalize_host(text)
    if not _HOST_RE.fullmatch(host):
        raise ConfigError(f"{what} registry {text.strip()!r} is not a registry host[:port]")
    return host


def _checked_url(text: str) -> str:
    url = text.strip()
    if "://" not in url:
        url = "https://" + url
    split = urlsplit(url)
    if "@" in split.netloc:
        raise ConfigError(
            "a mirror URL must not contain credentials: `docker login` the mirror instead"
        )
    host = split.netloc.lower()
    if split.scheme not in ("http", "https") or not _HOST_RE.fullmatch(host):
        raise ConfigError(f"mirror URL {text.strip()!r} is not an http(s)://host[:port][/path]")
    if split.query or split.fragment:
        raise ConfigError(f"mirror URL {text.strip()!r} must not have a query or fragment")
    prefix = split.path.strip("/")
    return f"{split.scheme}://{host}" + (f"/{prefix}" if prefix else "")
