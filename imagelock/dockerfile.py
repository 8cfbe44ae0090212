"""The external images of a Dockerfile: every image a build of it may pull, and where each is
written.

An image is external when BuildKit resolves it from a registry: a `FROM` that names no earlier
stage, `COPY --from=` and `RUN --mount=...,from=` naming no stage, and the `# syntax=`
frontend. Global ARGs (those before the first FROM) are substituted as BuildKit substitutes
them, with `--build-arg` values and the automatic platform ARGs of each platform built; a
reference whose value nobody can know without more input is an error, not a guess. The
reading rules themselves live in `imagelock.dockerfile_lexer`; this module gives them meaning.
Pure apart from `analyse_file`, which reads the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, Literal

from imagelock.dockerfile_lexer import (
    DockerfileSyntaxError,
    Instruction,
    Located,
    ParsedDockerfile,
    Unknown,
    Value,
    arg_words,
    expand,
    parse,
)
from imagelock.errors import ConfigError, DockerfileError, InvalidPlatform, InvalidReference
from imagelock.platform import Platform, host_platform, parse_platform
from imagelock.reference import Reference, parse_reference

__all__ = ["AUTOMATIC_ARGS", "ImageUse", "Kind", "analyse_file", "external_images"]

Kind = Literal["from", "copy", "mount", "syntax"]

#: The ARGs BuildKit defines for every build without a declaration (`--build-arg` overrides).
AUTOMATIC_ARGS: Final = (
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDOSVERSION",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETOSVERSION",
    "TARGETARCH",
    "TARGETVARIANT",
    "TARGETSTAGE",
)

SCRATCH: Final = "scratch"
_KIND_ORDER: Final[dict[str, int]] = {"syntax": 0, "from": 1, "copy": 2, "mount": 3}
_WHITESPACE_RE: Final = re.compile(r"[\t\v\f\r ]+")
_STAGE_NAME_RE: Final = re.compile(r"[a-z][a-z0-9-_.]*")
_STAGE_INDEX_RE: Final = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class ImageUse:
    """One place a Dockerfile pulls an image from a registry.

    `reference` is the image as the build sees it (ARGs substituted); `span` is where the
    token was written in the analysed text ([start, end) character offsets, before any
    substitution; a leading BOM counts as one character), so that a rewrite can replace it
    and leave every other character as it was. `needed_platforms` are the platforms this use
    pulls for the build analysed: what a lock entry must provide for it.
    """

    reference: str
    ref: Reference
    kind: Kind
    platform: str | None
    path: str
    line: int
    span: tuple[int, int] | None
    needed_platforms: frozenset[str]

    @property
    def source(self) -> str:
        """`path:line`, as `scan` prints it and errors cite it."""
        return f"{self.path}:{self.line}"


def analyse_file(
    path: Path,
    *,
    build_args: Mapping[str, str] | None = None,
    target_platforms: Sequence[Platform] = (),
    build_platform: Platform | None = None,
    display_path: str | None = None,
) -> list[ImageUse]:
    """`external_images` of the file at `path`, named `display_path` in results and errors.

    The text is decoded as UTF-8 and kept byte-for-byte (CRLF, a BOM), so spans index it.
    """
    shown = display_path if display_path is not None else str(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        raise DockerfileError(f"cannot read Dockerfile {shown}: {reason}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DockerfileError(
            f"{shown}: not UTF-8 text (byte {error.start}); Dockerfiles are read as UTF-8"
        ) from None
    return external_images(
        text,
        shown,
        build_args=build_args,
        target_platforms=target_platforms,
        build_platform=build_platform,
    )


def external_images(
    text: str,
    path: str = "Dockerfile",
    *,
    build_args: Mapping[str, str] | None = None,
    target_platforms: Sequence[Platform] = (),
    build_platform: Platform | None = None,
) -> list[ImageUse]:
    """Every image a build of this Dockerfile may pull, for each of `target_platforms`.

    All stages count, whichever `--target` is built. Uses found on several platforms are
    merged, their `needed_platforms` joined. Raises DockerfileError naming `path` and line.
    """
    build = (build_platform or host_platform()).normalized()
    targets = [p.normalized() for p in target_platforms] or [build]
    dockerfile = _Dockerfile.read(text, path)
    args = dict(build_args or {})
    merged: dict[tuple[int, str, str, tuple[int, int] | None], ImageUse] = {}
    for target in targets:
        for use in dockerfile.uses(args, target, build):
            key = (use.line, use.kind, use.reference, use.span)
            if key in merged:
                earlier = merged[key]
                use = _with_platforms(earlier, earlier.needed_platforms | use.needed_platforms)
            merged[key] = use
    return sorted(merged.values(), key=_order)


def build_arg_values(values: Sequence[str], environ: Mapping[str, str]) -> dict[str, str]:
    """`--build-arg` values as buildx takes them: `K=V`, or `K` alone for the environment's
    value of K (skipped when K is not set)."""
    out: dict[str, str] = {}
    for value in values:
        key, equals, given = value.partition("=")
        if not key:
            raise ConfigError(f"--build-arg {value!r}: expected KEY=VALUE or KEY")
        if equals:
            out[key] = given
        elif key in environ:
            out[key] = environ[key]
    return out


def context_key(name: str) -> str:
    """A named build context's key (`--build-context NAME=...`) as BuildKit looks references
    up: the familiar form when NAME is an image reference (`docker.io/library/ruby:3.3` is
    `ruby:3.3`), else NAME itself (a stage-like name)."""
    try:
        return parse_reference(name).buildkit_key()
    except InvalidReference:
        return name


def without_contexts(uses: Iterable[ImageUse], contexts: Iterable[str]) -> list[ImageUse]:
    """The uses left once named build contexts serve some: BuildKit pulls no image for
    `COPY --from=assets` when the build has `--build-context assets=./dir`."""
    keys = {context_key(name) for name in contexts}
    return [use for use in uses if use.ref.buildkit_key() not in keys]


def stage_names(text: str, path: str = "Dockerfile") -> frozenset[str]:
    """The stage names of a Dockerfile (`FROM ... AS name`), lower-cased as BuildKit has them.

    A named build context whose key is one of these replaces that stage, not an image.
    """
    return _Dockerfile.read(text, path).stage_names


def _order(use: ImageUse) -> tuple[int, int, int, str]:
    return (use.line, _KIND_ORDER[use.kind], use.span[0] if use.span else -1, use.reference)


def _with_platforms(use: ImageUse, platforms: frozenset[str]) -> ImageUse:
    return replace(use, needed_platforms=platforms)


# --- the structure: global ARGs and stages ---------------------------------------------------


@dataclass(frozen=True)
class _Stage:
    """A FROM and the instructions of its stage."""

    index: int
    base: Located
    name: str | None
    platform: Located | None
    instruction: Instruction
    commands: tuple[Instruction, ...]


@dataclass(frozen=True)
class _Dockerfile:
    """A parsed Dockerfile split the way BuildKit evaluates it."""

    path: str
    parsed: ParsedDockerfile
    global_args: tuple[Instruction, ...]
    stages: tuple[_Stage, ...]
    stage_names: frozenset[str] = field(default=frozenset())

    @classmethod
    def read(cls, text: str, path: str) -> _Dockerfile:
        try:
            parsed = parse(text)
        except DockerfileSyntaxError as error:
            raise _error(path, error.line, error.message) from None
        global_args: list[Instruction] = []
        groups: list[list[Instruction]] = []
        for instruction in parsed.instructions:
            if instruction.command == "from":
                groups.append([instruction])
            elif groups:
                groups[-1].append(instruction)
            elif instruction.command == "arg":
                global_args.append(instruction)
        if not groups:
            raise DockerfileError(f"{path}: no FROM instruction; is this a Dockerfile?")
        stages = tuple(_stage(path, i, group) for i, group in enumerate(groups))
        names = frozenset(s.name for s in stages if s.name is not None)
        return cls(path, parsed, tuple(global_args), stages, names)

    def uses(
        self, build_args: Mapping[str, str], target: Platform, build: Platform
    ) -> list[ImageUse]:
        """The external images for one target platform."""
        env = self._global_env(build_args, target, build)
        uses = list(self._syntax(build))
        earlier: dict[str, _Stage] = {}
        for stage in self.stages:
            base = self._base_name(stage, env)
            parent = earlier.get(base)
            if parent is None and base != SCRATCH:
                uses.append(self._from_use(stage, base, env, target))
            commands = list(stage.commands)
            if parent is not None:  # a stage built on a stage runs its ONBUILD triggers
                commands += [c.trigger for c in parent.commands if c.trigger is not None]
            for command in commands:
                uses += self._command_uses(command, target)
            if stage.name is not None:
                earlier[stage.name] = stage
        return uses

    # --- ARGs

    def _global_env(
        self, build_args: Mapping[str, str], target: Platform, build: Platform
    ) -> dict[str, Value]:
        """The values FROM sees: automatic platform ARGs, then the global ARGs in order."""
        last_name = self.stages[-1].name or "default"
        env: dict[str, Value] = dict(_automatic_args(target, build, last_name))
        env.update({k: v for k, v in build_args.items() if k in env})
        escape = self.parsed.escape
        for instruction in self.global_args:
            for word in arg_words(instruction.args.text, escape):
                name, has_value, default = word.partition("=")
                if not name:
                    raise _error(self.path, instruction.line, "ARG names can not be blank")
                if name in build_args:
                    env[name] = build_args[name]
                elif has_value:
                    env[name] = self._expand_default(default, env, instruction.line)
                elif name not in env:
                    env[name] = Unknown(name)
        return env

    def _expand_default(self, default: str, env: dict[str, Value], line: int) -> Value:
        """An ARG default, expanded with the ARGs before it; unknowable stays unknowable."""
        value = self._expand(default, env, line)
        if isinstance(value, Unknown):
            return Unknown(value.cause, is_set=True)
        return value

    def _expand(self, word: str, env: Mapping[str, Value], line: int) -> str | Unknown:
        try:
            return expand(word, self.parsed.escape, _lookup(env))
        except DockerfileSyntaxError as error:
            raise _error(self.path, line, error.message) from None

    def _known(self, written: Located, env: Mapping[str, Value], line: int) -> str:
        """A FROM word with global ARGs substituted; an error when it cannot be known."""
        value = self._expand(written.text, env, line)
        if isinstance(value, str):
            return value
        name = value.cause
        if name in env or name in AUTOMATIC_ARGS:
            message = f"ARG {name} has no value; pass --build-arg {name}=..."
        else:
            message = (
                f"${name} is not a global ARG, so {written.text!r} cannot be known; "
                f"declare `ARG {name}` before the first FROM"
            )
        raise _error(self.path, line, message)

    # --- FROM

    def _base_name(self, stage: _Stage, env: Mapping[str, Value]) -> str:
        line = stage.instruction.line
        base = self._known(stage.base, env, line)
        if not base:
            raise _error(self.path, line, f"base name ({stage.base.text}) should not be blank")
        return base

    def _from_use(
        self, stage: _Stage, base: str, env: Mapping[str, Value], target: Platform
    ) -> ImageUse:
        needed = str(target)
        written = stage.platform
        line = stage.instruction.line
        if written is not None:
            value = self._known(written, env, line)
            if not value:
                message = f"empty platform value from expression {written.text}"
                raise _error(self.path, line, message)
            try:
                needed = str(parse_platform(value).normalized())
            except InvalidPlatform as error:
                raise _error(self.path, line, str(error)) from None
        shown = written.text if written is not None else None
        return self._use(base, "from", line, stage.base.span, frozenset({needed}), shown)

    # --- COPY --from and RUN --mount=from=

    def _command_uses(self, command: Instruction, target: Platform) -> Iterator[ImageUse]:
        needed = frozenset({str(target)})
        if command.command == "copy":
            source = self._copy_source(command)
            if source is not None and not self._is_stage(source.text, allow_index=True):
                yield self._use(source.text, "copy", command.line, source.span, needed)
        elif command.command == "run":
            for source in self._mount_sources(command):
                if not self._is_stage(source.text, allow_index=False):
                    yield self._use(source.text, "mount", command.line, source.span, needed)

    def _is_stage(self, name: str, *, allow_index: bool) -> bool:
        """Whether `--from`/`from=` names a stage (any stage, case-insensitive), a stage
        index (COPY only), or scratch, rather than an image."""
        if allow_index and _STAGE_INDEX_RE.fullmatch(name):
            return True
        return name.lower() in self.stage_names or name == SCRATCH

    def _copy_source(self, command: Instruction) -> Located | None:
        """The `--from` value of a COPY; ARGs are not allowed there (BuildKit refuses)."""
        values = _flag_values(self.path, command, "from")
        if not values:
            return None
        value = values[-1]
        try:
            expanded = expand(value.text, self.parsed.escape, _lookup({}))
        except DockerfileSyntaxError:
            expanded = None
        if expanded != value.text:
            raise _error(
                self.path,
                command.line,
                f"--from={value.text}: variable expansion is not supported for --from; define "
                "a stage with FROM using a global ARG instead",
            )
        return value

    def _mount_sources(self, command: Instruction) -> Iterator[Located]:
        """The `from=` value of each `--mount` of a RUN that has one."""
        for mount in _flag_values(self.path, command, "mount"):
            try:
                fields = _csv_fields(mount)
            except ValueError as error:
                message = f"failed to parse csv mounts: {error}"
                raise _error(self.path, command.line, message) from None
            source: Located | None = None
            mount_type = "bind"
            for item in fields:
                key, equals, _ = item.text.partition("=")
                value = item[len(key) + 1 :]
                if not equals:
                    continue
                if key.lower() == "type":
                    mount_type = value.text.lower()
                elif key.lower() == "from":
                    _check_mount_from(self.path, command.line, value.text)
                    source = value
            if source is not None and source.text:
                if mount_type == "secret":
                    raise _error(self.path, command.line, "secret mount should not have a from")
                yield source

    # --- syntax

    def _syntax(self, build: Platform) -> Iterator[ImageUse]:
        directive = self.parsed.syntax
        if directive is None:
            return
        value = directive.value
        yield self._use(value.text, "syntax", directive.line, value.span, frozenset({str(build)}))

    def _use(
        self,
        reference: str,
        kind: Kind,
        line: int,
        span: tuple[int, int] | None,
        needed: frozenset[str],
        platform: str | None = None,
    ) -> ImageUse:
        try:
            ref = parse_reference(reference)
        except InvalidReference as error:
            raise _error(self.path, line, str(error)) from None
        return ImageUse(reference, ref, kind, platform, self.path, line, span, needed)


def _stage(path: str, index: int, group: list[Instruction]) -> _Stage:
    """A FROM instruction's parts, checked as BuildKit checks them."""
    instruction = group[0]
    words = _split_whitespace(instruction.args)
    name: str | None = None
    if len(words) == 3 and words[1].text.lower() == "as":
        name = words[2].text.lower()
        if not _STAGE_NAME_RE.fullmatch(name):
            raise _error(
                path,
                instruction.line,
                f'invalid name for build stage: "{words[2].text}", name can\'t start with a '
                "number or contain symbols",
            )
    elif len(words) != 1:
        raise _error(path, instruction.line, "FROM requires either one or three arguments")
    platforms = _flag_values(path, instruction, "platform", allowed=("platform",))
    platform = platforms[-1] if platforms else None
    return _Stage(index, words[0], name, platform, instruction, tuple(group[1:]))


def _split_whitespace(args: Located) -> list[Located]:
    words: list[Located] = []
    start = 0
    for match in _WHITESPACE_RE.finditer(args.text):
        words.append(args[start : match.start()])
        start = match.end()
    words.append(args[start:])
    return [w for w in words if w.text] if args.text else []


def _flag_values(
    path: str, instruction: Instruction, name: str, allowed: Sequence[str] | None = None
) -> list[Located]:
    """The values of `--name=value` flags (BuildKit's flag rules: a value is required, only
    repeatable flags may repeat; with `allowed`, other flags are refused)."""
    values: list[Located] = []
    for flag in instruction.flags:
        flag_name, equals, _ = flag.text.partition("=")
        if allowed is not None and flag_name[2:] not in allowed:
            raise _error(path, instruction.line, f"unknown flag: {flag_name}")
        if flag_name != "--" + name:
            continue
        if not equals:
            raise _error(path, instruction.line, f"missing a value on flag: {flag_name}")
        values.append(flag[len(flag_name) + 1 :])
    if len(values) > 1 and name != "mount":
        raise _error(path, instruction.line, f"duplicate flag specified: --{name}")
    return values


def _check_mount_from(path: str, line: int, value: str) -> None:
    dollar = value.find("$")
    if dollar != -1 and dollar != len(value) - 1:
        raise _error(
            path,
            line,
            f"from={value}: 'from' doesn't support variable expansion, define alias stage instead",
        )


def _csv_fields(value: Located) -> list[Located]:
    """One CSV record (RFC 4180 quoting), each field keeping its characters' offsets."""
    fields: list[Located] = []
    index, text = 0, value.text
    while True:
        kept: list[int] = []
        if index < len(text) and text[index] == '"':
            index += 1
            while True:
                if index >= len(text):
                    raise ValueError(f'extraneous or missing " in quoted-field: {text}')
                if text[index] == '"':
                    if index + 1 < len(text) and text[index + 1] == '"':
                        kept.append(index)
                        index += 2
                        continue
                    index += 1
                    break
                kept.append(index)
                index += 1
            if index < len(text) and text[index] != ",":
                raise ValueError(f'extraneous or missing " in quoted-field: {text}')
        else:
            while index < len(text) and text[index] != ",":
                if text[index] == '"':
                    raise ValueError(f'bare " in non-quoted-field: {text}')
                kept.append(index)
                index += 1
        fields.append(
            Located("".join(text[i] for i in kept), tuple(value.offsets[i] for i in kept))
        )
        if index >= len(text):
            return fields
        index += 1  # the comma


def _automatic_args(target: Platform, build: Platform, stage: str) -> Iterator[tuple[str, str]]:
    """BuildKit's automatic ARGs for one build and target platform (normalised platforms)."""
    for prefix, platform in (("BUILD", build), ("TARGET", target)):
        yield f"{prefix}PLATFORM", str(platform)
        yield f"{prefix}OS", platform.os
        yield f"{prefix}OSVERSION", ""
        yield f"{prefix}ARCH", platform.architecture
        yield f"{prefix}VARIANT", platform.variant or ""
    yield "TARGETSTAGE", stage


def _lookup(env: Mapping[str, Value]) -> Callable[[str], Value]:
    """Variables for the shell: ARGs as known; undeclared ones are unknowable, not empty."""

    def lookup(name: str) -> Value:
        return env.get(name, Unknown(name))

    return lookup


def _error(path: str, line: int, message: str) -> DockerfileError:
    return DockerfileError(f"{path}:{line}: {message}")
