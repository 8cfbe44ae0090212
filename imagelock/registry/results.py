"""What resolving a reference gives: the values the lock records, or "unchanged"."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from imagelock.reference import Reference


@dataclass(frozen=True)
class Resolved:
    """Where a reference points now.

    `digest` is the index digest of a multi-platform image, else the manifest digest.
    `platforms` maps `os/arch[/variant]`, as the index states it, to the platform's manifest
    digest, attestations left out; a single-platform image has its one platform, read from its
    config, mapped to its own digest.
    """

    reference: Reference
    digest: str
    media_type: str
    platforms: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Unchanged:
    """The tag still points to the digest already known (a HEAD showed it; no body fetched)."""

    reference: Reference
    digest: str
