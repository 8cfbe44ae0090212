"""The errors imagelock raises, each with a message written for the user.

The CLI maps them to exit codes in one place (`exit_code`): 2 for usage or input errors,
registry failures included; 1 when a check found a difference or a build failed.
"""

from __future__ import annotations


class ImagelockError(Exception):
    """Root of every error a user can act on. `str(error)` is one line for the terminal."""

    exit_code = 2


class InvalidReference(ImagelockError):
    """An image reference that Docker's grammar (distribution/reference) does not accept."""


class InvalidPlatform(ImagelockError):
    """A platform string that is not `os/arch[/variant]`."""


class DockerfileError(ImagelockError):
    """A Dockerfile that cannot be analysed: unknown ARG, unparsable reference, bad syntax."""


class LockfileError(ImagelockError):
    """An images.lock that cannot be read or does not validate."""


class ConfigError(ImagelockError):
    """A bad option value or configuration file."""


class RegistryError(ImagelockError):
    """A registry request that failed; the message names the registry and what to do."""


class NotFound(RegistryError):
    """The repository, tag or digest does not exist (or is hidden without credentials)."""


class Unauthorized(RegistryError):
    """The registry refused the credentials, or needs some."""


class RateLimited(RegistryError):
    """The registry kept answering 429 after the allowed retries."""


class DigestMismatch(RegistryError):
    """A body's SHA-256 differs from the digest the registry claimed or the one asked for."""


class UnsupportedManifest(RegistryError):
    """A manifest kind imagelock cannot lock (schema 1, unknown media type, oversized)."""


class RegistryUnreachable(RegistryError):
    """Connection refused, DNS failure, timeout or repeated 5xx."""


class TLSFailure(RegistryError):
    """The registry's certificate could not be verified."""


class CheckFailed(ImagelockError):
    """A check found a difference (`lock --check`, `outdated`)."""

    exit_code = 1


class BuildFailed(ImagelockError):
    """buildx ran and failed; its exit code is kept."""

    exit_code = 1

    def __init__(self, message: str, returncode: int = 1) -> None:
        super().__init__(message)
        self.exit_code = returncode
