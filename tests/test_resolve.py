"""The pure parts of resolution: grouping uses into requirements, reuse, --check, NAME matching
and the per-platform classification of `outdated`."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagelock.dockerfile import external_images
from imagelock.errors import DockerfileError, InvalidReference
from imagelock.lockfile import Lock, LockEntry
from imagelock.platform import parse_platform
from imagelock.registry import Resolved
from imagelock.resolve import (
    Scope,
    check_lines,
    classify,
    matches,
    requirements,
    reusable,
    split_tag,
    validate_pattern,
)

D = {c: "sha256:" + c * 64 for c in "abcdef0123456789"}
INDEX = "application/vnd.oci.image.index.v1+json"


def entry(
    name: str, tag: str | None, digest: str = D["a"], sources=("Dockerfile",), **platforms: str
) -> LockEntry:  # type: ignore[no-untyped-def]
    plats = {k.replace("_", "/"): v for k, v in platforms.items()} or {"linux/amd64": D["b"]}
    return LockEntry(name, tag, digest, INDEX, tuple(sources), plats)


def uses(text: str, path: str = "Dockerfile"):  # type: ignore[no-untyped-def]
    return external_images(text, path, build_platform=parse_platform("linux/amd64"))


# --- requirements ----------------------------------------------------------------------------


def test_familiar_and_canonical_spellings_are_one_requirement() -> None:
    reqs = requirements(
        uses("FROM ruby:3.3\n", "a/Dockerfile")
        + uses("FROM docker.io/library/ruby:3.3\n", "b/Dockerfile")
    )
    assert [(r.name, r.tag, r.sources) for r in reqs] == [
        ("docker.io/library/ruby", "3.3", ("a/Dockerfile", "b/Dockerfile"))
    ]


def test_no_tag_means_latest_and_digest_only_has_no_tag() -> None:
    reqs = requirements(uses(f"FROM alpine\nFROM busybox@{D['c']}\n"))
    assert {(r.name, r.tag, r.pinned) for r in reqs} == {
        ("docker.io/library/alpine", "latest", None),
        ("docker.io/library/busybox", None, D["c"]),
    }


def test_a_tag_pinned_to_two_digests_is_an_error_naming_both_places() -> None:
    with pytest.raises(DockerfileError, match=r"ruby:3.3 .*Dockerfile:1, Dockerfile:2"):
        requirements(uses(f"FROM ruby:3.3@{D['a']}\nFROM ruby:3.3@{D['b']}\n"))


def test_a_pinned_tag_wins_over_the_same_tag_unpinned() -> None:
    (req,) = requirements(uses(f"FROM ruby:3.3@{D['a']}\nFROM ruby:3.3\n"))
    assert req.pinned == D["a"]
    assert str(req.reference()) == f"docker.io/library/ruby@{D['a']}"


# --- reuse and --check -----------------------------------------------------------------------


def test_a_locked_tag_is_reused_and_a_pin_only_by_its_own_digest() -> None:
    lock = Lock((entry("docker.io/library/ruby", "3.3", D["a"]),))
    (plain,) = requirements(uses("FROM ruby:3.3\n"))
    (pinned_same,) = requirements(uses(f"FROM ruby:3.3@{D['a']}\n"))
    (pinned_other,) = requirements(uses(f"FROM ruby:3.3@{D['f']}\n"))
    assert reusable(plain, lock) is not None
    assert reusable(pinned_same, lock) is not None
    assert reusable(pinned_other, lock) is None


def test_check_lists_new_removed_and_moved_sources(tmp_path: Path) -> None:
    lock = Lock(
        (
            entry("docker.io/library/ruby", "3.3", sources=["Dockerfile"]),
            entry("docker.io/library/alpine", "3.19", sources=["Dockerfile"]),
        )
    )
    reqs = requirements(uses("FROM ruby:3.3\n", "api/Dockerfile") + uses("FROM node:20\n"))
    lines = check_lines(reqs, lock, Scope(tmp_path, frozenset({"Dockerfile", "api/Dockerfile"})))
    assert lines == [
        "+ docker.io/library/node:20, used by Dockerfile: not locked",
        "~ docker.io/library/ruby:3.3  sources: +api/Dockerfile, -Dockerfile",
        "- docker.io/library/alpine:3.19: locked but no Dockerfile uses it",
    ]


def test_check_keeps_entries_of_dockerfiles_that_were_not_scanned(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other/Dockerfile").write_text("FROM alpine:3.19\n")
    lock = Lock((entry("docker.io/library/alpine", "3.19", sources=["other/Dockerfile"]),))
    assert check_lines([], lock, Scope(tmp_path, frozenset({"Dockerfile"}))) == []


# --- update NAME matching --------------------------------------------------------------------


HUB = entry("docker.io/library/ruby", "3.3")
PRIVATE = entry("registry.example.com:5000/team/ruby", "3.3.0-slim")
RUBOCOP = entry("docker.io/library/rubocop", "1")


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("ruby", {HUB.name, PRIVATE.name}),
        ("library/ruby", {HUB.name}),
        ("docker.io/library/ruby", {HUB.name}),
        ("ruby:3.3", {HUB.name}),
        ("ruby:3.3.0-slim", {PRIVATE.name}),
        ("registry.example.com:5000/team/ruby", {PRIVATE.name}),
        ("team/ruby", set()),  # a path means that repository: docker.io/team/ruby
        ("rub", set()),
    ],
)
def test_update_names_match_as_documented(pattern: str, expected: set[str]) -> None:
    assert {e.name for e in (HUB, PRIVATE, RUBOCOP) if matches(e, pattern)} == expected


def test_a_port_is_not_a_tag() -> None:
    assert split_tag("localhost:5000/ruby") == ("localhost:5000/ruby", None)
    assert split_tag("localhost:5000/ruby:3") == ("localhost:5000/ruby", "3")


def test_invalid_update_names_are_refused() -> None:
    with pytest.raises(InvalidReference):
        validate_pattern("Ruby")


# --- outdated classification -----------------------------------------------------------------


def resolved(digest: str, **platforms: str) -> Resolved:
    from imagelock.reference import parse_reference

    return Resolved(
        parse_reference("ruby:3.3"),
        digest,
        INDEX,
        {k.replace("_", "/"): v for k, v in platforms.items()},
    )


LOCKED = entry("docker.io/library/ruby", "3.3", D["a"], linux_amd64=D["1"], linux_arm64=D["2"])


def test_a_platform_change_makes_an_entry_outdated() -> None:
    move = classify(LOCKED, resolved(D["b"], linux_amd64=D["1"], linux_arm64=D["3"]), [])
    assert move.status == "outdated"
    assert [(c.platform, c.kind) for c in move.platforms] == [("linux/arm64", "changed")]


def test_a_change_to_other_platforms_only_is_moved_not_outdated() -> None:
    move = classify(
        LOCKED,
        resolved(D["b"], linux_amd64=D["1"], linux_arm64=D["3"]),
        [parse_platform("linux/amd64")],
    )
    assert move.status == "moved"


def test_an_added_platform_alone_does_not_fail_a_platform_filtered_check() -> None:
    now = resolved(D["b"], linux_amd64=D["1"], linux_arm64=D["2"], linux_s390x=D["4"])
    assert classify(LOCKED, now, [parse_platform("linux/arm64/v8")]).status == "moved"
    assert classify(LOCKED, now, []).status == "outdated"


def test_docker_hub_variant_spelling_is_not_a_change() -> None:
    now = resolved(D["a"], linux_amd64=D["1"], **{"linux_arm64_v8": D["2"]})
    move = classify(LOCKED, now, [])
    assert move.status == "up-to-date"
    assert move.platforms == ()


# --- near misses and --check with platforms ----------------------------------------------------


def test_a_path_name_that_matches_nothing_suggests_the_repositories_it_ends() -> None:
    from imagelock.resolve import near_misses

    entries = (HUB, PRIVATE, RUBOCOP)
    assert near_misses(entries, "team/ruby") == [PRIVATE.name]
    assert near_misses(entries, "docker.io/team/ruby") == [PRIVATE.name]
    assert near_misses(entries, "team/ruby:3.3.0-slim") == [PRIVATE.name]
    assert near_misses(entries, "team/ruby:9") == []
    assert near_misses(entries, "ruby") == []  # a bare name already matches by suffix


def test_check_reports_a_locked_entry_without_a_required_platform(tmp_path: Path) -> None:
    lock = Lock((entry("docker.io/library/ruby", "3.3", linux_amd64=D["1"]),))
    scope = Scope(tmp_path, frozenset({"Dockerfile"}))

    def lines(*platforms: str) -> list[str]:
        wanted = [parse_platform(p) for p in platforms]
        found = external_images("FROM ruby:3.3\n", target_platforms=wanted)
        return check_lines(requirements(found), lock, scope, wanted)

    assert lines("linux/amd64") == []
    assert lines("linux/amd64", "linux/arm64") == [
        "! docker.io/library/ruby:3.3 has no linux/arm64 image (it has linux/amd64)"
    ]
