"""Dockerfile analysis: the corpus in tests/dockerfiles/ and the lexer's rules one by one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from imagelock.dockerfile import ImageUse, analyse_file, external_images
from imagelock.dockerfile_lexer import parse
from imagelock.errors import DockerfileError
from imagelock.platform import Platform, parse_platform

CORPUS = Path(__file__).parent / "dockerfiles"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "Dockerfile").is_file())
AMD64 = parse_platform("linux/amd64")


# --- the corpus -----------------------------------------------------------------------------


def _platforms(values: list[str]) -> list[Platform]:
    return [parse_platform(value) for value in values]


def _as_expected(use: ImageUse, text: str) -> dict[str, Any]:
    """A use in the shape of expected.json."""
    assert use.span is not None, use
    return {
        "reference": use.reference,
        "name": use.ref.name,
        "tag": use.ref.tag,
        "digest": use.ref.digest,
        "platform": use.platform,
        "kind": use.kind,
        "line": use.line,
        "written": text[use.span[0] : use.span[1]],
        "needed_platforms": sorted(use.needed_platforms),
    }


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 42
    realistic = [c for c in CASES if not c.startswith(("error-", "syntax-"))]
    assert len(realistic) >= 25


@pytest.mark.parametrize("case", CASES)
def test_corpus(case: str) -> None:
    folder = CORPUS / case
    args_file = folder / "args.json"
    args: dict[str, Any] = json.loads(args_file.read_text()) if args_file.exists() else {}
    expected = json.loads((folder / "expected.json").read_text())
    text = (folder / "Dockerfile").read_bytes().decode("utf-8")

    def run() -> list[ImageUse]:
        return analyse_file(
            folder / "Dockerfile",
            build_args=args.get("build_args", {}),
            target_platforms=_platforms(args.get("target_platforms", [])),
            build_platform=parse_platform(args.get("build_platform", "linux/amd64")),
            display_path="Dockerfile",
        )

    if isinstance(expected, dict):
        with pytest.raises(DockerfileError) as caught:
            run()
        message = str(caught.value)
        for needle in expected["error"]:
            assert needle in message, (needle, message)
        assert "\n" not in message
        return
    uses = run()
    assert [_as_expected(use, text) for use in uses] == expected
    for use in uses:
        assert use.path == "Dockerfile"
        assert use.source == f"Dockerfile:{use.line}"


# --- helpers ----------------------------------------------------------------------------------


def images(
    text: str,
    *,
    build_args: dict[str, str] | None = None,
    platforms: tuple[str, ...] = (),
    build: str = "linux/amd64",
) -> list[tuple[str, str]]:
    """(kind, reference) of each external image, in order."""
    uses = external_images(
        text,
        "Dockerfile",
        build_args=build_args,
        target_platforms=_platforms(list(platforms)),
        build_platform=parse_platform(build),
    )
    return [(use.kind, use.reference) for use in uses]


def uses_of(text: str, **kwargs: Any) -> list[ImageUse]:
    kwargs.setdefault("build_platform", AMD64)
    return external_images(text, "Dockerfile", **kwargs)


def error_of(text: str, path: str = "Dockerfile", **kwargs: Any) -> str:
    kwargs.setdefault("build_platform", AMD64)
    with pytest.raises(DockerfileError) as caught:
        external_images(text, path, **kwargs)
    return str(caught.value)


# --- heredocs -------------------------------------------------------------------------------


def test_heredoc_bodies_are_not_instructions() -> None:
    text = (
        "FROM alpine:3.19\n"
        "RUN <<EOF\n"
        "FROM evil:1\n"
        "COPY --from=evil:2 / /\n"
        "EOF\n"
        "COPY <<-EOT /x\n"
        "\tFROM evil:3\n"
        "\tEOT\n"
        "COPY <<A <<B /dir/\n"
        "FROM evil:4\n"
        "A\n"
        "FROM evil:5\n"
        "B\n"
        "FROM busybox:1\n"
    )
    assert images(text) == [("from", "alpine:3.19"), ("from", "busybox:1")]
    uses = uses_of(text)
    assert uses[1].line == 14


def test_heredoc_with_quoted_delimiter_and_command_after_it() -> None:
    text = (
        "FROM alpine\n"
        "RUN --mount=type=cache,target=/c <<'SCRIPT' bash\n"
        "echo FROM $X\n"
        "SCRIPT\n"
        "RUN python3 <<PY > /out\n"
        "print('RUN --mount=from=python:3,target=/p')\n"
        "PY\n"
    )
    assert images(text) == [("from", "alpine")]
    heredocs = parse(text).instructions[1].heredocs
    assert [(h.name, h.expand) for h in heredocs] == [("SCRIPT", False)]


def test_heredoc_markers_in_json_form_or_other_instructions_are_not_heredocs() -> None:
    text = 'FROM alpine\nRUN ["sh", "-c", "cat <<EOF"]\nFROM busybox\n'
    assert images(text) == [("from", "alpine"), ("from", "busybox")]


def test_unterminated_heredoc_is_an_error() -> None:
    message = error_of("FROM alpine\nRUN <<EOF\necho hi\n")
    assert message.startswith("Dockerfile:2:")
    assert "heredoc" in message


# --- lines, continuations, comments ---------------------------------------------------------


def test_line_continuations_join_lines_and_skip_comments_and_blanks_inside() -> None:
    text = (
        "FROM \\\n"
        "  # a comment inside the continuation\n"
        "\n"
        "  alpine:3.19 \\\n"
        "  AS base\n"
        "COPY --from=base / /\n"
    )
    uses = uses_of(text)
    assert [(u.kind, u.reference, u.line) for u in uses] == [("from", "alpine:3.19", 1)]
    span = uses[0].span
    assert span is not None and text[span[0] : span[1]] == "alpine:3.19"


def test_trailing_spaces_after_the_escape_still_continue_the_line() -> None:
    assert images("FROM \\   \n  busybox:1\n") == [("from", "busybox:1")]


def test_escaped_escape_at_end_of_line_does_not_continue() -> None:
    text = "FROM alpine\nENV A=path\\\\\nFROM busybox\n"
    assert images(text) == [("from", "alpine"), ("from", "busybox")]


def test_comments_are_ignored_wherever_they_start() -> None:
    text = "# FROM evil:1\nFROM alpine\n   # FROM evil:2\n\t# COPY --from=evil:3 / /\n"
    assert images(text) == [("from", "alpine")]


def test_crlf_line_endings() -> None:
    text = "FROM alpine:3.19 AS a\r\nCOPY --from=nginx:1 \\\r\n  / /\r\n"
    uses = uses_of(text)
    assert [(u.kind, u.reference, u.line) for u in uses] == [
        ("from", "alpine:3.19", 1),
        ("copy", "nginx:1", 2),
    ]


def test_byte_order_mark_counts_as_one_character_in_spans() -> None:
    text = "\ufeffFROM alpine:3.19\n"
    (use,) = uses_of(text)
    assert use.span == (6, 17)
    assert text[6:17] == "alpine:3.19"


# --- parser directives ------------------------------------------------------------------------


def test_escape_directive_backtick() -> None:
    text = (
        "# escape=`\n"
        "FROM `\n"
        "    mcr.microsoft.com/windows/servercore:ltsc2022 AS build\n"
        "RUN --mount=from=node:20,target=/n `\n"
        "    echo C:\\path\\\n"
        "FROM build\n"
    )
    assert images(text) == [
        ("from", "mcr.microsoft.com/windows/servercore:ltsc2022"),
        ("mount", "node:20"),
    ]
    assert parse(text).escape == "`"


def test_backslash_is_plain_text_under_backtick_escape() -> None:
    text = "# escape=`\nFROM alpine\nRUN dir C:\\\nFROM busybox\n"
    assert images(text) == [("from", "alpine"), ("from", "busybox")]


def test_escape_directive_rejects_other_characters() -> None:
    message = error_of("# escape=x\nFROM alpine\n")
    assert message.startswith("Dockerfile:1:")
    assert "escape" in message


def test_directives_count_only_at_the_very_top() -> None:
    after_instruction = "FROM alpine\n# escape=`\nRUN echo \\\n  hi\nFROM busybox\n"
    assert parse(after_instruction).escape == "\\"
    assert images(after_instruction) == [("from", "alpine"), ("from", "busybox")]
    after_comment = "# hello\n# escape=`\nFROM alpine\n"
    assert parse(after_comment).escape == "\\"
    after_blank = "\n# syntax=docker/dockerfile:1\nFROM alpine\n"
    assert images(after_blank) == [("from", "alpine")]


def test_syntax_directive_is_an_image_pulled_for_the_build_platform() -> None:
    text = "# syntax=docker/dockerfile:1.7\n# escape=\\\nFROM alpine\n"
    uses = uses_of(text, target_platforms=[parse_platform("linux/arm64")])
    assert [(u.kind, u.reference, u.line) for u in uses] == [
        ("syntax", "docker/dockerfile:1.7", 1),
        ("from", "alpine", 3),
    ]
    assert uses[0].needed_platforms == frozenset({"linux/amd64"})
    assert uses[0].ref.name == "docker.io/docker/dockerfile"


def test_syntax_directive_spacing_and_case() -> None:
    text = "#  SYNTAX = docker.io/docker/dockerfile:1 \nFROM alpine\n"
    assert images(text)[0] == ("syntax", "docker.io/docker/dockerfile:1")


def test_syntax_after_an_instruction_is_a_comment() -> None:
    assert images("FROM alpine\n# syntax=docker/dockerfile:1\n") == [("from", "alpine")]


# --- instruction forms ----------------------------------------------------------------------


def test_lower_case_and_mixed_case_instructions() -> None:
    text = (
        "from alpine:3.19 as Base\ncopy --from=base / /\nFrOm base\nrun --mount=from=node:20 true\n"
    )
    assert images(text) == [("from", "alpine:3.19"), ("mount", "node:20")]


def test_extra_spaces_and_tabs_between_words() -> None:
    text = (
        "  FROM   --platform=linux/arm64 \t alpine:3.19   AS   build  \nCOPY  --from=build  / /\n"
    )
    uses = uses_of(text)
    assert [(u.reference, u.platform) for u in uses] == [("alpine:3.19", "linux/arm64")]
    assert uses[0].needed_platforms == frozenset({"linux/arm64"})


def test_json_and_shell_forms() -> None:
    text = (
        "FROM alpine\n"
        'COPY ["a b", "/c"]\n'
        'COPY --from=nginx:1 ["/etc/nginx", "/n"]\n'
        'RUN ["echo", "FROM evil"]\n'
        "RUN echo [not json\n"
        'CMD ["run"]\n'
    )
    parsed = parse(text)
    assert [i.is_json for i in parsed.instructions] == [False, True, True, True, False, True]
    assert images(text) == [("from", "alpine"), ("copy", "nginx:1")]


def test_json_array_of_non_strings_is_an_error() -> None:
    message = error_of("FROM alpine\nCMD [1, 2]\n")
    assert message.startswith("Dockerfile:2:")


def test_from_needs_one_or_three_words() -> None:
    assert error_of("FROM alpine AS\n").startswith("Dockerfile:1:")
    assert "no FROM" in error_of("RUN true\n")


# --- ARGs -------------------------------------------------------------------------------------


def test_global_args_before_the_first_from_are_substituted() -> None:
    text = "ARG BASE=alpine\nARG TAG=3.19\nFROM ${BASE}:$TAG AS a\nFROM $BASE\n"
    assert images(text) == [("from", "alpine:3.19"), ("from", "alpine")]


def test_args_declared_inside_a_stage_are_not_seen_by_later_from() -> None:
    text = "ARG TAG=1\nFROM alpine:$TAG\nARG TAG=2\nARG OTHER=x\nFROM busybox:$TAG\n"
    assert images(text) == [("from", "alpine:1"), ("from", "busybox:1")]
    message = error_of("FROM alpine\nARG V=1\nFROM busybox:${V}\n")
    assert message.startswith("Dockerfile:3:")
    assert "V" in message


def test_arg_default_may_use_earlier_args() -> None:
    text = "ARG REG=localhost:5000\nARG IMG=${REG}/team/app\nFROM $IMG:1\n"
    (use,) = uses_of(text)
    assert use.ref.name == "localhost:5000/team/app"
    assert use.ref.tag == "1"


def test_default_and_alternative_forms() -> None:
    text = (
        "ARG UNSET\n"
        "ARG EMPTY=\n"
        "ARG SET=3.19\n"
        "FROM alpine:${UNSET:-3.18}\n"
        "FROM busybox${UNSET:+:nope}\n"
        "FROM node:${EMPTY:-20}\n"
        "FROM ruby${SET:+:3.3}\n"
        "FROM golang:${SET:-1.22}\n"
    )
    assert images(text) == [
        ("from", "alpine:3.18"),
        ("from", "busybox"),
        ("from", "node:20"),
        ("from", "ruby:3.3"),
        ("from", "golang:3.19"),
    ]


def test_build_args_override_defaults_and_fill_args_without_default() -> None:
    text = "ARG VERSION=3.19\nARG VARIANT\nFROM alpine:${VERSION}${VARIANT:+-$VARIANT}\n"
    assert images(text) == [("from", "alpine:3.19")]
    assert images(text, build_args={"VERSION": "3.20"}) == [("from", "alpine:3.20")]
    assert images(text, build_args={"VARIANT": "slim"}) == [("from", "alpine:3.19-slim")]


def test_build_arg_for_an_undeclared_arg_is_ignored() -> None:
    message = error_of("FROM alpine:$NOPE\n", build_args={"NOPE": "1"})
    assert "NOPE" in message


def test_arg_without_value_is_an_error_naming_file_line_and_arg() -> None:
    text = "# base image\nARG BASE_IMAGE\nFROM alpine\nFROM ${BASE_IMAGE}\n"
    message = error_of(text, path="services/api/Dockerfile")
    assert message.startswith("services/api/Dockerfile:4:")
    assert "BASE_IMAGE" in message
    assert "--build-arg" in message
    assert images(text, build_args={"BASE_IMAGE": "node:20"})[-1] == ("from", "node:20")


def test_undeclared_arg_is_an_error_naming_file_line_and_arg() -> None:
    message = error_of("FROM alpine\nFROM node:${NODE_VERSION}\n")
    assert message.startswith("Dockerfile:2:")
    assert "NODE_VERSION" in message


def test_unknown_value_spreads_through_arg_defaults() -> None:
    message = error_of("ARG A\nARG B=${A}-x\nFROM alpine:$B\n")
    assert message.startswith("Dockerfile:3:")


def test_automatic_platform_args_take_each_target_platforms_value() -> None:
    text = (
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\n"
        "FROM base-${TARGETARCH} AS pick\n"
        "FROM ${TARGETARCH}/alpine:3.19\n"
    )
    uses = uses_of(
        text.replace("base-${TARGETARCH}", "scratch"),
        target_platforms=_platforms(["linux/amd64", "linux/arm64"]),
        build_platform=parse_platform("linux/arm64"),
    )
    assert [(u.reference, sorted(u.needed_platforms)) for u in uses] == [
        ("golang:1.22", ["linux/arm64"]),
        ("amd64/alpine:3.19", ["linux/amd64"]),
        ("arm64/alpine:3.19", ["linux/arm64"]),
    ]
    assert uses[0].platform == "$BUILDPLATFORM"


def test_automatic_platform_args_select_stages() -> None:
    text = (
        "FROM alpine:3.19 AS base-amd64\n"
        "FROM arm64v8/alpine:3.19 AS base-arm64\n"
        "FROM base-${TARGETARCH}\n"
    )
    expected = [("from", "alpine:3.19"), ("from", "arm64v8/alpine:3.19")]
    assert images(text, platforms=("linux/arm64",)) == expected
    # no stage for this architecture: the name is an image, as BuildKit would pull it
    assert images(text, platforms=("linux/s390x",)) == [*expected, ("from", "base-s390x")]


def test_host_platform_is_the_default_target() -> None:
    (use,) = uses_of("FROM alpine:${TARGETOS}\n", build_platform=parse_platform("linux/s390x"))
    assert use.reference == "alpine:linux"
    assert use.needed_platforms == frozenset({"linux/s390x"})


def test_build_arg_overrides_an_automatic_arg() -> None:
    text = "FROM alpine:${TARGETARCH}\n"
    assert images(text, build_args={"TARGETARCH": "riscv64"}) == [("from", "alpine:riscv64")]


# --- stages, COPY --from, RUN --mount ---------------------------------------------------------


def test_stage_names_indices_and_scratch_are_not_images() -> None:
    text = (
        "FROM scratch AS empty\n"
        "FROM golang:1.22 AS Build\n"
        "FROM build AS test\n"
        "FROM alpine:3.19\n"
        "COPY --from=build /a /a\n"
        "COPY --from=BUILD /a /a\n"
        "COPY --from=0 /a /a\n"
        "COPY --from=scratch /a /a\n"
        "COPY --from=empty /a /a\n"
        "RUN --mount=from=build,target=/b --mount=type=bind,from=scratch,target=/s true\n"
    )
    assert images(text) == [("from", "golang:1.22"), ("from", "alpine:3.19")]


def test_copy_from_an_unknown_name_is_an_image_with_latest() -> None:
    text = "FROM node:20 AS build\nFROM nginx:1.25\nCOPY --from=biuld /app /app\n"
    uses = uses_of(text)
    assert [(u.kind, u.reference) for u in uses][-1] == ("copy", "biuld")
    assert uses[-1].ref.name == "docker.io/library/biuld"
    assert uses[-1].ref.tag is None
    assert uses[-1].ref.effective_tag == "latest"


def test_copy_from_image_with_other_flags_and_quotes() -> None:
    text = (
        "FROM alpine\n"
        "COPY --chown=1:1 --from=ghcr.io/astral-sh/uv:0.4.0 /uv /bin/\n"
        'COPY --link --from="composer:2" /usr/bin/composer /usr/bin/\n'
    )
    assert images(text) == [
        ("from", "alpine"),
        ("copy", "ghcr.io/astral-sh/uv:0.4.0"),
        ("copy", "composer:2"),
    ]


def test_run_mount_from_image_and_csv_forms() -> None:
    text = (
        "FROM alpine AS base\n"
        "RUN --mount=type=bind,from=node:20,source=/usr/local,target=/n \\\n"
        "    --mount=type=cache,target=/root/.cache \\\n"
        "    --mount=type=cache,from=localhost:5000/seed:1,target=/seed \\\n"
        '    --mount="type=bind,from=ruby:3.3,target=/r" \\\n'
        "    --mount=from=base,target=/b \\\n"
        "    true\n"
    )
    uses = uses_of(text)
    assert [(u.kind, u.reference, u.line) for u in uses] == [
        ("from", "alpine", 1),
        ("mount", "node:20", 2),
        ("mount", "localhost:5000/seed:1", 2),
        ("mount", "ruby:3.3", 2),
    ]
    for use in uses:
        assert use.span is not None
        assert text[use.span[0] : use.span[1]] == use.reference


def test_onbuild_triggers_of_a_stage_run_in_stages_built_on_it() -> None:
    text = "FROM alpine AS base\nONBUILD COPY --from=nginx:1 / /\nFROM base\n"
    assert images(text) == [("from", "alpine"), ("copy", "nginx:1")]


def test_arg_in_copy_from_is_an_error() -> None:
    message = error_of("ARG IMG=nginx\nFROM alpine\nCOPY --from=${IMG} / /\n")
    assert message.startswith("Dockerfile:3:")


def test_platform_flag_is_recorded_and_needed() -> None:
    text = "FROM --platform=linux/arm/v7 alpine:3.19\n"
    (use,) = uses_of(text, target_platforms=_platforms(["linux/amd64"]))
    assert use.platform == "linux/arm/v7"
    assert use.needed_platforms == frozenset({"linux/arm/v7"})


def test_uses_found_on_several_platforms_are_merged() -> None:
    text = "FROM --platform=$BUILDPLATFORM golang:1.22 AS b\nFROM alpine:3.19\n"
    uses = uses_of(text, target_platforms=_platforms(["linux/amd64", "linux/arm64"]))
    assert [(u.reference, sorted(u.needed_platforms)) for u in uses] == [
        ("golang:1.22", ["linux/amd64"]),
        ("alpine:3.19", ["linux/amd64", "linux/arm64"]),
    ]


# --- references and errors ------------------------------------------------------------------


def test_registries_ports_nested_paths_and_digests() -> None:
    digest = "sha256:" + "a" * 64
    text = (
        "FROM localhost:5000/team/base:2 AS one\n"
        "FROM registry.example.com:8443/a/b/c/d:1.0-rc.1 AS two\n"
        f"FROM alpine@{digest} AS three\n"
        f"FROM index.docker.io/library/ruby:3.3@{digest}\n"
    )
    refs = [u.ref for u in uses_of(text)]
    assert [(r.name, r.tag, r.digest) for r in refs] == [
        ("localhost:5000/team/base", "2", None),
        ("registry.example.com:8443/a/b/c/d", "1.0-rc.1", None),
        ("docker.io/library/alpine", None, digest),
        ("docker.io/library/ruby", "3.3", digest),
    ]


def test_unparsable_reference_is_an_error_naming_file_and_line() -> None:
    message = error_of("FROM alpine\n\nFROM Alpine:3.19\n", path="app/Dockerfile.dev")
    assert message.startswith("app/Dockerfile.dev:3:")
    message = error_of("FROM alpine\nCOPY --from=bad::ref / /\n")
    assert message.startswith("Dockerfile:2:")


def test_blank_base_is_an_error() -> None:
    message = error_of("ARG EMPTY=\nFROM ${EMPTY}\n")
    assert message.startswith("Dockerfile:2:")
    assert "blank" in message


def test_bad_substitution_is_an_error_not_a_crash() -> None:
    for text in ("FROM alpine:${\n", "FROM alpine:${X\n", "FROM ${:-x}\n", "FROM a:${X?boom}\n"):
        assert error_of(text).startswith("Dockerfile:1:")


def test_analyse_file_reads_bytes_and_rejects_non_utf8(tmp_path: Path) -> None:
    good = tmp_path / "Dockerfile"
    good.write_bytes(b"FROM alpine:3.19\r\n")
    (use,) = analyse_file(good, build_platform=AMD64, display_path="Dockerfile")
    assert use.source == "Dockerfile:1"
    bad = tmp_path / "latin1.Dockerfile"
    bad.write_bytes(b"# caf\xe9\nFROM alpine\n")
    with pytest.raises(DockerfileError, match=r"latin1\.Dockerfile.*UTF-8"):
        analyse_file(bad, build_platform=AMD64, display_path="latin1.Dockerfile")
    with pytest.raises(DockerfileError, match="missing"):
        analyse_file(tmp_path / "missing", build_platform=AMD64)
