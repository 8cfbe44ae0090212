"""The `imagelock` command: a thin Typer shell over the library.

Errors are turned into one line on stderr and an exit code here and nowhere else:
0 ok, 1 a check found a difference or a build failed, 2 usage or input error.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

try:  # Typer >= 0.2x vendors click; older Typer uses the click package.
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - depends on the installed Typer
    from click import exceptions as click_exceptions  # type: ignore[no-redef,import-not-found,unused-ignore]

from imagelock import __version__
from imagelock.errors import CheckFailed, ConfigError, ImagelockError

if TYPE_CHECKING:
    from imagelock.config import Settings
    from imagelock.lockfile import Lock
    from imagelock.platform import Platform

app = typer.Typer(
    name="imagelock",
    help="Lock the images your Dockerfiles use to digests; build reproducibly with buildx.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"imagelock {__version__}")
        raise typer.Exit()


class Format(str, Enum):
    table = "table"
    json = "json"


# Options every command takes; also accepted before the command (`imagelock --lockfile X lock`).
LockfileOpt = Annotated[
    Path | None,
    typer.Option("--lockfile", metavar="PATH", help="The lock file (default: ./images.lock)."),
]
MirrorOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--mirror",
        metavar="HOST=URL",
        help="Pull-through mirror for a registry, tried first (repeatable), "
        "e.g. docker.io=https://harbor.example.com/dockerhub-proxy.",
    ),
]
InsecureOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--insecure-registry", metavar="HOST", help="Allow plain HTTP for HOST (repeatable)."
    ),
]
CaFileOpt = Annotated[
    Path | None,
    typer.Option("--ca-file", metavar="PATH", help="Extra CA certificates to trust (PEM)."),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", metavar="PATH", help="Config file (default: imagelock.toml beside the lock)."
    ),
]
VerboseOpt = Annotated[
    int, typer.Option("-v", "--verbose", count=True, help="More detail on stderr.")
]
QuietOpt = Annotated[
    bool, typer.Option("-q", "--quiet", help="Print only errors and requested data.")
]
BuildArgOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--build-arg", metavar="KEY=VALUE", help="Value for a Dockerfile ARG (repeatable)."
    ),
]
PlatformOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--platform",
        metavar="PLATFORMS",
        help="Target platforms, comma-separated (e.g. linux/amd64,linux/arm64).",
    ),
]
PathsArg = Annotated[
    list[Path] | None,
    typer.Argument(
        metavar="PATH",
        help="Dockerfiles (any name) or folders to search (default: the current folder).",
        show_default=False,
    ),
]
FormatOpt = Annotated[Format, typer.Option("--format", help="Output format.")]
ContextOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--build-context",
        metavar="NAME[=SOURCE]",
        help="A named build context the builds are given (repeatable): NAME is served by it, "
        "not pulled as an image.",
    ),
]


def context_names(values: Sequence[str] | None) -> list[str]:
    return [value.partition("=")[0] for value in values or [] if value.partition("=")[0]]


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    lockfile: LockfileOpt = None,
    mirror: MirrorOpt = None,
    insecure_registry: InsecureOpt = None,
    ca_file: CaFileOpt = None,
    config: ConfigOpt = None,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """imagelock keeps Dockerfiles on readable tags and records what each tag resolved to."""
    ctx.obj = {
        "lockfile": lockfile,
        "mirror": mirror or [],
        "insecure_registry": insecure_registry or [],
        "ca_file": ca_file,
        "config": config,
        "verbose": verbose,
        "quiet": quiet,
    }


def settings_from(ctx: typer.Context, platforms: Sequence[str] = (), **local: Any) -> Settings:
    """Merge a command's own options over the global ones, then over env and config file."""
    from imagelock.config import load_settings

    merged: dict[str, Any] = dict(ctx.obj or {})
    for key, value in local.items():
        if key in ("mirror", "insecure_registry"):
            merged[key] = [*merged.get(key, []), *(value or [])]
        elif value:
            merged[key] = value
    settings = load_settings(
        lockfile=merged.get("lockfile"),
        mirrors=merged.get("mirror", []),
        insecure=merged.get("insecure_registry", []),
        ca_file=merged.get("ca_file"),
        config=merged.get("config"),
        platforms=",".join(platforms) or None,
        verbose=merged.get("verbose", 0),
        quiet=merged.get("quiet", False),
    )
    _configure_logging(settings.verbose)
    return settings


def _registry_settings(
    ctx: typer.Context,
    platform: Sequence[str] | None,
    lockfile: Path | None,
    mirror: Sequence[str] | None,
    insecure_registry: Sequence[str] | None,
    ca_file: Path | None,
) -> Settings:
    """settings_from for the commands that talk to registries (lock, update, outdated)."""
    return settings_from(
        ctx,
        platform or (),
        lockfile=lockfile,
        mirror=mirror,
        insecure_registry=insecure_registry,
        ca_file=ca_file,
    )


def _configure_logging(verbose: int) -> None:
    import logging

    if verbose:
        level = logging.INFO if verbose == 1 else logging.DEBUG
        logging.basicConfig(level=level, format="imagelock: %(message)s", stream=sys.stderr)


def parse_build_args(values: Sequence[str] | None) -> dict[str, str]:
    """KEY=VALUE pairs; a bare KEY takes its value from the environment, as buildx does."""
    import os

    from imagelock.dockerfile import build_arg_values

    return build_arg_values(values or [], os.environ)


@contextmanager
def progress_reporter(settings: Settings, verb: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress line on a terminal's stderr for long resolutions; nothing on a pipe."""
    if settings.quiet or not sys.stderr.isatty():
        yield None
        return
    shown = False

    def report(done: int, total: int) -> None:
        nonlocal shown
        if total >= 4:
            shown = True
            sys.stderr.write(f"\r{verb} {done}/{total} images...")
            sys.stderr.flush()

    try:
        yield report
    finally:
        if shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def say(settings: Settings, text: str) -> None:
    """Informational output (stdout), silenced by --quiet."""
    if not settings.quiet and text:
        typer.echo(text)


def _dockerfiles(paths: Sequence[Path] | None) -> list[Path]:
    from imagelock.discover import find_dockerfiles

    files = find_dockerfiles(list(paths or []))
    if not files:
        where = ", ".join(str(p) for p in paths) if paths else "the current folder"
        raise ImagelockError(
            f"no Dockerfiles found in {where} (looked for Dockerfile, *.Dockerfile, Dockerfile.*)"
        )
    return files


def _platforms(settings: Settings) -> list[Platform]:
    return list(settings.platforms)


# --- scan --------------------------------------------------------------------------------------


@app.command()
def scan(
    ctx: typer.Context,
    paths: PathsArg = None,
    build_arg: BuildArgOpt = None,
    platform: PlatformOpt = None,
    output_format: FormatOpt = Format.table,
    lockfile: LockfileOpt = None,
    build_context: ContextOpt = None,
) -> None:
    """List the external images the Dockerfiles use (FROM, COPY --from, RUN --mount, # syntax=)."""
    from imagelock import report
    from imagelock.resolve import scan_files

    settings = settings_from(ctx, platform or (), lockfile=lockfile)
    files = _dockerfiles(paths)
    uses = scan_files(
        files,
        Path.cwd(),
        build_args=parse_build_args(build_arg),
        platforms=_platforms(settings),
        contexts=[*settings.build_contexts, *context_names(build_context)],
    )
    if output_format is Format.json:
        typer.echo(report.scan_json(uses))
    elif uses:
        typer.echo(report.scan_table(uses))


# --- lock --------------------------------------------------------------------------------------


@app.command()
def lock(
    ctx: typer.Context,
    paths: PathsArg = None,
    upgrade: Annotated[bool, typer.Option("--upgrade", help="Re-resolve every image.")] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Write nothing; exit 1 with a diff when the lock is out of date."
        ),
    ] = False,
    platform: PlatformOpt = None,
    build_arg: BuildArgOpt = None,
    build_context: ContextOpt = None,
    lockfile: LockfileOpt = None,
    mirror: MirrorOpt = None,
    insecure_registry: InsecureOpt = None,
    ca_file: CaFileOpt = None,
) -> None:
    """Resolve every external image of the Dockerfiles and write images.lock.

    Images already locked are not resolved again (no network when nothing is new); entries no
    Dockerfile uses are pruned; the file is replaced atomically.
    """
    from imagelock.errors import CheckFailed
    from imagelock.lockfile import Lock, diff_locks, format_diff, read_lock, write_lock
    from imagelock.resolve import (
        Scope,
        build_lock,
        check_lines,
        missing_platforms,
        raise_first,
        requirements,
        scan_files,
    )

    settings = _registry_settings(ctx, platform, lockfile, mirror, insecure_registry, ca_file)
    files = _dockerfiles(paths)
    platforms = _platforms(settings)
    uses = scan_files(
        files,
        settings.root,
        build_args=parse_build_args(build_arg),
        platforms=platforms,
        contexts=[*settings.build_contexts, *context_names(build_context)],
    )
    reqs = requirements(uses)
    scope = Scope(settings.root, _scanned(files, settings))
    old = read_lock(settings.lockfile)
    if check:
        lines = check_lines(reqs, old, scope, platforms)
        if old is None:
            lines.insert(0, f"{settings.lockfile} does not exist")
        if lines:
            typer.echo("\n".join(lines))
            raise CheckFailed(
                f"{settings.lockfile} does not match the Dockerfiles; run `imagelock lock`"
            )
        say(settings, f"{settings.lockfile} is up to date")
        return
    with progress_reporter(settings, "resolving") as progress:
        new, resolved = build_lock(
            reqs, old, settings.registry, scope=scope, upgrade=upgrade, progress=progress
        )
    if platforms:
        raise_first([ImagelockError(m) for m in missing_platforms(new.entries, reqs, platforms)])
    written = write_lock(settings.lockfile, new)

    diff = format_diff([c for c in diff_locks(old or Lock(), new) if c.kind != "unchanged"])
    say(settings, diff)
    state = "written" if written else "unchanged"
    say(
        settings,
        f"{settings.lockfile}: {len(new.entries)} image(s), {resolved} resolved, {state}",
    )


def _scanned(files: Sequence[Path], settings: Settings) -> frozenset[str]:
    from imagelock.resolve import source_path

    return frozenset(source_path(f, settings.root) for f in files)


# --- update ------------------------------------------------------------------------------------


@app.command()
def update(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="NAME[:TAG]",
            help="Entries to re-resolve: `ruby` (any registry), `library/ruby`, "
            "`docker.io/library/ruby`, `ruby:3.3`. Default: all.",
            show_default=False,
        ),
    ] = None,
    platform: PlatformOpt = None,
    lockfile: LockfileOpt = None,
    mirror: MirrorOpt = None,
    insecure_registry: InsecureOpt = None,
    ca_file: CaFileOpt = None,
) -> None:
    """Re-resolve locked entries and show what changed, platform by platform.

    With --platform (or configured platforms), an update that would drop one of those
    platforms from an entry is refused and the lock is left as it was.
    """
    from imagelock import report
    from imagelock.lockfile import write_lock
    from imagelock.resolve import (
        dropped_platforms,
        matches,
        movements,
        near_misses,
        pinned_in_dockerfiles,
        raise_first,
        validate_pattern,
    )

    settings = _registry_settings(ctx, platform, lockfile, mirror, insecure_registry, ca_file)
    current = _require_lock(settings)
    patterns = names or []
    for pattern in patterns:
        validate_pattern(pattern)
        if not any(matches(e, pattern) for e in current.entries):
            near = near_misses(current.entries, pattern)
            hint = f" (did you mean {' or '.join(near)}?)" if near else ""
            raise ImagelockError(f"{pattern!r} matches no entry of {settings.lockfile}{hint}")
    selected = [e for e in current.entries if not patterns or any(matches(e, p) for p in patterns)]
    for entry in selected:
        if entry.tag is None:
            say(settings, f"{report.label(entry)}  locked by digest (no tag to follow); kept")
    pinned = pinned_in_dockerfiles(selected, settings.root)
    for entry in selected:
        if entry.key in pinned:
            say(
                settings,
                f"{report.label(entry)}  pinned to {report.short(entry.digest)} in "
                f"{pinned[entry.key]}; edit the Dockerfile to change it",
            )
    todo = [e for e in selected if e.key not in pinned and e.tag is not None]
    with progress_reporter(settings, "checking") as progress:
        moves = movements(
            todo, settings.registry, platforms=_platforms(settings), progress=progress
        )
    raise_first([ImagelockError(m) for m in dropped_platforms(moves, _platforms(settings))])
    by_key = {m.entry.key: m.updated_entry() for m in moves}
    new = current.with_entries(by_key.get(e.key, e) for e in current.entries)
    write_lock(settings.lockfile, new)
    for move in moves:
        say(settings, "\n".join(report.update_lines(move)))
    taken = sum(1 for move in moves if move.moved)
    if taken:
        say(settings, f"{settings.lockfile}: {taken} of {len(moves)} checked tag(s) updated")
    elif moves:
        say(settings, f"nothing changed: {settings.lockfile} already has what the tags point to")


def _require_lock(settings: Settings) -> Lock:
    from imagelock.lockfile import read_lock

    current = read_lock(settings.lockfile)
    if current is None:
        raise ImagelockError(f"{settings.lockfile} does not exist; run `imagelock lock` first")
    return current


# --- outdated ----------------------------------------------------------------------------------


@app.command()
def outdated(
    ctx: typer.Context,
    platform: PlatformOpt = None,
    output_format: FormatOpt = Format.table,
    lockfile: LockfileOpt = None,
    mirror: MirrorOpt = None,
    insecure_registry: InsecureOpt = None,
    ca_file: CaFileOpt = None,
) -> None:
    """Tell which locked tags now point elsewhere upstream; exit 1 if any is outdated.

    With --platform (or configured platforms) only changes to those platforms count; an index
    that moved for other platforms alone is reported as `moved` without failing.
    """
    from imagelock import report
    from imagelock.errors import CheckFailed
    from imagelock.resolve import movements, pinned_in_dockerfiles

    settings = _registry_settings(ctx, platform, lockfile, mirror, insecure_registry, ca_file)
    current = _require_lock(settings)
    with progress_reporter(settings, "checking") as progress:
        moves = movements(
            current.entries, settings.registry, platforms=_platforms(settings), progress=progress
        )
    if output_format is Format.json:
        typer.echo(report.outdated_json(moves))
    elif moves:
        typer.echo(report.outdated_table(moves))
    stale = [m for m in moves if m.status == "outdated"]
    if stale:
        # A tag a Dockerfile pins itself (`FROM x:1@sha256:...`) is not for `update` to move.
        pinned = pinned_in_dockerfiles([m.entry for m in stale], settings.root)
        advice = []
        if len(pinned) < len(stale):
            advice.append("run `imagelock update NAME` to take them")
        advice += [
            f"{name}:{tag} is pinned in {where}: edit the digest there"
            for (name, tag), where in sorted(pinned.items())
        ]
        raise CheckFailed(
            f"{len(stale)} of {len(moves)} locked tag(s) outdated; " + "; ".join(advice)
        )


# --- build -------------------------------------------------------------------------------------


class PinModeChoice(str, Enum):
    context = "context"
    rewrite = "rewrite"
    build_arg = "build-arg"
    policy = "policy"


def _many(help_text: str, *names: str, metavar: str = "VALUE") -> Any:
    return typer.Option(*names, metavar=metavar, help=help_text, show_default=False)


@app.command(
    context_settings={"allow_interspersed_args": True},
    epilog="Options after `--` are passed to docker buildx build unchanged.",
)
def build(
    ctx: typer.Context,
    context: Annotated[
        str, typer.Argument(metavar="CONTEXT", help="The build context: a local folder.")
    ],
    extra: Annotated[
        list[str] | None,
        typer.Argument(metavar="-- BUILDX_OPTION", hidden=True, show_default=False),
    ] = None,
    file: Annotated[
        str | None, _many("Dockerfile (default: CONTEXT/Dockerfile).", "-f", "--file")
    ] = None,
    tag: Annotated[list[str] | None, _many("Image name[:tag] (repeatable).", "-t", "--tag")] = None,
    platform: Annotated[
        list[str] | None, _many("Target platforms, comma-separated.", "--platform")
    ] = None,
    push: Annotated[
        bool, typer.Option("--push", help="Push the image (--output=type=registry).")
    ] = False,
    load: Annotated[bool, typer.Option("--load", help="Load the image into docker.")] = False,
    output: Annotated[
        list[str] | None, _many("Output destination (buildx syntax).", "-o", "--output")
    ] = None,
    target: Annotated[str | None, _many("Stage to build.", "--target")] = None,
    build_arg: BuildArgOpt = None,
    build_context: Annotated[
        list[str] | None,
        _many(
            "Named build context (NAME=SOURCE, repeatable), as buildx takes it; one that "
            "would replace a locked image is refused.",
            "--build-context",
            metavar="NAME=SOURCE",
        ),
    ] = None,
    secret: Annotated[
        list[str] | None, _many("Secret for the build (buildx syntax).", "--secret")
    ] = None,
    ssh: Annotated[list[str] | None, _many("SSH agent socket or keys to expose.", "--ssh")] = None,
    cache_from: Annotated[
        list[str] | None, _many("External cache sources.", "--cache-from")
    ] = None,
    cache_to: Annotated[list[str] | None, _many("Cache export destinations.", "--cache-to")] = None,
    builder: Annotated[str | None, _many("buildx builder instance.", "--builder")] = None,
    metadata_file: Annotated[
        str | None, _many("Write build metadata to a file.", "--metadata-file", metavar="PATH")
    ] = None,
    progress: Annotated[
        str | None, _many("auto, plain, tty, rawjson or quiet.", "--progress")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not use cache.")] = False,
    pull: Annotated[bool, typer.Option("--pull", help="Always attempt to pull images.")] = False,
    label: Annotated[list[str] | None, _many("Image metadata (KEY=VALUE).", "--label")] = None,
    pin_mode: Annotated[
        PinModeChoice,
        typer.Option(
            "--pin-mode",
            help="How digests reach buildx: named build contexts, a rewritten temporary "
            "Dockerfile, build args for FROM ${ARG}, or a BuildKit source policy.",
        ),
    ] = PinModeChoice.context,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Also deny, by source policy, every image the lock lacks."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the buildx command (and files); run nothing.")
    ] = False,
    reproducible: Annotated[
        bool,
        typer.Option(
            "--reproducible",
            help="SOURCE_DATE_EPOCH from the last commit, timestamps rewritten, no provenance.",
        ),
    ] = False,
    source_date_epoch: Annotated[
        int | None,
        _many("SOURCE_DATE_EPOCH for --reproducible.", "--source-date-epoch", metavar="N"),
    ] = None,
    lockfile: LockfileOpt = None,
) -> None:
    """Run docker buildx build on exactly the locked digests.

    Refuses to build when an image of the Dockerfile is not locked or a requested platform is
    missing from its entry. The exit code is buildx's.
    """
    from imagelock.build import BuildRequest
    from imagelock.build import build as run_build

    settings = settings_from(ctx, lockfile=lockfile)
    if extra and not extra[0].startswith("-"):
        raise ConfigError(
            f"unexpected argument {extra[0]!r} after CONTEXT {context!r}: one build context; "
            "buildx options that imagelock does not take go after `--`"
        )
    if source_date_epoch is not None and not reproducible:
        raise ConfigError("--source-date-epoch only applies with --reproducible")
    request = BuildRequest(
        context=context,
        file=file,
        tags=tuple(tag or ()),
        platforms=tuple(platform or ()),
        push=push,
        load=load,
        outputs=tuple(output or ()),
        target=target,
        build_args=tuple(build_arg or ()),
        secrets=tuple(secret or ()),
        ssh=tuple(ssh or ()),
        cache_from=tuple(cache_from or ()),
        cache_to=tuple(cache_to or ()),
        builder=builder,
        metadata_file=metadata_file,
        progress=progress,
        no_cache=no_cache,
        pull=pull,
        labels=tuple(label or ()),
        build_contexts=tuple(build_context or ()),
        extra=tuple(extra or ()),
        pin_mode=pin_mode.value,
        strict=strict,
        dry_run=dry_run,
        reproducible=reproducible,
        source_date_epoch=source_date_epoch,
        lockfile=settings.lockfile,
        quiet=settings.quiet,
    )
    run_build(request)


def fail(message: str, code: int = 2, prefix: str = "error: ") -> NoReturn:
    """Print one error line and exit."""
    typer.echo(f"imagelock: {prefix}{message}", err=True)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, map every known failure to one line and an exit code."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="imagelock", standalone_mode=False)
    except CheckFailed as exc:
        fail(str(exc), exc.exit_code, prefix="")
    except ImagelockError as exc:
        fail(str(exc), exc.exit_code)
    except click_exceptions.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError" and exc.ctx is not None:
            typer.echo(exc.ctx.get_help(), err=True)
            raise SystemExit(2) from None
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        fail(f"{exc.format_message()}{hint}", 2)
    except click_exceptions.ClickException as exc:
        fail(exc.format_message(), exc.exit_code)
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:
        fail("aborted", 130)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except BrokenPipeError:
        sys.stderr.close()
        raise SystemExit(1) from None
    if result == 130:  # Typer turns Ctrl-C into a silent Exit(130); commands return None
        fail("interrupted", 130)
    raise SystemExit(result if isinstance(result, int) else 0)
