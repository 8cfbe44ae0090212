"""Where a repository's manifests are fetched from: its mirrors first, then the registry.

The lock always keeps the canonical name; an endpoint only says which host answers for it and
under which repository path (a mirror's path prefix goes in front of the repository).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from imagelock.registry.hosts import api_host, normalize_host
from imagelock.registry.options import RegistryOptions


@dataclass(frozen=True)
class Endpoint:
    """One place to ask for a registry's repositories.

    `scheme` is None when both are allowed (loopback or insecure hosts): https is tried first
    and plain http used when the host does not speak TLS, as Docker does.
    """

    registry: str  # the registry of the reference, `docker.io`
    host: str  # the host[:port] contacted, `registry-1.docker.io`
    scheme: str | None
    prefix: str = ""  # repository path prefix on a mirror
    mirror: bool = False

    def repository(self, path: str) -> str:
        """The repository path on this endpoint for the reference's path."""
        return f"{self.prefix}/{path}" if self.prefix else path

    @property
    def label(self) -> str:
        """How messages name this endpoint."""
        if not self.mirror:
            return self.registry
        prefix = f"/{self.prefix}" if self.prefix else ""
        return f"mirror {self.scheme}://{self.host}{prefix} of {self.registry}"


def endpoints_for(registry: str, options: RegistryOptions) -> list[Endpoint]:
    """The endpoints to try for `registry`, in order: configured mirrors, then the registry."""
    registry = normalize_host(registry)
    out = []
    for url in options.mirrors_for(registry):
        split = urlsplit(url)
        out.append(Endpoint(registry, split.netloc, split.scheme, split.path.strip("/"), True))
    host = api_host(registry)
    out.append(Endpoint(registry, host, None if options.allows_plain_http(host) else "https"))
    return out
