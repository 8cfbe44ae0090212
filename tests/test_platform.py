"""Platforms are kept as stated and compared as containerd (and so BuildKit) normalises them.

The normalisation table below follows containerd's `normalizeArch`/`normalizeOS`
(github.com/containerd/platforms, database.go).
"""

from __future__ import annotations

import platform as stdlib_platform

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagelock.errors import InvalidPlatform
from imagelock.platform import (
    Platform,
    find_matching,
    from_oci,
    host_platform,
    parse_platform,
    parse_platforms,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", Platform("linux", "amd64")),
        ("linux/arm64/v8", Platform("linux", "arm64", "v8")),
        ("linux/arm", Platform("linux", "arm")),
        ("windows/amd64", Platform("windows", "amd64")),
        ("Linux/AArch64", Platform("Linux", "AArch64")),
    ],
)
def test_parse_keeps_the_platform_as_written(text: str, expected: Platform) -> None:
    parsed = parse_platform(text)
    assert parsed == expected
    assert str(parsed) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "linux",
        "a/b/c/d",
        "linux/",
        "/amd64",
        "linux//v7",
        "linux/amd 64",
        "linux/amd64/v8 ",
        "*",
    ],
)
def test_parse_rejects_malformed_platform_naming_it(text: str) -> None:
    with pytest.raises(InvalidPlatform) as caught:
        parse_platform(text)
    assert f'"{text}"' in str(caught.value)


@pytest.mark.parametrize(
    ("stated", "normal"),
    [
        ("linux/amd64", "linux/amd64"),
        ("linux/x86_64", "linux/amd64"),
        ("linux/x86-64", "linux/amd64"),
        ("linux/amd64/v1", "linux/amd64"),
        ("linux/amd64/v3", "linux/amd64/v3"),
        ("linux/aarch64", "linux/arm64"),
        ("linux/arm64/v8", "linux/arm64"),
        ("linux/arm64/8", "linux/arm64"),
        ("linux/arm64/v8.0", "linux/arm64"),
        ("linux/arm64/9", "linux/arm64/v9"),
        ("linux/arm64/v9.0", "linux/arm64/v9"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/arm/7", "linux/arm/v7"),
        ("linux/arm/6", "linux/arm/v6"),
        ("linux/arm/v5", "linux/arm/v5"),
        ("linux/armhf", "linux/arm/v7"),
        ("linux/armel", "linux/arm/v6"),
        ("linux/i386", "linux/386"),
        ("linux/i686", "linux/386"),
        ("LINUX/AMD64", "linux/amd64"),
        ("macos/arm64", "darwin/arm64"),
        ("linux/ppc64le", "linux/ppc64le"),
        ("linux/s390x", "linux/s390x"),
    ],
)
def test_normalized_follows_containerd(stated: str, normal: str) -> None:
    assert str(parse_platform(stated).normalized()) == normal


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        ("linux/arm64/v8", "linux/arm64", True),
        ("linux/aarch64", "linux/arm64/v8", True),
        ("linux/arm", "linux/arm/v7", True),
        ("linux/arm", "linux/arm/v6", False),
        ("linux/amd64", "linux/arm64", False),
        ("linux/amd64", "windows/amd64", False),
        ("linux/arm64/v9", "linux/arm64", False),
    ],
)
def test_matches_compares_normalised(left: str, right: str, same: bool) -> None:
    assert parse_platform(left).matches(parse_platform(right)) is same
    assert parse_platform(right).matches(parse_platform(left)) is same


def test_empty_variant_is_no_variant() -> None:
    assert Platform("linux", "arm64", "") == Platform("linux", "arm64")
    assert str(Platform("linux", "arm64", "")) == "linux/arm64"


def test_platforms_sort_with_and_without_variant() -> None:
    platforms = [
        Platform("linux", "arm64", "v8"),
        Platform("linux", "arm64"),
        Platform("linux", "amd64"),
        Platform("linux", "arm", "v7"),
    ]
    assert [str(p) for p in sorted(platforms)] == [
        "linux/amd64",
        "linux/arm/v7",
        "linux/arm64",
        "linux/arm64/v8",
    ]


def test_platform_is_hashable_and_frozen() -> None:
    p = Platform("linux", "amd64")
    assert {p, Platform("linux", "amd64")} == {p}
    with pytest.raises(AttributeError):
        p.os = "windows"  # type: ignore[misc]


def test_parse_platforms_splits_trims_and_deduplicates_in_order() -> None:
    parsed = parse_platforms(" linux/arm64/v8, linux/amd64 ,linux/arm64,, linux/amd64")
    assert [str(p) for p in parsed] == ["linux/arm64/v8", "linux/amd64"]


def test_parse_platforms_of_blank_is_empty() -> None:
    assert parse_platforms("  ") == []


def test_parse_platforms_names_the_bad_item() -> None:
    with pytest.raises(InvalidPlatform, match='"linux"'):
        parse_platforms("linux/amd64,linux")


@pytest.mark.parametrize(
    ("machine", "expected"),
    [
        ("x86_64", "linux/amd64"),
        ("AMD64", "linux/amd64"),
        ("aarch64", "linux/arm64"),
        ("arm64", "linux/arm64"),
        ("armv7l", "linux/arm/v7"),
        ("armv6l", "linux/arm/v6"),
        ("i686", "linux/386"),
        ("ppc64le", "linux/ppc64le"),
        ("s390x", "linux/s390x"),
        ("riscv64", "linux/riscv64"),
    ],
)
def test_host_platform_maps_machine(
    monkeypatch: pytest.MonkeyPatch, machine: str, expected: str
) -> None:
    monkeypatch.setattr(stdlib_platform, "machine", lambda: machine)
    assert str(host_platform()) == expected


def test_host_platform_of_this_machine_is_linux() -> None:
    assert host_platform().os == "linux"


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"os": "linux", "architecture": "amd64"}, "linux/amd64"),
        ({"os": "linux", "architecture": "arm64", "variant": "v8"}, "linux/arm64/v8"),
        ({"os": "linux", "architecture": "arm64", "variant": ""}, "linux/arm64"),
        ({"os": "unknown", "architecture": "unknown"}, "unknown/unknown"),
        (
            {"os": "windows", "architecture": "amd64", "os.version": "10.0.17763.5820"},
            "windows/amd64",
        ),
    ],
)
def test_from_oci_reads_index_platform_or_config(obj: dict[str, object], expected: str) -> None:
    assert str(from_oci(obj)) == expected


@pytest.mark.parametrize(
    "obj",
    [
        {"os": "linux"},
        {"architecture": "amd64"},
        {"os": "", "architecture": "amd64"},
        {"os": "linux", "architecture": 64},
        {"os": "linux/arm", "architecture": "v7"},
    ],
)
def test_from_oci_rejects_incomplete_platform(obj: dict[str, object]) -> None:
    with pytest.raises(InvalidPlatform):
        from_oci(obj)


LOCK_KEYS = ["linux/amd64", "linux/arm/v6", "linux/arm/v7", "linux/arm64/v8"]


@pytest.mark.parametrize(
    ("wanted", "key"),
    [
        ("linux/amd64", "linux/amd64"),
        ("linux/arm64", "linux/arm64/v8"),
        ("linux/aarch64", "linux/arm64/v8"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/arm/v6", "linux/arm/v6"),
        ("linux/x86_64", "linux/amd64"),
        ("linux/s390x", None),
        ("windows/amd64", None),
    ],
)
def test_find_matching_returns_the_lock_key(wanted: str, key: str | None) -> None:
    assert find_matching(parse_platform(wanted), LOCK_KEYS) == key


def test_find_matching_prefers_the_exact_key() -> None:
    keys = ["linux/arm64/v8", "linux/arm64"]
    assert find_matching(parse_platform("linux/arm64"), keys) == "linux/arm64"
    assert find_matching(parse_platform("linux/arm64/v8"), keys) == "linux/arm64/v8"


def test_find_matching_accepts_any_iterable() -> None:
    assert find_matching(Platform("linux", "amd64"), iter(LOCK_KEYS)) == "linux/amd64"


_component = st.from_regex(r"[A-Za-z0-9_.-]{1,8}", fullmatch=True)
_platforms = st.builds(Platform, _component, _component, st.one_of(st.none(), _component))


@settings(max_examples=200)
@given(_platforms)
def test_str_parses_back(p: Platform) -> None:
    assert parse_platform(str(p)) == p


@settings(max_examples=200)
@given(_platforms)
def test_normalized_is_idempotent_and_matches_original(p: Platform) -> None:
    assert p.normalized().normalized() == p.normalized()
    assert p.matches(p.normalized())
