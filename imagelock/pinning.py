"""The build plan: how the lock's digests reach one `docker buildx build`, and the guards first.

Before anything runs, every external image of the Dockerfile must be served by the lock: locked
at all, and for every platform the build pulls it for (containerd's platform matching). A
single-platform manifest pinned where an index is needed, the common accident of copying one
architecture's digest, is refused here rather than silently used for every platform.

Then each pin mode injects the digests its own way (see `plan_build`); `# syntax=` is pinned in
every mode. `--strict` adds a BuildKit source policy that denies every image the lock lacks.
Pure: text, lock and analysed uses in, a plan out; `imagelock.build` writes and runs it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from imagelock.dockerfile import AUTOMATIC_ARGS, ImageUse, stage_names
from imagelock.errors import ConfigError, InvalidReference, LockfileError
from imagelock.lockfile import Lock, LockEntry
from imagelock.platform import Platform, find_matching, parse_platform
from imagelock.reference import parse_reference

__all__ = [
    "PIN_MODES",
    "BuildPlan",
    "Pin",
    "PinMode",
    "entry_for",
    "locked_pins",
    "plan_build",
    "source_policy",
    "with_syntax_override",
]

PinMode = Literal["context", "rewrite", "build-arg", "policy"]
PIN_MODES: Final[tuple[PinMode, ...]] = ("context", "rewrite", "build-arg", "policy")

#: The build arg that overrides the `# syntax=` directive (BuildKit's own).
SYNTAX_ARG: Final = "BUILDKIT_SYNTAX"
#: Where a `--build-arg BUILDKIT_SYNTAX=...` use is said to come from, in messages.
SYNTAX_ARG_SOURCE: Final = f"--build-arg {SYNTAX_ARG}"

# A FROM word that is one ARG and nothing else: `$BASE`, `${BASE}`, `${BASE:-default}`.
_ARG_ONLY_RE: Final = re.compile(
    r"\$(?:(?P<plain>[A-Za-z_][A-Za-z0-9_]*)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::?-[^}]*)?\})"
)
_DIGEST_ABBREV: Final = 12


@dataclass(frozen=True)
class Pin:
    """One external image of the Dockerfile and the lock entry that serves it."""

    use: ImageUse
    entry: LockEntry

    @property
    def pinned(self) -> str:
        """`NAME:TAG@DIGEST` in the familiar form (`ruby:3.3@sha256:…`): what a rewritten
        Dockerfile or a build arg says, readable and exact."""
        ref = dataclasses.replace(self.use.ref, tag=self.entry.tag, digest=self.entry.digest)
        return ref.familiar()

    @property
    def image(self) -> str:
        """`docker-image://NAME@DIGEST` (the index digest): a named context's source."""
        return f"docker-image://{self.entry.name}@{self.entry.digest}"

    @property
    def written_pinned(self) -> bool:
        """Whether the Dockerfile already names the digest (`FROM x@sha256:…`): nothing to
        inject, the guards alone apply."""
        return self.use.ref.digest is not None


@dataclass(frozen=True)
class BuildPlan:
    """What one build adds to the buildx command line, for the chosen pin mode."""

    mode: PinMode
    pins: tuple[Pin, ...]
    build_contexts: tuple[tuple[str, str], ...] = ()  # (key, docker-image://NAME@DIGEST)
    build_args: tuple[tuple[str, str], ...] = ()  # pinned ARGs and BUILDKIT_SYNTAX
    dockerfile: str | None = None  # the rewritten Dockerfile (rewrite mode)
    policy: Mapping[str, Any] | None = None  # a BuildKit source policy (policy mode, --strict)


def with_syntax_override(
    uses: Sequence[ImageUse], build_args: Mapping[str, str], build_platform: Platform
) -> list[ImageUse]:
    """The uses as BuildKit will see them when `--build-arg BUILDKIT_SYNTAX=IMAGE` is given:
    that image replaces the `# syntax=` directive's, and must be locked like any other."""
    value = build_args.get(SYNTAX_ARG)
    if value is None:
        return list(uses)
    try:
        ref = parse_reference(value)
    except InvalidReference as error:
        raise ConfigError(f"{SYNTAX_ARG_SOURCE}: {error}") from None
    override = ImageUse(
        reference=value,
        ref=ref,
        kind="syntax",
        platform=None,
        path=SYNTAX_ARG_SOURCE,
        line=0,
        span=None,
        needed_platforms=frozenset({str(build_platform.normalized())}),
    )
    return [override, *(use for use in uses if use.kind != "syntax")]


def locked_pins(
    uses: Iterable[ImageUse],
    lock: Lock | None,
    lock_name: str,
    lock_command: str = "imagelock lock",
) -> tuple[Pin, ...]:
    """Each use with its lock entry; LockfileError (exit 2, one line) when the lock does not
    serve the build: an image not locked, or a platform its entry lacks. `lock_command` is
    what the message tells the user to run."""
    uses = list(uses)
    if not uses:
        return ()
    if lock is None:
        raise LockfileError(
            f"{lock_name} does not exist; run `{lock_command}` to lock "
            f"{_listing(_describe(use) for use in uses)}"
        )
    pins: list[Pin] = []
    unlocked: list[str] = []
    for use in uses:
        entry = entry_for(use, lock)
        if entry is None:
            unlocked.append(_describe(use) + _moved_note(use, lock))
        else:
            pins.append(Pin(use, entry))
    if unlocked:
        raise LockfileError(
            f"not in {lock_name}: {_listing(unlocked)}; run `{lock_command}` "
            "and review the new entries"
        )
    problems = [problem for pin in pins for problem in _platform_problems(pin, lock_name)]
    if problems:
        raise LockfileError("; ".join(problems))
    return tuple(pins)


def plan_build(
    text: str,
    pins: Sequence[Pin],
    lock: Lock | None,
    *,
    mode: PinMode,
    strict: bool = False,
) -> BuildPlan:
    """How `mode` injects the pins into a build of the Dockerfile `text` (whose uses `pins`
    are, already guarded by `locked_pins`).

    - context: `--build-context KEY=docker-image://NAME@DIGEST` per reference as written, KEY
      as BuildKit looks it up (familiar form, `:latest` trimmed); the Dockerfile untouched.
    - rewrite: the Dockerfile with each image token replaced by `NAME:TAG@DIGEST`, every
      other character as it was; a token whose image depends on the platform cannot be.
    - build-arg: `--build-arg ARG=NAME:TAG@DIGEST` for each FROM written as one ARG; any other
      image is an error naming it (use context or rewrite for those Dockerfiles).
    - policy: a source policy converting each locked tag to its digest (BuildKit applies it
      to whatever it resolves); the Dockerfile untouched.

    The `# syntax=` image goes in as `BUILDKIT_SYNTAX=NAME:TAG@DIGEST` (rewrite mode edits the
    directive instead). `strict` adds a policy that denies every image the lock lacks.
    """
    if mode not in PIN_MODES:
        raise ConfigError(f"unknown pin mode {mode!r} (expected one of {', '.join(PIN_MODES)})")
    to_inject = [pin for pin in pins if not pin.written_pinned]
    syntax_args = [
        (SYNTAX_ARG, pin.pinned)
        for pin in to_inject
        if pin.use.kind == "syntax" and (mode != "rewrite" or pin.use.span is None)
    ]
    images = [pin for pin in to_inject if pin.use.kind != "syntax"]
    contexts: tuple[tuple[str, str], ...] = ()
    args: list[tuple[str, str]] = []
    dockerfile: str | None = None
    if mode == "context":
        contexts = _named_contexts(images, stage_names(text, pins[0].use.path if pins else ""))
    elif mode == "rewrite":
        dockerfile = rewrite(
            text, [pin for pin in to_inject if pin.use.kind != "syntax" or pin.use.span]
        )
    elif mode == "build-arg":
        args = _arg_pins(text, images)
    policy = None
    if mode == "policy" or strict:
        policy = source_policy(lock if lock is not None else Lock(), strict=strict)
    return BuildPlan(
        mode=mode,
        pins=tuple(pins),
        build_contexts=contexts,
        build_args=(*args, *_unique(syntax_args, "the # syntax= frontend")),
        dockerfile=dockerfile,
        policy=policy,
    )


def rewrite(text: str, pins: Sequence[Pin]) -> str:
    """`text` with each pin's token replaced by its `NAME:TAG@DIGEST`, nothing else changed.

    ConfigError when a token cannot be rewritten: it was not written in the text (no span), or
    it names different images on different platforms (`FROM base-${TARGETARCH}`).
    """
    by_span: dict[tuple[int, int], set[str]] = {}
    where: dict[tuple[int, int], Pin] = {}
    unwritable: list[str] = []
    for pin in pins:
        span = pin.use.span
        if span is None:
            unwritable.append(_describe(pin.use))
            continue
        by_span.setdefault(span, set()).add(pin.pinned)
        where.setdefault(span, pin)
    varying = [
        f"{where[span].use.source} ({', '.join(sorted(values))})"
        for span, values in by_span.items()
        if len(values) > 1
    ]
    if varying:
        unwritable.append("the image depends on the platform at " + ", ".join(varying))
    if unwritable:
        raise ConfigError(
            f"--pin-mode rewrite cannot rewrite: {_listing(unwritable)}; "
            "use --pin-mode context (the default)"
        )
    out: list[str] = []
    position = 0
    for (start, end), values in sorted(by_span.items()):
        if start < position:  # pragma: no cover - the analysis never yields overlapping tokens
            raise ConfigError(f"overlapping image tokens at {where[(start, end)].use.source}")
        out += [text[position:start], next(iter(values))]
        position = end
    out.append(text[position:])
    return "".join(out)


def source_policy(lock: Lock, *, strict: bool) -> dict[str, Any]:
    """A BuildKit source policy from the lock (`EXPERIMENTAL_BUILDKIT_SOURCE_POLICY`).

    Every locked tag converts to `NAME:TAG@DIGEST`, whoever asks for it. With `strict`, a
    DENY of every image comes first and an ALLOW of each locked digest after it (the last
    matching ALLOW/DENY wins), so an image the lock lacks cannot be pulled at all.
    """
    rules: list[dict[str, Any]] = []
    if strict:
        rules.append(_rule("DENY", "docker-image://*"))
        for entry in lock.entries:
            rules.append(_rule("ALLOW", f"docker-image://{entry.name}@{entry.digest}"))
            if entry.tag is not None:
                rules.append(_rule("ALLOW", f"docker-image://{entry.reference()}"))
    for entry in lock.entries:
        if entry.tag is not None:
            rules.append(
                _rule(
                    "CONVERT",
                    f"docker-image://{entry.name}:{entry.tag}",
                    updates=f"docker-image://{entry.reference()}",
                )
            )
    return {"rules": rules}


# --- guards -----------------------------------------------------------------------------------


def entry_for(use: ImageUse, lock: Lock) -> LockEntry | None:
    """The lock entry that serves `use` (its tag, or the digest written with it)."""
    ref = use.ref
    return lock.get(ref.name, ref.effective_tag, ref.digest)


def _moved_note(use: ImageUse, lock: Lock) -> str:
    """Why a digest-pinned reference is not served although its tag is locked."""
    ref = use.ref
    if ref.digest is None or ref.tag is None:
        return ""
    other = lock.get(ref.name, ref.tag)
    if other is None:
        return ""
    return f" [the lock has {ref.tag} at {_short(other.digest)}]"


def _platform_problems(pin: Pin, lock_name: str) -> list[str]:
    entry, use = pin.entry, pin.use
    missing = sorted(
        wanted
        for wanted in use.needed_platforms
        if find_matching(parse_platform(wanted), entry.platforms) is None
    )
    if not missing:
        return []
    wanted_text = ", ".join(missing)
    single = len(entry.platforms) == 1 and next(iter(entry.platforms.values())) == entry.digest
    if single:
        only = next(iter(entry.platforms))
        if use.ref.digest is not None:
            return [
                f"{_describe(use)} is pinned to the {only} image's manifest, not a "
                f"multi-platform index: it cannot serve {wanted_text}; pin the index digest "
                "(or the tag, and lock it) instead"
            ]
        return [
            f"{_describe(use)} is a single-platform image ({only}) in {lock_name}: "
            f"it cannot serve {wanted_text}"
        ]
    locked = ", ".join(entry.platforms)
    return [
        f"{_describe(use)} has no {wanted_text} image in {lock_name} (locked: {locked}); "
        f"if the image provides it now, run `imagelock update {use.ref.familiar_name}`"
    ]


# --- the modes --------------------------------------------------------------------------------


def _named_contexts(pins: Sequence[Pin], stages: frozenset[str]) -> tuple[tuple[str, str], ...]:
    """One named context per reference as written: BuildKit looks up each FROM, COPY --from
    and --mount from= by its own key, so `localhost:5000/x` and `127.0.0.1:5000/x` are two.

    A key that is also a stage's name (`FROM node AS node`) would replace the whole stage, its
    own instructions unrun, so it is refused rather than built wrong."""
    contexts: dict[str, str] = {}
    for pin in pins:
        key = pin.use.ref.buildkit_key()
        if key.lower() in stages:
            raise ConfigError(
                f"{_describe(pin.use)}: a stage is also named {key!r}, and a named build "
                "context for the image would replace that stage; use --pin-mode rewrite or "
                "policy, or rename the stage"
            )
        contexts.setdefault(key, pin.image)
    return tuple(contexts.items())


def _arg_pins(text: str, pins: Sequence[Pin]) -> list[tuple[str, str]]:
    values: dict[str, set[str]] = {}
    not_from_arg: list[str] = []
    for pin in pins:
        name = _arg_of(text, pin.use)
        if name is None:
            not_from_arg.append(_describe(pin.use))
        else:
            values.setdefault(name, set()).add(pin.pinned)
    if not_from_arg:
        raise ConfigError(
            "--pin-mode build-arg pins only images a FROM takes from an ARG "
            f"(FROM ${{BASE}}); {_listing(not_from_arg)} "
            f"{'is' if len(not_from_arg) == 1 else 'are'} not: "
            "use --pin-mode context (the default) or rewrite"
        )
    return [(name, _unique_value(name, pinned, f"ARG {name}")) for name, pinned in values.items()]


def _arg_of(text: str, use: ImageUse) -> str | None:
    """The ARG a FROM's image comes from entirely (`FROM ${BASE}`), else None."""
    if use.kind != "from" or use.span is None:
        return None
    match = _ARG_ONLY_RE.fullmatch(text[use.span[0] : use.span[1]])
    if match is None:
        return None
    name = match["plain"] or match["braced"]
    return None if name in AUTOMATIC_ARGS else name


def _unique(pairs: Sequence[tuple[str, str]], what: str) -> list[tuple[str, str]]:
    values: dict[str, set[str]] = {}
    for name, value in pairs:
        values.setdefault(name, set()).add(value)
    return [(name, _unique_value(name, found, what)) for name, found in values.items()]


def _unique_value(name: str, values: set[str], what: str) -> str:
    if len(values) > 1:
        raise ConfigError(
            f"{what} names different images on different platforms ({', '.join(sorted(values))});"
            " one build arg cannot pin them: use --pin-mode context (the default)"
        )
    return next(iter(values))


def _rule(action: str, identifier: str, *, updates: str | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"action": action, "selector": {"identifier": identifier}}
    if updates is not None:
        rule["updates"] = {"identifier": updates}
    return rule


# --- messages ---------------------------------------------------------------------------------


def _describe(use: ImageUse) -> str:
    """`ruby:3.3 (Dockerfile:1)`; the syntax frontend says so."""
    where = use.source if use.line else use.path
    what = f"# syntax={use.reference}" if use.kind == "syntax" and use.line else use.reference
    return f"{what} ({where})"


def _listing(items: Iterable[str]) -> str:
    unique = list(dict.fromkeys(items))
    return ", ".join(unique)


def _short(digest: str) -> str:
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}:{encoded[:_DIGEST_ABBREV]}…"
