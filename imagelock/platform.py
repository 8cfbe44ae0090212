"""Platforms (`os/architecture[/variant]`): parse, normalise, match.

A lock records each platform as the image index states it (`linux/arm64/v8` on Docker Hub,
`linux/arm64` from buildx), while users and BuildKit name it their own way (`linux/arm64`,
`aarch64`, `linux/arm`). Comparisons therefore go through containerd's normalisation, the one
BuildKit applies when it picks an index entry, so that a lock entry serves exactly the builds
BuildKit would serve from it. Pure: the host's platform comes from `platform.machine()`.
"""

from __future__ import annotations

import functools
import json
import platform as _stdlib_platform
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from imagelock.errors import InvalidPlatform

__all__ = [
    "Platform",
    "find_matching",
    "from_oci",
    "host_platform",
    "parse_platform",
    "parse_platforms",
]

# containerd's platform specifier component: letters, digits, `_`, `.` and `-`.
_COMPONENT_RE: Final = re.compile(r"[A-Za-z0-9_.-]+")

# `uname -m` values whose architecture and variant differ from the OCI names.
_MACHINE_ALIASES: Final[dict[str, tuple[str, str | None]]] = {
    "i486": ("386", None),
    "i586": ("386", None),
    "i686": ("386", None),
    "x86": ("386", None),
    "armv5l": ("arm", "v5"),
    "armv5tel": ("arm", "v5"),
    "armv6l": ("arm", "v6"),
    "armv7l": ("arm", "v7"),
    "armv8l": ("arm", "v8"),
}


@functools.total_ordering
@dataclass(frozen=True)
class Platform:
    """A platform exactly as stated; `normalized()` gives the form to compare by.

    Ordered by (os, architecture, variant) with no variant first, so platform lists sort
    stably in a lock file.
    """

    os: str
    architecture: str
    variant: str | None = None

    def __post_init__(self) -> None:
        if self.variant == "":  # OCI JSON writes "no variant" as "" or leaves it out
            object.__setattr__(self, "variant", None)

    def __str__(self) -> str:
        parts = [self.os, self.architecture] + ([self.variant] if self.variant else [])
        return "/".join(parts)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Platform):
            return NotImplemented
        return self._sort_key() < other._sort_key()

    def normalized(self) -> Platform:
        """containerd's normal form: `aarch64` -> `arm64`, `arm64/v8` -> `arm64`,
        `arm` -> `arm/v7`, `x86_64` -> `amd64`, `armhf` -> `arm/v7`, ... lower case."""
        os = self.os.lower()
        if os == "macos":
            os = "darwin"
        architecture, variant = _normalize_arch(self.architecture, self.variant)
        return Platform(os, architecture, variant)

    def matches(self, other: Platform) -> bool:
        """Whether both name the same platform once normalised (BuildKit's matching)."""
        return self.normalized() == other.normalized()

    def _sort_key(self) -> tuple[str, str, str]:
        return (self.os, self.architecture, self.variant or "")


def _normalize_arch(architecture: str, variant: str | None) -> tuple[str, str | None]:
    """containerd's architecture normalisation, on lower-cased values."""
    arch, var = architecture.lower(), (variant or "").lower()
    if arch in ("i386", "i686"):
        arch, var = "386", ""
    elif arch in ("x86_64", "x86-64", "amd64"):
        arch, var = "amd64", "" if var == "v1" else var
    elif arch in ("aarch64", "arm64"):
        arch = "arm64"
        var = {"8": "", "v8": "", "v8.0": "", "9": "v9", "9.0": "v9", "v9.0": "v9"}.get(var, var)
    elif arch == "armhf":
        arch, var = "arm", "v7"
    elif arch == "armel":
        arch, var = "arm", "v6"
    elif arch == "arm":
        var = {"": "v7", "7": "v7", "5": "v5", "6": "v6", "8": "v8"}.get(var, var)
    return arch, var or None


def parse_platform(text: str) -> Platform:
    """Parse `os/architecture[/variant]`, keeping it exactly as written.

    Unlike containerd, a lone `linux` or `arm64` is refused: a lock must not depend on the
    machine that wrote it.
    """
    parts = text.split("/")
    if not 2 <= len(parts) <= 3:
        raise _invalid(text, "expected os/architecture[/variant], as in linux/arm64")
    return _validated(text, parts)


def _validated(text: str, parts: list[str]) -> Platform:
    for part in parts:
        if not _COMPONENT_RE.fullmatch(part):
            raise _invalid(
                text, f"{_quote(part)} is not a platform component (letters, digits, '_.-')"
            )
    return Platform(*parts)


def parse_platforms(text: str) -> list[Platform]:
    """Parse a comma-separated list (`--platform linux/amd64, linux/arm64`).

    Blanks around items and empty items are ignored; a platform that matches an earlier one
    (`linux/arm64` after `linux/arm64/v8`) is dropped, so each is built or locked once.
    """
    platforms: list[Platform] = []
    for item in text.split(","):
        if not item.strip():
            continue
        parsed = parse_platform(item.strip())
        if not any(parsed.matches(seen) for seen in platforms):
            platforms.append(parsed)
    return platforms


def host_platform() -> Platform:
    """This machine's platform for Linux containers, normalised (`linux/amd64`, `linux/arm/v7`).

    The OS is always `linux`: images are Linux images even when Docker runs on macOS.
    """
    machine = _stdlib_platform.machine().lower()
    architecture, variant = _MACHINE_ALIASES.get(machine, (machine, None))
    return Platform("linux", architecture, variant).normalized()


def from_oci(obj: Mapping[str, object]) -> Platform:
    """The platform of an image index entry's `platform` object or an image config.

    Both carry `os`, `architecture` and an optional `variant` under the same keys; other keys
    (`os.version`, `features`) are ignored.
    """
    os, architecture = obj.get("os"), obj.get("architecture")
    variant = obj.get("variant") or ""
    if not (isinstance(os, str) and isinstance(architecture, str) and isinstance(variant, str)):
        raise _invalid_oci(obj, "os, architecture and variant must be strings")
    if not os or not architecture:
        raise _invalid_oci(obj, "an image platform needs both os and architecture")
    parts = [os, architecture] + ([variant] if variant else [])
    return _validated("/".join(parts), parts)


def find_matching(wanted: Platform, available: Iterable[str]) -> str | None:
    """The key of `available` (lock platform keys such as `linux/arm64/v8`) that serves
    `wanted`, or None. An exact match wins over a normalised one."""
    keys = list(available)
    if str(wanted) in keys:
        return str(wanted)
    for key in keys:
        if parse_platform(key).matches(wanted):
            return key
    return None


def _quote(text: str) -> str:
    """Quote on one line, whatever the text holds."""
    return json.dumps(text, ensure_ascii=False)


def _invalid_oci(obj: Mapping[str, object], problem: str) -> InvalidPlatform:
    shown = json.dumps(dict(obj), ensure_ascii=False, default=repr, sort_keys=True)
    return InvalidPlatform(f"invalid image platform {shown}: {problem}")


def _invalid(text: str, problem: str) -> InvalidPlatform:
    return InvalidPlatform(f"invalid platform {_quote(text)}: {problem}")
