"""The build plan, pure: guards (unlocked images, missing platforms, one-architecture pins) and
what each pin mode adds to the buildx command line."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from imagelock.build import BuildRequest, invocation_for, prepare
from imagelock.dockerfile import ImageUse, external_images
from imagelock.errors import ConfigError, LockfileError
from imagelock.lockfile import Lock, LockEntry, write_lock
from imagelock.pinning import BuildPlan, locked_pins, plan_build, with_syntax_override
from imagelock.platform import parse_platform, parse_platforms

D = {c: "sha256:" + c * 64 for c in "abcdef0123456789"}
INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
HOST = parse_platform("linux/amd64")
BOTH = parse_platforms("linux/amd64,linux/arm64")


def index(name: str, tag: str | None, digest: str, **platforms: str) -> LockEntry:
    plats = {k.replace("_", "/"): v for k, v in platforms.items()}
    return LockEntry(name, tag, digest, INDEX, ("Dockerfile",), plats)


RUBY = index("docker.io/library/ruby", "3.3", D["a"], linux_amd64=D["b"], linux_arm64_v8=D["c"])
GO = index("docker.io/library/golang", "1.22", D["d"], linux_amd64=D["e"], linux_arm64=D["f"])
SYNTAX = index("docker.io/docker/dockerfile", "1", D["1"], linux_amd64=D["2"], linux_arm64=D["3"])
LOCK = Lock((RUBY, GO, SYNTAX))


def uses_of(text: str, platforms=BOTH, args=None) -> list[ImageUse]:  # type: ignore[no-untyped-def]
    found = external_images(
        text, "Dockerfile", build_args=args, target_platforms=platforms, build_platform=HOST
    )
    return with_syntax_override(found, args or {}, HOST)


def plan(text: str, mode: str = "context", lock: Lock = LOCK, **kw) -> BuildPlan:  # type: ignore[no-untyped-def]
    pins = locked_pins(uses_of(text, **kw), lock, "images.lock")
    return plan_build(text, pins, lock, mode=mode, strict=False)  # type: ignore[arg-type]


def locked_request(tmp_path: Path, text: str, lock: Lock = LOCK, **fields) -> BuildRequest:  # type: ignore[no-untyped-def]
    """A build request for a Dockerfile `text` in tmp_path, with `lock` written beside it."""
    (tmp_path / "Dockerfile").write_text(text)
    write_lock(tmp_path / "images.lock", lock)
    return BuildRequest(context=str(tmp_path), lockfile=tmp_path / "images.lock", **fields)


# --- guards ------------------------------------------------------------------------------------


def test_an_unlocked_image_is_named_with_its_line_and_the_fix() -> None:
    with pytest.raises(LockfileError) as err:
        plan("FROM ruby:3.3\nCOPY --from=node:20 /x /x\n")
    assert "node:20 (Dockerfile:2)" in str(err.value)
    assert "imagelock lock" in str(err.value)


def test_no_lock_at_all_says_to_run_lock() -> None:
    with pytest.raises(LockfileError, match="does not exist; run `imagelock lock`"):
        locked_pins(uses_of("FROM ruby:3.3\n"), None, "images.lock")


def test_arm64_is_served_by_an_arm64_v8_entry_and_s390x_is_not() -> None:
    assert plan("FROM ruby:3.3\n").pins
    with pytest.raises(LockfileError) as err:
        plan("FROM ruby:3.3\n", platforms=parse_platforms("linux/s390x"))
    assert "linux/s390x" in str(err.value)
    assert "ruby:3.3 (Dockerfile:1)" in str(err.value)


def test_a_from_platform_needs_only_that_platform() -> None:
    amd64_only = index("docker.io/library/tool", "1", D["4"], linux_amd64=D["5"])
    text = "FROM --platform=linux/amd64 tool:1 AS t\nFROM ruby:3.3\nCOPY --from=t /x /x\n"
    assert len(plan(text, lock=Lock((RUBY, amd64_only))).pins) == 2


def test_a_build_platform_stage_needs_the_builders_platform_only() -> None:
    amd64_go = index("docker.io/library/golang", "1.22", D["d"], linux_amd64=D["e"])
    text = "FROM --platform=$BUILDPLATFORM golang:1.22 AS b\nFROM ruby:3.3\nCOPY --from=b /x /x\n"
    assert len(plan(text, lock=Lock((RUBY, amd64_go))).pins) == 2


def test_a_one_architecture_digest_is_refused_for_the_other_platforms() -> None:
    single = LockEntry(
        "docker.io/library/ruby", None, D["b"], MANIFEST, ("Dockerfile",), {"linux/amd64": D["b"]}
    )
    with pytest.raises(LockfileError) as err:
        plan(f"FROM ruby@{D['b']}\n", lock=Lock((single,)))
    message = str(err.value)
    assert "linux/amd64 image's manifest" in message and "linux/arm64" in message
    # The platform it is for is fine.
    assert plan(f"FROM ruby@{D['b']}\n", lock=Lock((single,)), platforms=[HOST]).pins


def test_a_syntax_digest_of_another_architecture_is_refused() -> None:
    arm = LockEntry(
        "docker.io/docker/dockerfile", None, D["3"], MANIFEST, ("Dockerfile",),
        {"linux/arm64": D["3"]},
    )  # fmt: skip
    with pytest.raises(LockfileError, match="linux/arm64 image's manifest"):
        plan(f"# syntax=docker/dockerfile@{D['3']}\nFROM ruby:3.3\n", lock=Lock((RUBY, arm)))


# --- modes -------------------------------------------------------------------------------------


def test_context_mode_keys_are_the_references_as_buildkit_looks_them_up() -> None:
    text = (
        "FROM docker.io/library/ruby:3.3 AS a\nFROM ruby:3.3 AS b\n"
        "COPY --from=golang:1.22 /x /x\nRUN --mount=from=golang:1.22,target=/g true\n"
    )
    result = plan(text)
    # BuildKit looks references up in their familiar form: both spellings are one key.
    assert dict(result.build_contexts) == {
        "ruby:3.3": f"docker-image://docker.io/library/ruby@{D['a']}",
        "golang:1.22": f"docker-image://docker.io/library/golang@{D['d']}",
    }
    assert result.dockerfile is None and result.policy is None


def test_latest_is_trimmed_from_context_keys() -> None:
    latest = index("docker.io/library/busybox", "latest", D["6"], linux_amd64=D["7"])
    result = plan("FROM busybox\n", lock=Lock((latest,)), platforms=[HOST])
    assert dict(result.build_contexts) == {
        "busybox": f"docker-image://docker.io/library/busybox@{D['6']}"
    }


def test_the_syntax_image_is_pinned_in_every_mode() -> None:
    text = "# syntax=docker/dockerfile:1\nARG BASE=ruby:3.3\nFROM ${BASE}\n"
    pinned = f"docker/dockerfile:1@{D['1']}"
    for mode in ("context", "build-arg", "policy"):
        assert ("BUILDKIT_SYNTAX", pinned) in plan(text, mode).build_args, mode
    rewritten = plan(text, "rewrite").dockerfile
    assert rewritten is not None and rewritten.startswith(f"# syntax={pinned}\n")


def test_rewrite_changes_only_the_image_tokens() -> None:
    text = (
        "# escape=\\\n\nfrom   --platform=$BUILDPLATFORM golang:1.22 AS build\r\n"
        "RUN <<EOF\nFROM ruby:3.3\nEOF\n"
        "FROM ruby:3.3\nCOPY --from=golang:1.22 \\\n  /src /src\n"
    )
    result = plan(text, "rewrite")
    assert result.dockerfile == (
        f"# escape=\\\n\nfrom   --platform=$BUILDPLATFORM golang:1.22@{D['d']} AS build\r\n"
        "RUN <<EOF\nFROM ruby:3.3\nEOF\n"
        f"FROM ruby:3.3@{D['a']}\nCOPY --from=golang:1.22@{D['d']} \\\n  /src /src\n"
    )


def test_rewrite_refuses_an_image_that_differs_per_platform() -> None:
    amd = index("docker.io/library/base", "amd64", D["4"], linux_amd64=D["5"])
    arm = index("docker.io/library/base", "arm64", D["6"], linux_arm64=D["7"])
    with pytest.raises(ConfigError, match="depends on the platform"):
        plan("FROM base:${TARGETARCH}\n", "rewrite", lock=Lock((amd, arm)))
    # Named contexts serve it: one key per platform's reference.
    assert len(plan("FROM base:${TARGETARCH}\n", lock=Lock((amd, arm))).build_contexts) == 2


def test_build_arg_mode_pins_the_arg_a_from_takes_its_image_from() -> None:
    result = plan("ARG BASE=ruby:3.3\nFROM ${BASE}\n", "build-arg")
    assert result.build_args == (("BASE", f"ruby:3.3@{D['a']}"),)
    overridden = plan("ARG BASE=ruby:3.3\nFROM $BASE\n", "build-arg", args={"BASE": "golang:1.22"})
    assert overridden.build_args == (("BASE", f"golang:1.22@{D['d']}"),)
    with pytest.raises(ConfigError, match="FROM takes from an ARG"):
        plan("FROM ruby:3.3\n", "build-arg")


def test_policy_mode_converts_every_locked_tag_and_strict_denies_the_rest() -> None:
    pins = locked_pins(uses_of("FROM ruby:3.3\n"), LOCK, "images.lock")
    loose = plan_build("FROM ruby:3.3\n", pins, LOCK, mode="policy")
    assert loose.policy is not None
    assert {"DENY", "ALLOW"}.isdisjoint(r["action"] for r in loose.policy["rules"])
    assert {
        "action": "CONVERT",
        "selector": {"identifier": "docker-image://docker.io/library/ruby:3.3"},
        "updates": {"identifier": f"docker-image://docker.io/library/ruby:3.3@{D['a']}"},
    } in loose.policy["rules"]
    strict = plan_build("FROM ruby:3.3\n", pins, LOCK, mode="context", strict=True)
    assert strict.policy is not None and strict.build_contexts
    rules = strict.policy["rules"]
    assert rules[0] == {"action": "DENY", "selector": {"identifier": "docker-image://*"}}
    allowed = {r["selector"]["identifier"] for r in rules if r["action"] == "ALLOW"}
    assert f"docker-image://docker.io/library/ruby@{D['a']}" in allowed


def test_a_reference_already_pinned_in_the_dockerfile_needs_no_injection() -> None:
    result = plan(f"FROM ruby:3.3@{D['a']}\n")
    assert result.build_contexts == () and len(result.pins) == 1


# --- the command line --------------------------------------------------------------------------


def _invocation(tmp_path: Path, text: str, mode: str = "context", **request):  # type: ignore[no-untyped-def]
    (tmp_path / "Dockerfile").write_text(text)
    req = BuildRequest(context=str(tmp_path), pin_mode=mode, **request)  # type: ignore[arg-type]
    return invocation_for(req, plan(text, mode), tmp_path / "Dockerfile", tmp_path, ["docker"])


def test_the_users_options_reach_buildx_with_the_pins(tmp_path: Path) -> None:
    inv = _invocation(
        tmp_path, "FROM ruby:3.3\n", tags=("app:1",), platforms=("linux/amd64,linux/arm64",),
        push=True, build_args=("A=1",), secrets=("id=s,src=f",), labels=("k=v",),
        cache_from=("type=registry,ref=c",), no_cache=True, extra=("--annotation", "x=y"),
    )  # fmt: skip
    argv = inv.buildx
    assert argv[:3] == ["docker", "buildx", "build"]
    assert argv[-1] == str(tmp_path) and argv[-3:-1] == ["--annotation", "x=y"]
    for pair in (
        ["--tag", "app:1"],
        ["--platform", "linux/amd64,linux/arm64"],
        ["--build-arg", "A=1"],
        ["--build-context", f"ruby:3.3=docker-image://docker.io/library/ruby@{D['a']}"],
        ["--secret", "id=s,src=f"],
        ["--label", "k=v"],
        ["--cache-from", "type=registry,ref=c"],
    ):
        i = argv.index(pair[0])
        assert argv[i : i + 2] == pair
    assert "--push" in argv and "--no-cache" in argv
    assert inv.env == {} and inv.files == {}


def test_rewrite_mode_points_buildx_at_the_temporary_dockerfile(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "Dockerfile").write_text("FROM ruby:3.3\n")
    req = BuildRequest(context=str(tmp_path), pin_mode="rewrite")
    inv = invocation_for(
        req, plan("FROM ruby:3.3\n", "rewrite"), tmp_path / "Dockerfile", work, ["docker"]
    )
    assert inv.buildx[inv.buildx.index("--file") + 1] == str(work / "Dockerfile")
    assert inv.files == {work / "Dockerfile": f"FROM ruby:3.3@{D['a']}\n"}


def test_policy_mode_passes_the_policy_file_in_the_childs_environment(tmp_path: Path) -> None:
    inv = _invocation(tmp_path, "FROM ruby:3.3\n", "policy")
    (path,) = inv.files
    assert inv.env == {"EXPERIMENTAL_BUILDKIT_SOURCE_POLICY": str(path)}
    assert json.loads(inv.files[path])["rules"]


def test_reproducible_outputs_rewrite_timestamps_and_drop_provenance(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM ruby:3.3\n")
    req = BuildRequest(context=str(tmp_path), reproducible=True, outputs=("type=oci,dest=out.tar",))
    inv = invocation_for(
        req, plan("FROM ruby:3.3\n"), tmp_path / "Dockerfile", tmp_path, ["docker"], 1700000000
    )
    assert "--output=type=oci,dest=out.tar,rewrite-timestamp=true" in inv.buildx
    assert "--provenance=false" in inv.buildx
    assert "SOURCE_DATE_EPOCH=1700000000" in inv.buildx


def test_reproducible_push_on_the_docker_driver_goes_through_an_oci_archive(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM ruby:3.3\n")
    req = BuildRequest(context=str(tmp_path), reproducible=True, push=True, tags=("reg/app:1",))
    inv = invocation_for(
        req, plan("FROM ruby:3.3\n"), tmp_path / "Dockerfile", tmp_path, ["docker"], 1, "docker"
    )
    assert f"--output=type=oci,dest={tmp_path / 'image.tar'},rewrite-timestamp=true" in inv.buildx
    assert inv.after == [
        ["docker", "load", "--input", str(tmp_path / "image.tar")],
        ["docker", "push", "reg/app:1"],
    ]
    other = invocation_for(
        req, plan("FROM ruby:3.3\n"), tmp_path / "Dockerfile", tmp_path, ["docker"], 1,
        "docker-container",
    )  # fmt: skip
    assert "--output=type=registry,rewrite-timestamp=true" in other.buildx and not other.after


@pytest.mark.parametrize("flag", ["--platform", "-f", "--file", "--build-arg"])
def test_options_the_guards_depend_on_are_refused_after_the_double_dash(
    tmp_path: Path, flag: str
) -> None:
    req = locked_request(tmp_path, "FROM ruby:3.3\n", extra=(flag, "x"))
    with pytest.raises(ConfigError, match="bypass the lock checks"):
        prepare(req)


# --- the builder -------------------------------------------------------------------------------

REMOTE_ARM64 = """\
Name:          remote-arm
Driver:        remote
Last Activity: 2026-11-29 18:56:10 +0000 UTC

Nodes:
Name:             remote-arm0
Endpoint:         tcp://buildkit.example.com:1234
Status:           running
BuildKit version: v0.17.0
Platforms:        linux/arm64*, linux/arm/v7, linux/amd64
Labels:
 org.mobyproject.buildkit.worker.executor: oci
"""


def test_the_builders_own_platform_is_what_buildx_inspect_lists_first() -> None:
    from imagelock.build import Builder, parse_inspect

    assert parse_inspect(REMOTE_ARM64) == Builder("remote", parse_platform("linux/arm64"))
    inactive = "Name: x\nDriver: docker-container\n\nNodes:\nName: x0\nStatus: inactive\n"
    assert parse_inspect(inactive) == Builder("docker-container", None)


def test_without_platform_a_build_targets_the_builder_not_this_machine(tmp_path: Path) -> None:
    """A laptop of one architecture driving a remote builder of another: the images the
    Dockerfile pulls follow the builder's platform."""

    amd = index("docker.io/library/base", "amd64", D["4"], linux_amd64=D["5"])
    arm = index("docker.io/library/base", "arm64", D["6"], linux_arm64=D["7"])
    req = locked_request(tmp_path, "FROM base:${TARGETARCH}\n", Lock((amd, arm)))
    on_arm, _ = prepare(req, parse_platform("linux/arm64"))
    assert dict(on_arm.build_contexts) == {
        "base:arm64": f"docker-image://docker.io/library/base@{D['6']}"
    }
    on_amd, _ = prepare(req, parse_platform("linux/amd64"))
    assert dict(on_amd.build_contexts) == {
        "base:amd64": f"docker-image://docker.io/library/base@{D['4']}"
    }


# --- what the review found ---------------------------------------------------------------------


def test_a_stage_named_like_an_image_is_refused_in_context_mode_and_rewritten_otherwise() -> None:
    """`--build-context busybox=...` would replace the stage `busybox`, its RUN unrun."""
    latest = index("docker.io/library/busybox", "latest", D["6"], linux_amd64=D["7"])
    lock = Lock((latest, RUBY))
    text = "FROM busybox AS busybox\nRUN echo hi > /hi\nFROM ruby:3.3\nCOPY --from=busybox /hi /\n"
    with pytest.raises(ConfigError, match="stage is also named 'busybox'"):
        plan(text, lock=lock, platforms=[HOST])
    rewritten = plan(text, "rewrite", lock=lock, platforms=[HOST]).dockerfile
    assert rewritten is not None
    assert rewritten.startswith(f"FROM busybox:latest@{D['6']} AS busybox\n")
    assert rewritten.endswith("COPY --from=busybox /hi /\n")


@pytest.mark.parametrize("mode", ["context", "rewrite", "policy", "build-arg"])
@pytest.mark.parametrize(
    "extra",
    [
        ("--build-context", "ruby:3.3=docker-image://evil:1"),
        ("--build-context=ruby:3.3=docker-image://evil:1",),
        ("--build-context", "docker.io/library/ruby:3.3=docker-image://evil:1"),
        ("-fOther.Dockerfile",),
    ],
)
def test_pass_through_options_cannot_replace_a_locked_image(
    tmp_path: Path, mode: str, extra: tuple[str, ...]
) -> None:

    req = locked_request(
        tmp_path,
        "ARG BASE=ruby:3.3\nFROM ${BASE}\n",
        pin_mode=mode,
        platforms=("linux/amd64",),
        extra=extra,
    )
    with pytest.raises(ConfigError, match=r"after `--`|would replace the locked image"):
        prepare(req)


def test_other_named_contexts_pass_through(tmp_path: Path) -> None:
    req = locked_request(
        tmp_path,
        "FROM ruby:3.3\nCOPY --from=assets / /\n",
        platforms=("linux/amd64",),
        extra=("--build-context", "assets=./assets"),
    )
    plan_, _ = prepare(req)  # BuildKit serves `assets` from the user's folder: no image
    assert [pin.use.reference for pin in plan_.pins] == ["ruby:3.3"]
    without = dataclasses.replace(req, extra=())
    with pytest.raises(LockfileError, match="assets"):  # without it, `assets` is an image
        prepare(without)


def test_strict_keeps_the_users_own_denials_in_force(tmp_path: Path) -> None:
    from imagelock.build import _policy_text

    user = tmp_path / "org-policy.json"
    deny = {"action": "DENY", "selector": {"identifier": "docker-image://docker.io/library/ruby*"}}
    user.write_text(json.dumps({"rules": [deny]}))
    pins = locked_pins(uses_of("FROM ruby:3.3\n"), LOCK, "images.lock")
    strict = plan_build("FROM ruby:3.3\n", pins, LOCK, mode="context", strict=True)
    assert strict.policy is not None
    rules = json.loads(
        _policy_text(strict.policy, {"EXPERIMENTAL_BUILDKIT_SOURCE_POLICY": str(user)})
    )["rules"]
    assert rules[0] == deny and rules[-1] == deny  # last matching ALLOW/DENY wins


def test_a_builder_buildx_cannot_reach_is_one_clear_error() -> None:
    from imagelock.build import parse_inspect
    from imagelock.errors import ImagelockError

    unreachable = (
        "Name:          default\nDriver:        \n"
        "Error:         Cannot connect to the Docker daemon at tcp://127.0.0.1:1. "
        "Is the docker daemon running?\n"
    )
    with pytest.raises(ImagelockError, match="Cannot connect to the Docker daemon"):
        parse_inspect(unreachable)


def test_a_first_class_build_context_serves_its_name_and_reaches_buildx(tmp_path: Path) -> None:
    req = locked_request(
        tmp_path,
        "FROM ruby:3.3\nCOPY --from=assets / /\n",
        platforms=("linux/amd64",),
        build_contexts=("assets=./assets",),
    )
    plan_, dockerfile = prepare(req)
    argv = invocation_for(req, plan_, dockerfile, tmp_path, ["docker"]).buildx
    contexts = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--build-context"]
    assert contexts == [
        f"ruby:3.3=docker-image://docker.io/library/ruby@{D['a']}",
        "assets=./assets",
    ]
    clash = dataclasses.replace(
        req, build_contexts=(*req.build_contexts, "ruby:3.3=docker-image://evil:1")
    )
    with pytest.raises(ConfigError, match=r"would replace the locked image ruby:3\.3"):
        prepare(clash)


def test_the_unlocked_hint_names_a_dockerfile_that_lock_would_not_find(tmp_path: Path) -> None:
    (tmp_path / "D2").write_text("FROM node:20\n")
    req = locked_request(tmp_path, "FROM ruby:3.3\n", file=str(tmp_path / "D2"))
    with pytest.raises(LockfileError) as err:
        prepare(req)
    assert f"run `imagelock lock --lockfile {tmp_path}/images.lock {tmp_path}/D2`" in str(err.value)


def test_platform_local_is_this_machines_platform(tmp_path: Path) -> None:
    from imagelock.platform import host_platform

    req = locked_request(tmp_path, "FROM ruby:3.3\n", platforms=("local",))
    plan_, _ = prepare(req, parse_platform("linux/s390x"))  # a builder of another kind
    assert plan_.pins[0].use.needed_platforms == {str(host_platform())}
