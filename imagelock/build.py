"""`imagelock build`: one real `docker buildx build` with the lock's digests injected.

The steps: read the Dockerfile and the lock, find the external images for the requested
platforms, refuse the build when the lock does not serve them (`imagelock.pinning`), write what
the pin mode needs (a rewritten Dockerfile, a source policy) into a private temporary folder
that is removed whatever happens, then run buildx with the user's options and stream its
output. The docker CLI is reached through python-on-whales' own command prefix and runner, so
the user's docker context, config and `BUILDX_BUILDER` apply as they would to `docker`
itself; extra environment (the source policy) goes to the child process only.

This is the only module that imports python_on_whales, and only inside functions: the import
costs a third of a second that offline commands must not pay.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from imagelock.discover import is_dockerfile_name
from imagelock.dockerfile import build_arg_values, context_key, external_images
from imagelock.errors import BuildFailed, ConfigError, DockerfileError, ImagelockError
from imagelock.lockfile import read_lock
from imagelock.pinning import (
    BuildPlan,
    PinMode,
    entry_for,
    locked_pins,
    plan_build,
    with_syntax_override,
)
from imagelock.platform import Platform, host_platform, parse_platform, parse_platforms

__all__ = ["POLICY_ENV", "BuildRequest", "Invocation", "build", "prepare"]

#: buildx reads a BuildKit source policy from the JSON file this variable names.
POLICY_ENV: Final = "EXPERIMENTAL_BUILDKIT_SOURCE_POLICY"
EPOCH_ARG: Final = "SOURCE_DATE_EPOCH"
#: Options that decide what the Dockerfile pulls; after `--` the guards could not see them.
_ANALYSED_FLAGS: Final = ("-f", "--file", "--platform", "--build-arg")
# Exporter attributes that describe where an image goes, not what it is.
_DESTINATION_ATTRS: Final = frozenset(
    {
        "type",
        "name",
        "push",
        "push-by-digest",
        "unpack",
        "store",
        "dest",
        "tar",
        "registry.insecure",
    }
)


@dataclass(frozen=True)
class BuildRequest:
    """Everything `imagelock build` was asked, buildx's options as the user wrote them."""

    context: str
    file: str | None = None
    tags: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    push: bool = False
    load: bool = False
    outputs: tuple[str, ...] = ()
    target: str | None = None
    build_args: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    ssh: tuple[str, ...] = ()
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    builder: str | None = None
    metadata_file: str | None = None
    progress: str | None = None
    no_cache: bool = False
    pull: bool = False
    labels: tuple[str, ...] = ()
    build_contexts: tuple[str, ...] = ()  # NAME=SOURCE, as buildx takes them
    extra: tuple[str, ...] = ()
    pin_mode: PinMode = "context"
    strict: bool = False
    dry_run: bool = False
    reproducible: bool = False
    source_date_epoch: int | None = None
    lockfile: Path = Path("images.lock")
    quiet: bool = False


@dataclass(frozen=True)
class Invocation:
    """The commands one build runs, and the temporary files they read."""

    buildx: list[str]
    env: dict[str, str] = field(default_factory=dict)
    after: list[list[str]] = field(default_factory=list)  # docker load / docker push
    files: dict[Path, str] = field(default_factory=dict)

    def shell(self) -> str:
        """The commands as a shell would run them: what `--dry-run` prints."""
        prefix = "".join(f"{key}={shlex.quote(value)} " for key, value in self.env.items())
        lines = [prefix + shlex.join(self.buildx), *(shlex.join(step) for step in self.after)]
        return "\n".join(lines)


def build(request: BuildRequest) -> None:
    """Guard, plan and run the build (or print it, with `dry_run`). Raises ImagelockError
    subclasses for the user; BuildFailed carries buildx's exit code."""
    docker = _find_docker()
    builder = _inspect_builder(docker, request) if docker is not None else None
    plan, dockerfile = prepare(request, builder.platform if builder else None)
    if docker is None:
        if not request.dry_run:
            raise ImagelockError(
                "the docker CLI is not installed or not on PATH; imagelock build runs "
                "`docker buildx build`"
            )
        docker = ["docker"]
    epoch = _source_date_epoch(request) if request.reproducible else None
    driver = builder.driver if builder else None
    workdir = Path(tempfile.mkdtemp(prefix="imagelock-build-"))  # mode 0700
    try:
        invocation = invocation_for(request, plan, dockerfile, workdir, docker, epoch, driver)
        if request.dry_run:
            _print_dry_run(invocation)
            return
        for path, text in invocation.files.items():
            path.write_bytes(text.encode("utf-8"))
        _copy_dockerignore(dockerfile, plan, workdir)
        if not request.quiet:
            _say(_summary(request, plan))
        _run(invocation.buildx, invocation.env, "docker buildx build")
        for step in invocation.after:
            _run(step, {}, "docker " + " ".join(step[len(docker) : len(docker) + 1]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def prepare(
    request: BuildRequest, build_platform: Platform | None = None
) -> tuple[BuildPlan, Path]:
    """The guarded plan for a request, and the Dockerfile it is for. No docker involved.

    `build_platform` is the builder's own platform (`$BUILDPLATFORM`, and the target when no
    --platform is given); this machine's when the builder did not say.
    """
    context = Path(request.context)
    if request.context == "-" or "://" in request.context or not context.is_dir():
        raise ConfigError(
            f"CONTEXT {request.context!r} is not a local folder; imagelock build reads the "
            "Dockerfile to pin its images, so it needs the build context on disk"
        )
    if request.file == "-":
        raise ConfigError("-f -: imagelock build needs the Dockerfile as a file, not stdin")
    dockerfile = Path(request.file) if request.file else context / "Dockerfile"
    text = _read_text(dockerfile)
    args = build_arg_values(request.build_args, os.environ)
    targets = _target_platforms(request.platforms)
    here = build_platform or host_platform()
    uses = external_images(
        text, str(dockerfile), build_args=args, target_platforms=targets, build_platform=here
    )
    uses = with_syntax_override(uses, args, here)
    lock = read_lock(request.lockfile)
    # `-- --build-context assets=./dir` serves `COPY --from=assets` from the user's own
    # context: BuildKit pulls no image for it, so the lock need not have one. (A context for
    # a locked image is refused by _check_extra below.)
    own = _own_context_keys(request)
    uses = [
        use
        for use in uses
        if use.ref.buildkit_key() not in own or (lock is not None and entry_for(use, lock))
    ]
    pins = locked_pins(uses, lock, str(request.lockfile), _lock_command(request, dockerfile))
    plan = plan_build(text, pins, lock, mode=request.pin_mode, strict=request.strict)
    _check_extra(request, plan)
    return plan, dockerfile


def invocation_for(
    request: BuildRequest,
    plan: BuildPlan,
    dockerfile: Path,
    workdir: Path,
    docker: Sequence[str],
    epoch: int | None = None,
    driver: str | None = None,
) -> Invocation:
    """The exact commands for `request` under `plan`; temporary files go in `workdir`.
    Pure: `docker` is the CLI prefix, `driver` the builder's driver (for --reproducible)."""
    files: dict[Path, str] = {}
    env: dict[str, str] = {}
    file = request.file
    if plan.dockerfile is not None:
        rewritten = workdir / dockerfile.name
        files[rewritten] = plan.dockerfile
        file = str(rewritten)
    if plan.policy is not None:
        policy_path = workdir / "policy.json"
        files[policy_path] = _policy_text(plan.policy, os.environ)
        env[POLICY_ENV] = str(policy_path)
    injected = dict(plan.build_args)
    if epoch is not None:
        injected[EPOCH_ARG] = str(epoch)
    outputs, after = _outputs(request, workdir, list(docker), driver)

    argv = [*docker, "buildx", "build"]
    _add(argv, "--builder", [request.builder] if request.builder else [])
    _add(argv, "--file", [file] if file else [])
    _add(argv, "--tag", request.tags)
    _add(argv, "--platform", [",".join(request.platforms)] if request.platforms else [])
    _add(argv, "--target", [request.target] if request.target else [])
    kept = [arg for arg in request.build_args if arg.partition("=")[0] not in injected]
    _add(argv, "--build-arg", [*kept, *(f"{key}={value}" for key, value in injected.items())])
    pinned = [f"{key}={value}" for key, value in plan.build_contexts]
    _add(argv, "--build-context", [*pinned, *request.build_contexts])
    _add(argv, "--label", request.labels)
    _add(argv, "--secret", request.secrets)
    _add(argv, "--ssh", request.ssh)
    _add(argv, "--cache-from", request.cache_from)
    _add(argv, "--cache-to", request.cache_to)
    _add(argv, "--metadata-file", [request.metadata_file] if request.metadata_file else [])
    _add(argv, "--progress", [request.progress] if request.progress else [])
    argv += ["--no-cache"] if request.no_cache else []
    argv += ["--pull"] if request.pull else []
    argv += outputs
    argv += ["--provenance=false"] if request.reproducible else []
    argv += [*request.extra, request.context]
    return Invocation(argv, env, after, files)


# --- options --------------------------------------------------------------------------------


def _target_platforms(values: Sequence[str]) -> list[Platform]:
    """--platform values (repeatable, comma-separated); buildx's `local` is the platform of
    the machine buildx runs on."""
    items = [item.strip() for value in values for item in value.split(",")]
    here = str(host_platform())
    return parse_platforms(",".join(here if item == "local" else item for item in items))


def _check_extra(request: BuildRequest, plan: BuildPlan) -> None:
    """Refuse pass-through options that would change what the guards checked: the options
    that decide what the Dockerfile pulls, and a named context for a locked image (it would
    replace the locked digest in any pin mode)."""
    for arg in request.extra:
        name = arg.partition("=")[0]
        attached_file = arg.startswith("-f") and not arg.startswith("--") and len(arg) > 2
        if name in _ANALYSED_FLAGS or attached_file:
            shown = "-f" if attached_file else name
            raise ConfigError(
                f"{shown} after `--` would bypass the lock checks; give it as an imagelock "
                "build option (before `--`)"
            )
    locked = {pin.use.ref.buildkit_key() for pin in plan.pins}
    replaced = sorted(_own_context_keys(request) & locked)
    if replaced:
        raise ConfigError(
            f"--build-context {replaced[0]} would replace the locked image {replaced[0]}; "
            "change the Dockerfile or the lock instead"
        )


def _lock_command(request: BuildRequest, dockerfile: Path) -> str:
    """The `imagelock lock` that would lock this build's images: naming the Dockerfile when
    discovery would not find it by its name, and the named contexts the build has."""
    command = ["imagelock", "lock"]
    if str(request.lockfile) != "images.lock":
        command += ["--lockfile", str(request.lockfile)]
    command += [f"--build-context={value.partition('=')[0]}" for value in request.build_contexts]
    outside = os.path.relpath(dockerfile.resolve(), Path.cwd()).startswith("..")
    if outside or not is_dockerfile_name(dockerfile.name):
        command.append(str(dockerfile))
    return shlex.join(command)


def _own_context_keys(request: BuildRequest) -> set[str]:
    """The keys of the user's named contexts (--build-context, before or after `--`), as
    BuildKit looks them up."""
    keys = {context_key(value.partition("=")[0]) for value in request.build_contexts}
    extra = request.extra
    for index, arg in enumerate(extra):
        name, equals, value = arg.partition("=")
        if name == "--build-context":
            if not equals:
                value = extra[index + 1] if index + 1 < len(extra) else ""
            keys.add(context_key(value.partition("=")[0]))
    return keys


def _source_date_epoch(request: BuildRequest) -> int:
    """SOURCE_DATE_EPOCH: --source-date-epoch, else a --build-arg or the environment's value,
    else the last commit's time in the context's git repository."""
    if request.source_date_epoch is not None:
        return _epoch(str(request.source_date_epoch), "--source-date-epoch")
    given = build_arg_values(request.build_args, os.environ).get(EPOCH_ARG)
    if given is None:
        given = os.environ.get(EPOCH_ARG) or None
    if given is not None:
        return _epoch(given, EPOCH_ARG)
    try:
        proc = subprocess.run(
            ["git", "-C", request.context, "log", "-1", "--format=%ct"],
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise ConfigError(
            "--reproducible takes SOURCE_DATE_EPOCH from git, which is not installed; "
            "pass --source-date-epoch N"
        ) from None
    if proc.returncode != 0 or not proc.stdout.strip():
        raise ConfigError(
            f"--reproducible takes SOURCE_DATE_EPOCH from the last commit, but "
            f"{request.context!r} is not in a git repository with commits; "
            "pass --source-date-epoch N"
        )
    return _epoch(proc.stdout.strip(), "git log")


def _epoch(text: str, where: str) -> int:
    if not text.isdigit():
        raise ConfigError(
            f"{where}: SOURCE_DATE_EPOCH must be whole seconds since 1970, not {text!r}"
        )
    return int(text)


# --- outputs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Output:
    raw: str
    type: str
    attrs: dict[str, str]

    @property
    def pushes(self) -> bool:
        return self.attrs.get("push", "").lower() in ("1", "t", "true")


def _parse_output(raw: str) -> _Output | None:
    """An --output value as buildx reads it (CSV; `-o DIR` and `-o -` shorthands); None when
    it does not parse, for buildx to report."""
    try:
        fields = next(csv.reader([raw]))
    except (csv.Error, StopIteration):
        return None
    if len(fields) == 1 and fields[0] == raw and not raw.startswith("type="):
        return _Output(raw, "tar" if raw == "-" else "local", {"dest": raw})
    attrs: dict[str, str] = {}
    kind = ""
    for item in fields:
        key, equals, value = item.partition("=")
        if not equals:
            return None
        key = key.strip().lower()
        if key == "type":
            kind = value
        else:
            attrs[key] = value
    if kind == "registry":
        kind, attrs["push"] = "image", "true"
    return _Output(raw, kind, attrs) if kind else None


def _outputs(
    request: BuildRequest, workdir: Path, docker: list[str], driver: str | None
) -> tuple[list[str], list[list[str]]]:
    """The output flags, and the commands to run after buildx.

    Without --reproducible the user's flags pass unchanged. With it, every image exporter
    gets `rewrite-timestamp=true`. The `docker` driver's image exporter refuses that option
    (it conflicts with unpacking into the engine's image store), so there the image is
    exported as an OCI archive with rewritten timestamps, loaded into the engine with
    `docker load` and pushed with `docker push`: the bytes, and the digest, stay the ones
    BuildKit wrote.
    """
    if not request.reproducible:
        given = ["--push"] if request.push else []
        given += ["--load"] if request.load else []
        return given + [f"--output={raw}" for raw in request.outputs], []
    raws = (["type=registry"] if request.push else []) + (["type=docker"] if request.load else [])
    flags: list[str] = []
    engine: list[_Output] = []
    for raw in [*raws, *request.outputs]:
        output = _parse_output(raw)
        if output is None or output.type not in ("image", "docker", "oci"):
            flags.append(f"--output={raw}")
        elif output.type != "oci" and driver == "docker":
            engine.append(output)
        elif "rewrite-timestamp" in output.attrs:
            flags.append(f"--output={raw}")
        else:
            flags.append(f"--output={raw},rewrite-timestamp=true")
    if not engine:
        return flags, []
    archive = workdir / "image.tar"
    names = list(request.tags) or [
        name for output in engine for name in output.attrs.get("name", "").split(",") if name
    ]
    pushes = any(output.pushes for output in engine)
    if pushes and not names:
        raise ConfigError("--push needs an image name: give -t NAME[:TAG]")
    carried = {k: v for o in engine for k, v in o.attrs.items() if k not in _DESTINATION_ATTRS}
    fields = ["type=oci", f"dest={archive}", "rewrite-timestamp=true"]
    fields += [f"{key}={value}" for key, value in carried.items()]
    if names and not request.tags:
        fields.append("name=" + ",".join(names))
    flags.append("--output=" + _csv(fields))
    after = [[*docker, "load", "--input", str(archive)]]
    after += [[*docker, "push", name] for name in dict.fromkeys(names)] if pushes else []
    return flags, after


def _csv(fields: Sequence[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()


# --- files ------------------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    """The Dockerfile exactly as stored (no newline translation: spans index this text)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DockerfileError(f"cannot read Dockerfile {path}: {error.strerror or error}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DockerfileError(f"{path}: not UTF-8 text (byte {error.start})") from None


def _copy_dockerignore(dockerfile: Path, plan: BuildPlan, workdir: Path) -> None:
    """Keep `<Dockerfile>.dockerignore` in force for a rewritten Dockerfile: BuildKit looks
    for it beside the Dockerfile it is given. (A context-root .dockerignore needs nothing.)"""
    if plan.dockerfile is None:
        return
    ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
    if ignore.is_file():
        shutil.copyfile(ignore, workdir / ignore.name)


def _policy_text(policy: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """The policy file: the rules of a policy the user already set in the environment first,
    then imagelock's, then the user's DENY rules again. The last matching ALLOW/DENY wins, so
    the lock's ALLOWs stand over a broad deny, yet never over a denial the user wrote."""
    rules: list[Any] = []
    existing = environ.get(POLICY_ENV)
    if existing:
        try:
            data = json.loads(Path(existing).read_text(encoding="utf-8"))
            rules = list(data.get("rules", []))
        except (OSError, ValueError, AttributeError, TypeError) as error:
            raise ConfigError(f"{POLICY_ENV}={existing}: cannot read the policy: {error}") from None
    denials = [r for r in rules if isinstance(r, dict) and str(r.get("action")).upper() == "DENY"]
    rules += list(policy["rules"]) + denials
    return json.dumps({"rules": rules}, indent=2) + "\n"


# --- docker -----------------------------------------------------------------------------------


def _find_docker() -> list[str] | None:
    """python-on-whales' docker prefix (its binary lookup; the user's context and config
    come from the environment, as for `docker` itself), or None without a docker CLI."""
    try:
        from python_on_whales.client_config import ClientConfig, ClientNotFoundError
    except ImportError as error:  # pragma: no cover - a broken installation
        raise ImagelockError(f"python-on-whales is not installed: {error}") from None
    try:
        return [str(part) for part in ClientConfig().docker_cmd]
    except ClientNotFoundError:
        return None


@dataclass(frozen=True)
class Builder:
    """What buildx says of the builder that will run the build (it may be remote)."""

    driver: str
    platform: Platform | None  # its first node's own platform, when buildx lists it


def _inspect_builder(docker: Sequence[str], request: BuildRequest) -> Builder | None:
    """`docker buildx inspect [--bootstrap] [BUILDER]`: the driver, and the platform builds run
    on. A dry run does not start a stopped builder, and goes on without it if buildx fails."""
    from python_on_whales.exceptions import DockerException
    from python_on_whales.utils import run

    argv = [*docker, "buildx", "inspect"]
    argv += [] if request.dry_run else ["--bootstrap"]
    argv += [request.builder] if request.builder else []
    try:
        output: str = run(argv, capture_stdout=True, capture_stderr=True, return_stderr=False)
    except DockerException as error:
        if request.dry_run:
            return None
        detail = (error.stderr or "").strip().splitlines()[-1:] or [f"exit {error.return_code}"]
        raise ImagelockError(f"docker buildx inspect failed: {detail[0]}") from None
    try:
        return parse_inspect(output)
    except ImagelockError:
        if request.dry_run:
            return None
        raise


def parse_inspect(output: str) -> Builder:
    """The driver and first node's first platform from `docker buildx inspect` output.

    buildx lists a node's own platform first; a `*` marks platforms set by the user.
    """
    fields: dict[str, str] = {}
    for line in output.splitlines():
        key, colon, value = line.partition(":")
        if colon and not line.startswith(" "):
            fields.setdefault(key.strip(), value.strip())
    if fields.get("Error"):
        raise ImagelockError(f"docker buildx: {fields['Error']}")
    if not fields.get("Driver"):
        raise ImagelockError("docker buildx inspect did not say which driver the builder uses")
    first = fields.get("Platforms", "").split(",")[0].strip().rstrip("*")
    try:
        platform = parse_platform(first) if first else None
    except ImagelockError:
        platform = None
    return Builder(fields["Driver"], platform)


def _run(argv: Sequence[str], env: Mapping[str, str], what: str) -> None:
    """Run a docker command with the terminal as its output (buildx prints progress as it
    goes); `env` is added to the child's environment only."""
    from python_on_whales.exceptions import DockerException
    from python_on_whales.utils import run

    try:
        run(list(argv), capture_stdout=False, capture_stderr=False, env=dict(env))
    except DockerException as error:
        raise BuildFailed(f"{what} failed (exit {error.return_code})", error.return_code) from None


# --- output -----------------------------------------------------------------------------------


def _print_dry_run(invocation: Invocation) -> None:
    out = [invocation.shell()]
    for path, text in invocation.files.items():
        out += [f"# ---- {path} ----", text.rstrip("\n")]
    sys.stdout.write("\n".join(out) + "\n")


def _summary(request: BuildRequest, plan: BuildPlan) -> str:
    count = len({pin.entry.key for pin in plan.pins})
    noun = "image" if count == 1 else "images"
    strict = ", strict" if request.strict else ""
    return f"{count} locked {noun} from {request.lockfile} (pin mode {plan.mode}{strict})"


def _say(text: str) -> None:
    sys.stderr.write(f"imagelock: {text}\n")
    sys.stderr.flush()


def _add(argv: list[str], flag: str, values: Sequence[str]) -> None:
    for value in values:
        argv += [flag, value]
