"""The credentials users already have: `$DOCKER_CONFIG/config.json` and credential helpers.

Looked up as the Docker CLI does, per registry host: `credHelpers[host]`, then `credsStore`,
then the `auths` entries (Docker Hub under `https://index.docker.io/v1/`). Helpers speak the
`docker-credential-NAME get` protocol: the server URL on stdin, JSON on stdout. A secret never
leaves this module's values except as an Authorization header: reprs hide it and messages and
logs name only where a credential came from.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from imagelock.errors import ConfigError
from imagelock.registry.hosts import credentials_key, normalize_host

log = logging.getLogger("imagelock.registry")

CONFIG_NAME: Final = "config.json"
HELPER_TIMEOUT: Final = 60.0
#: A helper's Username meaning "Secret is an identity (refresh) token", not a password.
IDENTITY_TOKEN_USERNAME: Final = "<token>"


@dataclass(frozen=True)
class Credentials:
    """A username with its password, or an identity token for the OAuth2 refresh grant."""

    username: str
    secret: str = field(repr=False)
    identity_token: bool = False
    source: str = ""  # where it came from, for messages: "config.json", "docker-credential-x"


@dataclass(frozen=True)
class DockerConfig:
    """The credential parts of a Docker CLI config, keys normalised to `host[:port]`."""

    path: Path | None = None
    auths: Mapping[str, Credentials] = field(default_factory=dict, repr=False)
    creds_store: str | None = None
    cred_helpers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def load(
        cls, folder: Path | None = None, environ: Mapping[str, str] = os.environ
    ) -> DockerConfig:
        """Read `folder/config.json` (default `$DOCKER_CONFIG`, else `~/.docker`).

        A missing file means no credentials; an unreadable or invalid one is a ConfigError,
        as it is for the Docker CLI.
        """
        if folder is None:
            folder = Path(environ["DOCKER_CONFIG"]) if environ.get("DOCKER_CONFIG") else None
        if folder is None:
            folder = Path.home() / ".docker"
        path = folder / CONFIG_NAME
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path)
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            data = json.loads(text)
        except ValueError:
            raise ConfigError(f"{path} is not valid JSON: fix it or move it away") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path} is not a JSON object")
        auths = data.get("auths") or {}
        helpers = data.get("credHelpers") or {}
        store = data.get("credsStore") or None
        if not isinstance(auths, dict) or not isinstance(helpers, dict):
            raise ConfigError(f"{path}: `auths` and `credHelpers` must be objects")
        if store is not None and not isinstance(store, str):
            raise ConfigError(f"{path}: `credsStore` must be a string")
        normalised: dict[str, Credentials] = {}
        for key, entry in auths.items():
            found = _from_auths_entry(entry, key, path) if isinstance(entry, dict) else None
            # An exact `https://index.docker.io/v1/`-style key wins over a looser spelling.
            exact = key == credentials_key(key)
            if found is not None and (exact or normalize_host(key) not in normalised):
                normalised[normalize_host(key)] = found
        return cls(
            path,
            normalised,
            store,
            {normalize_host(k): v for k, v in helpers.items() if isinstance(v, str) and v},
        )

    def lookup(self, host: str) -> Credentials | None:
        """The credentials for registry `host`, or None for anonymous access.

        May run a credential helper (blocking; call it off the event loop).
        """
        host = normalize_host(host)
        server = credentials_key(host)
        helper = self.cred_helpers.get(host)
        if helper is not None:
            found = run_helper(helper, server)
            if found is not None:
                return found
        if self.creds_store is not None:
            found = run_helper(self.creds_store, server)
            if found is not None:
                return found
        return self.auths.get(host)


def run_helper(name: str, server_url: str, timeout: float = HELPER_TIMEOUT) -> Credentials | None:
    """Ask `docker-credential-NAME get` for `server_url`; None when it has nothing for it.

    A helper that is missing or fails is logged (never its output, which may hold secrets) and
    treated as "no credentials", so that public images still resolve.
    """
    program = f"docker-credential-{name}"
    try:
        proc = subprocess.run(
            [program, "get"],
            input=server_url,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        log.warning(
            "credential helper %s is not on PATH; no credentials for %s", program, server_url
        )
        return None
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning(
            "credential helper %s failed for %s: %s", program, server_url, type(exc).__name__
        )
        return None
    if proc.returncode != 0:
        if "credentials not found" not in (proc.stdout + proc.stderr).lower():
            log.warning(
                "credential helper %s exited with %d for %s; continuing without credentials",
                program,
                proc.returncode,
                server_url,
            )
        return None
    try:
        answer = json.loads(proc.stdout)
        username, secret = answer["Username"], answer["Secret"]
    except (ValueError, KeyError, TypeError):
        log.warning("credential helper %s gave an unreadable answer for %s", program, server_url)
        return None
    if not isinstance(username, str) or not isinstance(secret, str) or not secret:
        return None
    if username == IDENTITY_TOKEN_USERNAME:
        return Credentials("", secret, identity_token=True, source=program)
    return Credentials(username, secret, source=program)


def _from_auths_entry(entry: Mapping[str, Any], key: str, path: Path) -> Credentials | None:
    source = str(path)
    username, password = entry.get("username") or "", entry.get("password") or ""
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ConfigError(
                f"{source}: the `auth` of {key} is not base64 user:password"
            ) from None
        username, _, password = decoded.partition(":")
    identity = entry.get("identitytoken")
    if isinstance(identity, str) and identity:
        return Credentials(str(username), identity, identity_token=True, source=source)
    if isinstance(username, str) and isinstance(password, str) and username and password:
        return Credentials(username, password, source=source)
    return None
