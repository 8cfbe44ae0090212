"""What the commands print: tables for people, JSON for scripts. Pure functions of results.

The JSON shapes are a contract with users' scripts: keys are only ever added, never renamed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from imagelock.dockerfile import ImageUse
from imagelock.lockfile import LockEntry, PlatformChange
from imagelock.resolve import Movement


def short(digest: str | None) -> str:
    """A digest as people compare it by eye: algorithm and 12 hex characters."""
    if digest is None:
        return "-"
    algo, _, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:12]}"


def label(entry: LockEntry) -> str:
    return (
        f"{entry.name}:{entry.tag}"
        if entry.tag is not None
        else f"{entry.name}@{short(entry.digest)}"
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    rows = [list(headers), *[list(r) for r in rows]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(headers) - 1)]
    lines = []
    for row in rows:
        padded = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        cells = [*padded, row[-1]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


# --- scan ------------------------------------------------------------------------------------


def scan_json(uses: Sequence[ImageUse]) -> str:
    return json.dumps([scan_object(use) for use in uses], indent=2)


def scan_object(use: ImageUse) -> dict[str, Any]:
    return {
        "reference": use.reference,
        "name": use.ref.name,
        "tag": use.ref.effective_tag,
        "digest": use.ref.digest,
        "platform": use.platform,
        "kind": use.kind,
        "source": use.source,
    }


def scan_table(uses: Sequence[ImageUse]) -> str:
    rows = [(use.source, use.kind, use.platform or "", _canonical(use)) for use in uses]
    return table(("SOURCE", "KIND", "PLATFORM", "IMAGE"), rows)


def _canonical(use: ImageUse) -> str:
    ref = use.ref
    tag = f":{ref.effective_tag}" if ref.effective_tag else ""
    digest = f"@{ref.digest}" if ref.digest else ""
    return f"{ref.name}{tag}{digest}"


# --- update and outdated --------------------------------------------------------------------


def platform_lines(changes: Sequence[PlatformChange], indent: str = "    ") -> list[str]:
    width = max((len(c.platform) for c in changes), default=0)
    return [f"{indent}{c.platform:<{width}}  {c.kind:<7}  {_arrow(c.old, c.new)}" for c in changes]


def _arrow(old: str | None, new: str | None) -> str:
    if old and new:
        return f"{short(old)} -> {short(new)}"
    return short(new or old)


def update_lines(move: Movement) -> list[str]:
    """One entry of `imagelock update`: old -> new digest, then what moved per platform."""
    name = label(move.entry)
    if not move.moved:
        return [f"{name}  unchanged ({short(move.entry.digest)})"]
    head = f"{name}  {short(move.entry.digest)} -> {short(move.current)}"
    if not move.platforms:
        return [
            head,
            "    no platform changed (only the index itself: attestations or annotations)",
        ]
    return [head, *platform_lines(move.platforms)]


def outdated_table(moves: Sequence[Movement]) -> str:
    rows = []
    for move in moves:
        summary = ", ".join(f"{c.platform} {c.kind}" for c in move.platforms)
        if move.status == "moved":
            summary = f"other platforms only: {summary}" if summary else "index only"
        rows.append(
            (label(move.entry), short(move.entry.digest), short(move.current), move.status, summary)
        )
    return table(("IMAGE", "LOCKED", "CURRENT", "STATUS", "PLATFORMS"), rows)


def outdated_json(moves: Sequence[Movement]) -> str:
    return json.dumps([outdated_object(m) for m in moves], indent=2)


def outdated_object(move: Movement) -> dict[str, Any]:
    return {
        "name": move.entry.name,
        "tag": move.entry.tag,
        "locked_digest": move.entry.digest,
        "current_digest": move.current,
        "status": move.status,
        "outdated": move.status == "outdated",
        "platforms_changed": [
            {
                "platform": c.platform,
                "change": c.kind,
                "locked_digest": c.old,
                "current_digest": c.new,
            }
            for c in move.platforms
        ],
    }
