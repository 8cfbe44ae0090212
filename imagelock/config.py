"""Settings: command-line options over environment over the optional `imagelock.toml`.

The config file lives beside the lock file (or is named by `--config` / `IMAGELOCK_CONFIG`):

    platforms = ["linux/amd64", "linux/arm64"]     # default for lock --platform and outdated
    insecure-registries = ["registry.internal:5000"]
    ca-file = "certs/ca.pem"                          # relative to the config file
    build-contexts = ["assets"]                       # names served by --build-context
    [mirrors]
    "docker.io" = ["https://harbor.example.com/dockerhub-proxy"]

Mirrors from all three sources are tried in that order (options first), then the registry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagelock.errors import ConfigError, InvalidPlatform
from imagelock.platform import Platform, parse_platforms
from imagelock.registry import RegistryOptions, mirrors_from_env, parse_mirror

CONFIG_NAME = "imagelock.toml"
KNOWN_KEYS = {"platforms", "insecure-registries", "ca-file", "mirrors", "build-contexts"}


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know beyond its own arguments."""

    lockfile: Path
    registry: RegistryOptions
    platforms: tuple[Platform, ...] = ()
    build_contexts: tuple[str, ...] = ()  # names the builds serve from named contexts
    verbose: int = 0
    quiet: bool = False
    config_file: Path | None = field(default=None, compare=False)

    @property
    def root(self) -> Path:
        """The lock file's folder: sources in the lock are relative to it."""
        return self.lockfile.parent


def load_settings(
    *,
    lockfile: Path | None = None,
    mirrors: Sequence[str] = (),
    insecure: Sequence[str] = (),
    ca_file: Path | None = None,
    config: Path | None = None,
    platforms: str | None = None,
    verbose: int = 0,
    quiet: bool = False,
    environ: Mapping[str, str] = os.environ,
) -> Settings:
    lock_path = Path(lockfile or environ.get("IMAGELOCK_LOCKFILE") or "images.lock")
    config_path = config or _env_path(environ, "IMAGELOCK_CONFIG")
    if config_path is None and (lock_path.parent / CONFIG_NAME).is_file():
        config_path = lock_path.parent / CONFIG_NAME
    file_cfg = _read_config(config_path) if config_path else {}

    merged: dict[str, list[str]] = {}
    option_mirrors = [parse_mirror(text) for text in mirrors]
    for host, url in option_mirrors:
        merged.setdefault(host, []).append(url)
    for source in (mirrors_from_env(environ), _config_mirrors(file_cfg, config_path)):
        for host, urls in source.items():
            merged.setdefault(host, []).extend(u for u in urls if u not in merged.get(host, []))

    ca = ca_file or _env_path(environ, "IMAGELOCK_CA_FILE")
    if ca is None and "ca-file" in file_cfg:
        ca = _relative_to(config_path, _string(file_cfg["ca-file"], "ca-file", config_path))
    if ca is not None and not ca.is_file():
        raise ConfigError(f"CA file {ca} does not exist")

    insecure_hosts = set(insecure)
    insecure_hosts.update(_split(environ.get("IMAGELOCK_INSECURE_REGISTRIES", "")))
    insecure_hosts.update(
        _string_list(file_cfg.get("insecure-registries", []), "insecure-registries", config_path)
    )

    platform_text = platforms or environ.get("IMAGELOCK_PLATFORMS")
    if platform_text is None and "platforms" in file_cfg:
        platform_text = ",".join(_string_list(file_cfg["platforms"], "platforms", config_path))
    try:
        platform_list = tuple(parse_platforms(platform_text)) if platform_text else ()
    except InvalidPlatform as exc:
        raise ConfigError(str(exc)) from None

    contexts = _string_list(file_cfg.get("build-contexts", []), "build-contexts", config_path)

    return Settings(
        lockfile=lock_path,
        registry=RegistryOptions(
            mirrors={host: tuple(urls) for host, urls in merged.items()},
            insecure=frozenset(insecure_hosts),
            ca_file=ca,
        ),
        platforms=platform_list,
        build_contexts=tuple(contexts),
        verbose=verbose,
        quiet=quiet,
        config_file=config_path,
    )


def _env_path(environ: Mapping[str, str], name: str) -> Path | None:
    value = environ.get(name)
    return Path(value) if value else None


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _relative_to(config_path: Path | None, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() or config_path is None else config_path.parent / path


def _read_config(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    import tomlkit  # only when there is a config file: most runs have none
    from tomlkit.exceptions import ParseError

    try:
        data: dict[str, Any] = tomlkit.parse(text).unwrap()
    except ParseError as exc:
        raise ConfigError(f"{path}:{exc.line}: invalid TOML: {_parse_problem(exc)}") from None
    unknown = sorted(set(data) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key {unknown[0]!r} (known: {', '.join(sorted(KNOWN_KEYS))})"
        )
    return data


def _parse_problem(exc: Exception) -> str:
    return str(exc).split(" at line ")[0]


def _string(value: object, key: str, path: Path | None) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{path}: {key} must be a string")
    return value


def _string_list(value: object, key: str, path: Path | None) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: {key} must be a list of strings")
    return list(value)


def _config_mirrors(data: Mapping[str, Any], path: Path | None) -> dict[str, list[str]]:
    table = data.get("mirrors", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [mirrors] must be a table of host = [urls]")
    out: dict[str, list[str]] = {}
    for host, urls in table.items():
        values = [urls] if isinstance(urls, str) else _string_list(urls, f"mirrors.{host}", path)
        out[host] = [parse_mirror(f"{host}={url}")[1] for url in values]
    return out
