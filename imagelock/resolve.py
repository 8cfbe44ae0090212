"""From Dockerfiles to lock entries, reusing what is already locked.

Like pip-tools' `local.py`, this wraps the registry: an image the lock already pins is answered
from the lock, and only what is new (or asked to be upgraded) goes to the network. `lock`,
`lock --check`, `update` and `outdated` are all made of these pieces.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from imagelock.dockerfile import ImageUse, analyse_file, without_contexts
from imagelock.errors import DockerfileError, ImagelockError, RegistryError
from imagelock.lockfile import Lock, LockEntry, PlatformChange, platform_changes
from imagelock.platform import Platform, find_matching, parse_platform
from imagelock.reference import Reference, parse_reference
from imagelock.registry import RegistryOptions, Resolved, Unchanged, resolve_many

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Requirement:
    """What the Dockerfiles ask of one lock entry: a tag (maybe pinned) and who uses it."""

    name: str
    tag: str | None
    pinned: str | None  # a digest written in a Dockerfile (`ruby:3.3@sha256:…`)
    sources: tuple[str, ...]
    uses: tuple[ImageUse, ...]

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.tag if self.tag is not None else "@" + str(self.pinned))

    @property
    def label(self) -> str:
        return f"{self.name}:{self.tag}" if self.tag is not None else f"{self.name}@{self.pinned}"

    @property
    def needed_platforms(self) -> frozenset[str]:
        return frozenset().union(*(use.needed_platforms for use in self.uses))

    def reference(self) -> Reference:
        """What to ask the registry for: the written digest when there is one, else the tag."""
        if self.pinned is not None:
            return parse_reference(f"{self.name}@{self.pinned}")
        return parse_reference(f"{self.name}:{self.tag}")


# --- the Dockerfiles' side -------------------------------------------------------------------


def source_path(dockerfile: Path, root: Path) -> str:
    """A Dockerfile as the lock names it: relative to the lock's folder, `/`-separated."""
    rel = os.path.relpath(dockerfile.resolve(), root.resolve())
    return rel.replace(os.sep, "/")


def scan_files(
    dockerfiles: Iterable[Path],
    root: Path,
    *,
    build_args: Mapping[str, str] | None = None,
    platforms: Sequence[Platform] = (),
    contexts: Sequence[str] = (),
) -> list[ImageUse]:
    """Every external image use of `dockerfiles`, named by their path relative to `root`;
    references that the named build `contexts` serve are no images to lock."""
    uses: list[ImageUse] = []
    for dockerfile in dockerfiles:
        uses += analyse_file(
            dockerfile,
            build_args=build_args,
            target_platforms=platforms,
            display_path=source_path(dockerfile, root),
        )
    return without_contexts(uses, contexts)


def requirements(uses: Iterable[ImageUse]) -> list[Requirement]:
    """Group uses into one requirement per lock key; two different pins of one tag are an error."""
    grouped: dict[tuple[str, str], list[ImageUse]] = {}
    for use in uses:
        ref = use.ref
        tag = ref.effective_tag
        key = (ref.name, tag if tag is not None else "@" + str(ref.digest))
        grouped.setdefault(key, []).append(use)
    out = []
    for (name, _), group in sorted(grouped.items()):
        pins = {use.ref.digest for use in group if use.ref.digest is not None}
        if len(pins) > 1:
            where = ", ".join(sorted({u.source for u in group if u.ref.digest is not None}))
            raise DockerfileError(
                f"{group[0].ref.name}:{group[0].ref.effective_tag} is pinned to different "
                f"digests in {where}; use one digest per tag"
            )
        out.append(
            Requirement(
                name=name,
                tag=group[0].ref.effective_tag,
                pinned=next(iter(pins), None),
                sources=tuple(sorted({use.path for use in group})),
                uses=tuple(group),
            )
        )
    return out


# --- reuse or resolve ------------------------------------------------------------------------


def reusable(req: Requirement, lock: Lock | None) -> LockEntry | None:
    """The locked entry that already satisfies `req`, if any (no network needed for it)."""
    if lock is None:
        return None
    entry = lock.get(req.name, req.tag, req.pinned) if req.tag else None
    if req.tag is None and req.pinned is not None:
        entry = lock.get(req.name, None, req.pinned)
    return entry


def entry_from(req: Requirement, resolved: Resolved) -> LockEntry:
    return LockEntry(
        name=req.name,
        tag=req.tag,
        digest=resolved.digest,
        media_type=resolved.media_type,
        sources=req.sources,
        platforms=dict(resolved.platforms),
    )


def resolve_requirements(
    reqs: Sequence[Requirement], options: RegistryOptions, progress: Progress | None = None
) -> dict[tuple[str, str], Resolved]:
    """Resolve each requirement against its registry, concurrently; any failure is raised."""
    refs = {req.key: req.reference() for req in reqs}
    results = resolve_many(list(refs.values()), options, progress=progress)
    out: dict[tuple[str, str], Resolved] = {}
    failures: list[RegistryError] = []
    for key, ref in refs.items():
        result = results[ref]
        if isinstance(result, Resolved):
            out[key] = result
        elif isinstance(result, RegistryError):
            failures.append(result)
    raise_first(failures)
    return out


def raise_first(failures: Sequence[ImagelockError]) -> None:
    """Raise the first failure, saying how many more there were (the user fixes one at a time)."""
    if not failures:
        return
    first = failures[0]
    if len(failures) > 1:
        first.args = (f"{first} (and {len(failures) - 1} more failure(s))",)
    raise first


@dataclass(frozen=True)
class Scope:
    """Which Dockerfiles this run read, so that entries used by the others are kept, not pruned.

    `imagelock lock services/api` must not drop what `services/web/Dockerfile` still uses: an
    old entry keeps each source that was not scanned this time and still exists.
    """

    root: Path
    scanned: frozenset[str]

    def carried(self, entry: LockEntry | None) -> tuple[str, ...]:
        if entry is None:
            return ()
        return tuple(
            s for s in entry.sources if s not in self.scanned and (self.root / s).is_file()
        )


def build_lock(
    reqs: Sequence[Requirement],
    old: Lock | None,
    options: RegistryOptions,
    *,
    scope: Scope,
    upgrade: bool = False,
    progress: Progress | None = None,
) -> tuple[Lock, int]:
    """The lock the Dockerfiles need: reused entries (sources refreshed) plus resolved new ones.

    Entries no Dockerfile uses any more are pruned. Returns the lock and how many were resolved.
    """
    entries: list[LockEntry] = []
    todo: list[Requirement] = []
    for req in reqs:
        entry = None if upgrade else reusable(req, old)
        if entry is None:
            todo.append(req)
        else:
            entries.append(_with_sources(entry, _sources(req, old, scope)))
    resolved = resolve_requirements(todo, options, progress) if todo else {}
    for req in todo:
        entry = entry_from(req, resolved[req.key])
        entries.append(_with_sources(entry, _sources(req, old, scope)))
    wanted = {req.key for req in reqs}
    for kept in old.entries if old else ():
        carried = scope.carried(kept)
        if kept.key not in wanted and carried:
            entries.append(_with_sources(kept, carried))
    version = old.version if old else Lock().version
    return Lock(tuple(entries), version), len(todo)


def _sources(req: Requirement, old: Lock | None, scope: Scope) -> tuple[str, ...]:
    previous = old.get(req.name, req.tag) if old and req.tag else None
    return tuple(sorted({*req.sources, *scope.carried(previous)}))


def _with_sources(entry: LockEntry, sources: tuple[str, ...]) -> LockEntry:
    if entry.sources == sources:
        return entry
    return LockEntry(
        entry.name, entry.tag, entry.digest, entry.media_type, sources, entry.platforms
    )


def missing_platforms(
    entries: Iterable[LockEntry], reqs: Iterable[Requirement], wanted: Sequence[Platform]
) -> list[str]:
    """One message per (image, platform) the lock cannot serve, for `lock --platform`.

    An image needs the platforms its uses pull: the target platforms, or the build platform
    for `FROM --platform=$BUILDPLATFORM` stages and `# syntax=` frontends.
    """
    by_key = {req.key: req for req in reqs}
    problems = []
    for entry in entries:
        req = by_key.get(entry.key)
        needed = sorted(req.needed_platforms) if req else [str(p) for p in wanted]
        for text in needed:
            if find_matching(parse_platform(text), entry.platforms) is None:
                problems.append(
                    f"{_label(entry)} has no {text} image (it has {', '.join(entry.platforms)})"
                )
    return problems


def _label(entry: LockEntry) -> str:
    return f"{entry.name}:{entry.tag}" if entry.tag else f"{entry.name}@{entry.digest}"


# --- lock --check ------------------------------------------------------------------------------


def check_lines(
    reqs: Sequence[Requirement],
    lock: Lock | None,
    scope: Scope,
    platforms: Sequence[Platform] = (),
) -> list[str]:
    """What `lock --check` reports, offline: images to add, to prune, and changed sources.

    With `platforms` (the ones `lock --platform` would require), a locked entry that lacks one
    its uses need is reported too: `lock` with the same platforms would fail on it.
    """
    lines = []
    for req in reqs:
        entry = reusable(req, lock)
        if entry is None:
            pinned = " (pinned to a digest the lock does not have)" if req.pinned else ""
            lines.append(f"+ {req.label}{pinned}, used by {', '.join(req.sources)}: not locked")
            continue
        if platforms:
            lines += [f"! {problem}" for problem in missing_platforms([entry], [req], platforms)]
        sources = _sources(req, lock, scope)
        if entry.sources != sources:
            gained = [f"+{s}" for s in sources if s not in entry.sources]
            lost = [f"-{s}" for s in entry.sources if s not in sources]
            lines.append(f"~ {_label(entry)}  sources: {', '.join(gained + lost)}")
    wanted = {req.key for req in reqs}
    for entry in lock.entries if lock else ():
        if entry.key in wanted:
            continue
        carried = scope.carried(entry)
        if not carried:
            lines.append(f"- {_label(entry)}: locked but no Dockerfile uses it")
        elif carried != entry.sources:
            lost = [f"-{s}" for s in entry.sources if s not in carried]
            lines.append(f"~ {_label(entry)}  sources: {', '.join(lost)}")
    return lines


# --- update and outdated ---------------------------------------------------------------------


def matches(entry: LockEntry, pattern: str) -> bool:
    """Whether NAME[:TAG] (as `imagelock update` takes it) selects `entry`.

    A bare name (`ruby`) matches every repository whose last path component it is; a name with a
    path or registry (`library/ruby`, `docker.io/library/ruby`) matches that repository only.
    """
    name, tag = split_tag(pattern)
    if tag is not None and entry.tag != tag:
        return False
    if "/" not in name:
        return entry.name.rsplit("/", 1)[-1] == name
    return parse_reference(name).name == entry.name


def split_tag(pattern: str) -> tuple[str, str | None]:
    """`ruby:3.3` -> (ruby, 3.3); a `:` before the last `/` is a port, not a tag."""
    head, sep, tail = pattern.rpartition(":")
    if sep and "/" not in tail:
        return head, tail
    return pattern, None


def near_misses(entries: Iterable[LockEntry], pattern: str) -> list[str]:
    """Entry names a NAME with a path was probably meant for: `team/ruby` typed for
    `registry.example.com:5000/team/ruby` (a path alone means Docker Hub's repository)."""
    name, tag = split_tag(pattern)
    if "/" not in name:
        return []
    suffix = "/" + name.removeprefix("docker.io/").removeprefix("index.docker.io/")
    return sorted(
        {e.name for e in entries if e.name.endswith(suffix) and (tag is None or e.tag == tag)}
    )


def validate_pattern(pattern: str) -> None:
    """Reject NAME arguments that could never match, with the reference grammar's message."""
    name, tag = split_tag(pattern)
    if "@" in pattern:
        raise ImagelockError(f"{pattern!r}: update takes NAME or NAME:TAG, not a digest")
    parse_reference(name if tag is None else f"{name}:{tag}")


@dataclass(frozen=True)
class Movement:
    """How one entry's tag moved upstream (or did not), per platform."""

    entry: LockEntry
    current: str  # the digest the tag points to now
    resolved: Resolved | None  # the new index or manifest; None when HEAD showed no move
    platforms: tuple[PlatformChange, ...]
    status: Literal["up-to-date", "outdated", "moved"]

    @property
    def moved(self) -> bool:
        return self.current != self.entry.digest

    def updated_entry(self) -> LockEntry:
        """The entry re-locked to where its tag points now."""
        if self.resolved is None or not self.moved:
            return self.entry
        return LockEntry(
            self.entry.name,
            self.entry.tag,
            self.resolved.digest,
            self.resolved.media_type,
            self.entry.sources,
            dict(self.resolved.platforms),
        )


def movements(
    entries: Sequence[LockEntry],
    options: RegistryOptions,
    *,
    platforms: Sequence[Platform] = (),
    progress: Progress | None = None,
) -> list[Movement]:
    """Where each tagged entry's tag points now: HEAD first, the index only when it moved.

    With `platforms`, only changes to those platforms make an entry outdated; an index that
    moved for other platforms alone is `moved`.
    """
    tagged = [entry for entry in entries if entry.tag is not None]
    refs = {entry.key: parse_reference(f"{entry.name}:{entry.tag}") for entry in tagged}
    known = {refs[entry.key]: entry.digest for entry in tagged}
    results = resolve_many(list(refs.values()), options, known=known, progress=progress)
    failures: list[RegistryError] = []
    out = []
    for entry in tagged:
        result = results[refs[entry.key]]
        if isinstance(result, RegistryError):
            failures.append(result)
        elif isinstance(result, Unchanged):
            out.append(Movement(entry, result.digest, None, (), "up-to-date"))
        else:
            out.append(classify(entry, result, platforms))
    raise_first(failures)
    return out


def classify(entry: LockEntry, resolved: Resolved, platforms: Sequence[Platform]) -> Movement:
    """Compare a locked entry with what its tag resolves to now, platform by platform."""
    changes = platform_changes(entry.platforms, resolved.platforms)
    relevant = [c for c in changes if _counts(c.platform, platforms)]
    status: Literal["up-to-date", "outdated", "moved"]
    if resolved.digest == entry.digest:
        status = "up-to-date"
    elif relevant or (not platforms and not changes):
        status = "outdated"
    else:
        status = "moved"
    return Movement(entry, resolved.digest, resolved, changes, status)


def _counts(platform: str, wanted: Sequence[Platform]) -> bool:
    if not wanted:
        return True
    return any(find_matching(p, [platform]) is not None for p in wanted)


def dropped_platforms(moves: Iterable[Movement], wanted: Sequence[Platform]) -> list[str]:
    """Required platforms an update would take away (upstream stopped publishing them)."""
    return [
        f"{move.entry.name}:{move.entry.tag} no longer has a {change.platform} image upstream, "
        "a required platform (--platform or configured platforms); nothing was updated"
        for move in moves
        for change in move.platforms
        if change.kind == "removed" and wanted and _counts(change.platform, wanted)
    ]


def pinned_in_dockerfiles(entries: Iterable[LockEntry], root: Path) -> dict[tuple[str, str], str]:
    """Entries whose tag a Dockerfile pins to a digest itself (`FROM ruby:3.3@sha256:...`),
    with where: `update` leaves those to the Dockerfile. Files that cannot be analysed
    without build args are passed over: their pins cannot be known here."""
    entries = list(entries)
    wanted = {e.key for e in entries if e.tag is not None}
    pinned: dict[tuple[str, str], str] = {}
    for source in sorted({s for e in entries for s in e.sources}):
        path = root / source
        if not path.is_file():
            continue
        try:
            uses = scan_files([path], root)
        except DockerfileError:
            continue
        for use in uses:
            key = (use.ref.name, use.ref.effective_tag or "")
            if use.ref.digest and use.ref.tag and key in wanted:
                pinned.setdefault(key, use.source)
    return pinned
