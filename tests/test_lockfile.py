"""The lock model, its TOML form (golden files), validation messages, the atomic write, diffs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagelock.errors import LockfileError
from imagelock.lockfile import (
    DEFAULT_LOCKFILE,
    LOCK_VERSION,
    EntryChange,
    Lock,
    LockEntry,
    PlatformChange,
    _parse_with_tomlkit,
    diff_locks,
    dumps,
    format_diff,
    loads,
    platform_changes,
    read_lock,
    write_lock,
)

GOLDEN = Path(__file__).parent / "golden"
INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def digest(char: str) -> str:
    return "sha256:" + char * 64


def entry(
    name: str = "docker.io/library/ruby",
    tag: str | None = "3.3",
    digest_: str = digest("a"),
    media_type: str = INDEX,
    sources: tuple[str, ...] = ("Dockerfile",),
    platforms: dict[str, str] | None = None,
) -> LockEntry:
    if platforms is None:
        platforms = {"linux/amd64": digest("1"), "linux/arm64/v8": digest("2")}
    return LockEntry(name, tag, digest_, media_type, sources, platforms)


# --- the model ------------------------------------------------------------------------------


def test_entry_sorts_and_deduplicates_sources_and_sorts_platforms() -> None:
    e = entry(
        sources=("b/Dockerfile", "Dockerfile", "b/Dockerfile"),
        platforms={"linux/arm64/v8": digest("2"), "linux/amd64": digest("1")},
    )
    assert e.sources == ("Dockerfile", "b/Dockerfile")
    assert list(e.platforms) == ["linux/amd64", "linux/arm64/v8"]


def test_entry_platforms_cannot_be_mutated() -> None:
    platforms = {"linux/amd64": digest("1")}
    e = entry(platforms=platforms)
    platforms["linux/s390x"] = digest("3")
    assert dict(e.platforms) == {"linux/amd64": digest("1")}
    with pytest.raises(TypeError):
        e.platforms["linux/386"] = digest("4")  # type: ignore[index]


def test_entries_are_hashable_and_equal_by_value() -> None:
    assert entry() == entry()
    assert len({entry(), entry(), entry(tag="3.4")}) == 2
    assert entry() != entry(platforms={"linux/amd64": digest("1")})


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"name": "ruby"}, "invalid name 'ruby'"),
        ({"tag": "-x"}, "invalid tag '-x'"),
        ({"digest_": "sha256:abc"}, "malformed digest 'sha256:abc'"),
        ({"media_type": ""}, "empty media type"),
        ({"sources": ("/abs/Dockerfile",)}, "absolute source path"),
        ({"platforms": {}}, "no platforms"),
        ({"platforms": {"Linux/amd64": digest("1")}}, "invalid platform 'Linux/amd64'"),
        ({"platforms": {"linux/amd64": "sha256:1"}}, "malformed digest 'sha256:1'"),
    ],
)
def test_entry_rejects_values_the_lock_could_not_read_back(
    overrides: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        entry(**overrides)  # type: ignore[arg-type]


def test_key_and_reference_of_a_tagged_entry() -> None:
    e = entry()
    assert e.key == ("docker.io/library/ruby", "3.3")
    assert e.reference() == f"docker.io/library/ruby:3.3@{digest('a')}"


def test_key_and_reference_of_a_digest_only_entry() -> None:
    e = entry(tag=None)
    assert e.key == ("docker.io/library/ruby", "@" + digest("a"))
    assert e.reference() == f"docker.io/library/ruby@{digest('a')}"


def test_lock_sorts_entries_by_key() -> None:
    alpine, ruby_33, ruby_34 = entry("docker.io/library/alpine"), entry(), entry(tag="3.4")
    assert Lock((ruby_34, alpine, ruby_33)).entries == (alpine, ruby_33, ruby_34)


def test_lock_refuses_two_entries_with_one_key() -> None:
    with pytest.raises(ValueError, match=r"two lock entries for docker.io/library/ruby:3.3"):
        Lock((entry(), entry(digest_=digest("b"))))


def test_get_finds_an_entry_by_name_and_tag() -> None:
    lock = Lock((entry(), entry(tag=None, digest_=digest("c"))))
    assert lock.get("docker.io/library/ruby", "3.3") == entry()
    assert lock.get("docker.io/library/ruby", "3.4") is None
    assert lock.get("docker.io/library/alpine", "3.3") is None


def test_get_serves_a_tag_and_digest_reference_only_at_that_digest() -> None:
    lock = Lock((entry(),))
    assert lock.get("docker.io/library/ruby", "3.3", digest("a")) == entry()
    assert lock.get("docker.io/library/ruby", "3.3", digest("b")) is None


def test_get_finds_a_digest_only_entry_by_its_digest() -> None:
    pinned = entry(tag=None, digest_=digest("c"))
    lock = Lock((entry(), pinned))
    assert lock.get("docker.io/library/ruby", None, digest("c")) == pinned
    assert lock.get("docker.io/library/ruby", None, digest("a")) is None


def test_get_without_tag_or_digest_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="tag, a digest or both"):
        Lock().get("docker.io/library/ruby", None)


def test_with_entries_sorts_and_keeps_the_version() -> None:
    alpine = entry("docker.io/library/alpine")
    lock = Lock((entry(),)).with_entries([entry(), alpine])
    assert lock == Lock((alpine, entry()), LOCK_VERSION)


# --- writing: golden files ------------------------------------------------------------------

RUBY = entry(
    tag="3.3.0-slim",
    digest_="sha256:abcb7c39cd5bbdba5d2bb0dbba2e0bcee1f4c85ab7ac7cb5d9a5ee9ba5c4d5c4",
    sources=("services/api/Dockerfile", "Dockerfile"),
    platforms={
        "linux/arm64/v8": "sha256:ee13c5704f64c5f4bd2c0d1e1b4ed4f4bba0ab8de4aa0ba5e4c2e0ec0e2d7d21",
        "linux/amd64": "sha256:cdf1bae5f1d8a0c4a29b0af7c1c8d2e08a5ec9f0b3e7b0a1d5d2cf8c6e0a4b11",
    },
)
ALPINE = entry(
    "docker.io/library/alpine",
    tag="3.19",
    digest_="sha256:" + "5" * 64,
    sources=("Dockerfile",),
    platforms={"linux/arm/v7": digest("7"), "linux/amd64": digest("8"), "linux/386": digest("9")},
)
PINNED_NODE = entry(
    "docker.io/library/node",
    tag=None,
    digest_="sha256:" + "0123456789abcdef" * 4,
    sources=("web/Dockerfile",),
    platforms={"linux/amd64": digest("d"), "linux/arm64/v8": digest("e")},
)
SINGLE_PLATFORM = entry(
    "registry.example.com:5000/team/base-image",
    tag="2024.11.1",
    digest_=digest("f"),
    media_type=MANIFEST,
    sources=("tools/Dockerfile.build",),
    platforms={"linux/amd64": digest("f")},
)
MANY_SOURCES = entry(
    "ghcr.io/example/builder",
    tag="v1",
    sources=tuple(f"services/service-{n:02}/Dockerfile" for n in range(5)),
    platforms={"linux/amd64": digest("1")},
)

GOLDEN_LOCKS = {
    "empty": Lock(),
    "multi-entry": Lock((RUBY, ALPINE, PINNED_NODE, SINGLE_PLATFORM)),
    "digest-only": Lock((PINNED_NODE,)),
    "single-platform": Lock((SINGLE_PLATFORM,)),
    "many-sources": Lock((MANY_SOURCES,)),
}


@pytest.mark.parametrize("name", sorted(GOLDEN_LOCKS))
def test_dumps_matches_the_golden_file_byte_for_byte(name: str) -> None:
    text = dumps(GOLDEN_LOCKS[name]).encode("utf-8")
    golden = GOLDEN / f"{name}.lock"
    if os.environ.get("IMAGELOCK_UPDATE_GOLDEN"):
        golden.write_bytes(text)
    assert text == golden.read_bytes()


@pytest.mark.parametrize("name", sorted(GOLDEN_LOCKS))
def test_golden_files_read_back_to_the_same_lock(name: str) -> None:
    text = (GOLDEN / f"{name}.lock").read_text(encoding="utf-8")
    assert loads(text) == GOLDEN_LOCKS[name]


def test_an_empty_lock_is_the_header_and_the_version() -> None:
    assert dumps(Lock()) == (
        "# This file is generated by imagelock. "
        "Update it with `imagelock lock` or `imagelock update`.\n"
        "version = 1\n"
    )


def test_dumps_ignores_the_order_entries_were_given_in() -> None:
    assert dumps(Lock((RUBY, ALPINE, PINNED_NODE))) == dumps(Lock((PINNED_NODE, RUBY, ALPINE)))


def test_dumps_writes_lf_line_endings_and_one_trailing_newline() -> None:
    text = dumps(GOLDEN_LOCKS["multi-entry"])
    assert "\r" not in text
    assert text.endswith("\n")
    assert not text.endswith("\n\n")


def test_a_long_sources_array_is_written_one_path_per_line() -> None:
    assert '\n    "services/service-00/Dockerfile",\n' in dumps(Lock((MANY_SOURCES,)))
    assert 'sources = ["Dockerfile", "services/api/Dockerfile"]\n' in dumps(Lock((RUBY,)))


# --- round trip -----------------------------------------------------------------------------

_digests = st.binary(min_size=32, max_size=32).map(lambda raw: "sha256:" + raw.hex())
_component = st.from_regex(r"[a-z0-9]{1,6}(?:[._-][a-z0-9]{1,6})?", fullmatch=True)
_names = st.builds(
    lambda domain, path: f"{domain}/{'/'.join(path)}",
    st.sampled_from(["docker.io", "ghcr.io", "localhost:5000", "registry.example.com"]),
    st.lists(_component, min_size=2, max_size=3),
)
_tags = st.none() | st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_sources = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1).filter(
    lambda source: not source.startswith("/")
)
_platforms = st.from_regex(r"[a-z0-9]{1,7}/[a-z0-9][a-z0-9_]{0,6}(?:/v[0-9])?", fullmatch=True)
_entries = st.builds(
    LockEntry,
    name=_names,
    tag=_tags,
    digest=_digests,
    media_type=st.sampled_from([INDEX, MANIFEST]),
    sources=st.lists(_sources, max_size=4).map(tuple),
    platforms=st.dictionaries(_platforms, _digests, min_size=1, max_size=4),
)
_locks = st.lists(_entries, max_size=5, unique_by=lambda e: e.key).map(lambda es: Lock(tuple(es)))


@given(_locks)
def test_loads_reads_back_whatever_dumps_writes_and_dumps_it_again_identically(lock: Lock) -> None:
    text = dumps(lock)
    assert loads(text) == lock
    assert dumps(loads(text)) == text


# --- reading: validation --------------------------------------------------------------------

HEADER = "# This file is generated by imagelock.\n"
VALID = (
    HEADER  # 1
    + "version = 1\n"  # 2
    + "\n"  # 3
    + "[[image]]\n"  # 4
    + 'name = "docker.io/library/ruby"\n'  # 5
    + 'tag = "3.3"\n'  # 6
    + f'digest = "{digest("a")}"\n'  # 7
    + f'media-type = "{INDEX}"\n'  # 8
    + 'sources = ["Dockerfile"]\n'  # 9
    + "\n"  # 10
    + "[image.platforms]\n"  # 11
    + f'"linux/amd64" = "{digest("1")}"\n'  # 12
)
RUBY_33 = "image 1 (docker.io/library/ruby:3.3)"
NAME_HINT = "(expected a canonical repository such as docker.io/library/ruby)"
DIGEST_HINT = "(expected sha256: and 64 lower-case hex digits)"
PLATFORM_HINT = "(expected os/arch[/variant] in lower case, e.g. linux/arm64/v8)"


def edited(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new, 1)


DIGEST_ONLY = edited('tag = "3.3"\n', "")


def test_the_valid_fixture_reads() -> None:
    lock = loads(VALID)
    assert lock == Lock((entry(platforms={"linux/amd64": digest("1")}),))


def test_an_entry_without_tag_is_a_digest_only_entry() -> None:
    (read,) = loads(edited('tag = "3.3"\n', "")).entries
    assert read.tag is None
    assert read.key == ("docker.io/library/ruby", "@" + digest("a"))


def test_a_file_without_images_is_an_empty_lock() -> None:
    assert loads(HEADER + "version = 1\n") == Lock()


def test_unknown_keys_are_tolerated_for_newer_minor_additions() -> None:
    text = edited('tag = "3.3"\n', 'tag = "3.3"\nannotations = { a = 1 }\n') + "[tool]\nx = 2\n"
    assert loads(text) == loads(VALID)


def test_entries_out_of_order_on_disk_are_sorted() -> None:
    alpine = VALID[VALID.index("[[image]]") :].replace("library/ruby", "library/alpine")
    lock = loads(VALID + "\n" + alpine)
    assert [e.name for e in lock.entries] == ["docker.io/library/alpine", "docker.io/library/ruby"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            edited('tag = "3.3"', 'tag = "3.3'),
            "images.lock:6: invalid TOML: Illegal character '\\n' (column 11)",
            id="toml-syntax",
        ),
        pytest.param(
            edited('tag = "3.3"', 'tag = "3.3"\ntag = "3.4"'),
            "images.lock:7: invalid TOML: Cannot overwrite a value (column 12)",
            id="toml-duplicate-key",
        ),
        pytest.param(
            VALID + 'x = "unterminated',
            "images.lock:13: invalid TOML: Unterminated string (at end of file)",
            id="toml-end-of-file",
        ),
        pytest.param(
            edited("version = 1\n", ""),
            "images.lock: missing `version` (expected version = 1)",
            id="version-missing",
        ),
        pytest.param(
            edited("version = 1", 'version = "1"'),
            "images.lock:2: `version` must be an integer, not a string",
            id="version-string",
        ),
        pytest.param(
            edited("version = 1", "version = true"),
            "images.lock:2: `version` must be an integer, not a boolean",
            id="version-boolean",
        ),
        pytest.param(
            edited("version = 1", "version = 2"),
            "images.lock:2: lock version 2 was written by a newer imagelock; upgrade imagelock",
            id="version-newer",
        ),
        pytest.param(
            edited("version = 1", "version = 0"),
            "images.lock:2: unknown lock version 0 (expected 1)",
            id="version-older",
        ),
        pytest.param(
            HEADER + 'version = 1\nimage = "ruby"\n',
            "images.lock:3: `image` must be an array of tables ([[image]]), not a string",
            id="image-string",
        ),
        pytest.param(
            edited("[[image]]", "[image]").replace("[image.platforms]", "[image.x]"),
            "images.lock:4: `image` must be an array of tables ([[image]]), not a table",
            id="image-table",
        ),
        pytest.param(
            HEADER + "version = 1\nimage = [1]\n",
            "images.lock: image 1: must be a table, not an integer",
            id="image-item-not-table",
        ),
        pytest.param(
            edited('name = "docker.io/library/ruby"\n', ""),
            "images.lock:4: image 1: missing `name`",
            id="name-missing",
        ),
        pytest.param(
            edited('name = "docker.io/library/ruby"', "name = 5"),
            "images.lock:5: image 1: `name` must be a string, not an integer",
            id="name-integer",
        ),
        pytest.param(
            edited('name = "docker.io/library/ruby"', 'name = "ruby"'),
            f"images.lock:5: image 1 (ruby:3.3): invalid name 'ruby' {NAME_HINT}",
            id="name-familiar",
        ),
        pytest.param(
            edited('name = "docker.io/library/ruby"', 'name = "docker.io/Library/ruby"'),
            "images.lock:5: image 1 (docker.io/Library/ruby:3.3): "
            f"invalid name 'docker.io/Library/ruby' {NAME_HINT}",
            id="name-upper-case",
        ),
        pytest.param(
            edited('name = "docker.io/library/ruby"', 'name = "index.docker.io/library/ruby"'),
            "images.lock:5: image 1 (index.docker.io/library/ruby:3.3): "
            f"invalid name 'index.docker.io/library/ruby' {NAME_HINT}",
            id="name-legacy-hub",
        ),
        pytest.param(
            edited('name = "docker.io/library/ruby"', 'name = "docker.io/library/ruby:3.3"'),
            "images.lock:5: image 1 (docker.io/library/ruby:3.3:3.3): "
            f"invalid name 'docker.io/library/ruby:3.3' {NAME_HINT}",
            id="name-with-tag",
        ),
        pytest.param(
            edited('tag = "3.3"', "tag = 3.3"),
            "images.lock:6: image 1 (docker.io/library/ruby): `tag` must be a string, not a float",
            id="tag-float",
        ),
        pytest.param(
            edited('tag = "3.3"', 'tag = ".3"'),
            "images.lock:6: image 1 (docker.io/library/ruby:.3): invalid tag '.3' "
            "(expected up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -)",
            id="tag-invalid",
        ),
        pytest.param(
            edited(f'digest = "{digest("a")}"\n', ""),
            f"images.lock:4: {RUBY_33}: missing `digest`",
            id="digest-missing",
        ),
        pytest.param(
            edited(f'digest = "{digest("a")}"', "digest = 1979-05-27"),
            f"images.lock:7: {RUBY_33}: `digest` must be a string, not a date or time",
            id="digest-date",
        ),
        pytest.param(
            edited(f'digest = "{digest("a")}"', f'digest = "{digest("A")}"'),
            f"images.lock:7: {RUBY_33}: malformed digest '{digest('A')}' {DIGEST_HINT}",
            id="digest-upper-case",
        ),
        pytest.param(
            edited(f'digest = "{digest("a")}"', 'digest = "sha256:abc"'),
            f"images.lock:7: {RUBY_33}: malformed digest 'sha256:abc' {DIGEST_HINT}",
            id="digest-short",
        ),
        pytest.param(
            edited(f'digest = "{digest("a")}"', f'digest = "sha512:{"a" * 128}"'),
            f"images.lock:7: {RUBY_33}: malformed digest 'sha512:{'a' * 128}' {DIGEST_HINT}",
            id="digest-sha512",
        ),
        pytest.param(
            edited(f'media-type = "{INDEX}"\n', ""),
            f"images.lock:4: {RUBY_33}: missing `media-type`",
            id="media-type-missing",
        ),
        pytest.param(
            edited(f'media-type = "{INDEX}"', "media-type = true"),
            f"images.lock:8: {RUBY_33}: `media-type` must be a string, not a boolean",
            id="media-type-boolean",
        ),
        pytest.param(
            edited(f'media-type = "{INDEX}"', 'media-type = ""'),
            f"images.lock:8: {RUBY_33}: empty media type",
            id="media-type-empty",
        ),
        pytest.param(
            edited('sources = ["Dockerfile"]\n', ""),
            f"images.lock:4: {RUBY_33}: missing `sources`",
            id="sources-missing",
        ),
        pytest.param(
            edited('sources = ["Dockerfile"]', 'sources = "Dockerfile"'),
            f"images.lock:9: {RUBY_33}: `sources` must be an array of strings",
            id="sources-string",
        ),
        pytest.param(
            edited('sources = ["Dockerfile"]', 'sources = ["Dockerfile", 12]'),
            f"images.lock:9: {RUBY_33}: `sources` must be an array of strings",
            id="sources-holding-integer",
        ),
        pytest.param(
            edited('sources = ["Dockerfile"]', 'sources = [""]'),
            f"images.lock:9: {RUBY_33}: empty source path",
            id="sources-empty-path",
        ),
        pytest.param(
            edited('sources = ["Dockerfile"]', 'sources = ["/src/Dockerfile"]'),
            f"images.lock:9: {RUBY_33}: absolute source path '/src/Dockerfile' "
            "(expected a path relative to the lock's folder)",
            id="sources-absolute",
        ),
        pytest.param(
            VALID[: VALID.index("\n[image.platforms]")],
            f"images.lock:4: {RUBY_33}: missing `platforms`",
            id="platforms-missing",
        ),
        pytest.param(
            VALID[: VALID.index("\n[image.platforms]")] + 'platforms = "linux/amd64"\n',
            f"images.lock:10: {RUBY_33}: `platforms` must be a table, not a string",
            id="platforms-string",
        ),
        pytest.param(
            VALID[: VALID.index('"linux/amd64"')],
            f"images.lock:11: {RUBY_33}: `platforms` is empty (every image has at least one)",
            id="platforms-empty",
        ),
        pytest.param(
            edited('"linux/amd64"', '"Linux/amd64"'),
            f"images.lock:12: {RUBY_33}: invalid platform 'Linux/amd64' {PLATFORM_HINT}",
            id="platform-upper-case",
        ),
        pytest.param(
            edited('"linux/amd64"', '"linux"'),
            f"images.lock:12: {RUBY_33}: invalid platform 'linux' {PLATFORM_HINT}",
            id="platform-without-arch",
        ),
        pytest.param(
            edited('"linux/amd64"', '"linux/arm/v7/extra"'),
            f"images.lock:12: {RUBY_33}: invalid platform 'linux/arm/v7/extra' {PLATFORM_HINT}",
            id="platform-too-many-parts",
        ),
        pytest.param(
            edited(f'"linux/amd64" = "{digest("1")}"', '"linux/amd64" = 1'),
            f"images.lock:12: {RUBY_33}: platform 'linux/amd64' must be a string digest, "
            "not an integer",
            id="platform-digest-integer",
        ),
        pytest.param(
            edited(f'"linux/amd64" = "{digest("1")}"', '"linux/amd64" = "latest"'),
            f"images.lock:12: {RUBY_33}: platform 'linux/amd64': malformed digest 'latest' "
            f"{DIGEST_HINT}",
            id="platform-digest-malformed",
        ),
        pytest.param(
            VALID + "\n" + VALID[VALID.index("[[image]]") :],
            "images.lock:14: image 2 (docker.io/library/ruby:3.3): duplicate of image 1",
            id="duplicate-entry",
        ),
        pytest.param(
            DIGEST_ONLY + "\n" + DIGEST_ONLY[DIGEST_ONLY.index("[[image]]") :],
            f"images.lock:13: image 2 (docker.io/library/ruby@sha256:{'a' * 12}…): "
            "duplicate of image 1",
            id="duplicate-digest-only-entry",
        ),
    ],
)
def test_loads_names_the_problem_the_entry_and_the_line(text: str, message: str) -> None:
    with pytest.raises(LockfileError) as raised:
        loads(text)
    assert str(raised.value) == message


def test_a_digest_only_entry_is_labelled_by_its_short_digest() -> None:
    text = edited('tag = "3.3"\n', "").replace("media-type", "media_type")
    with pytest.raises(LockfileError) as raised:
        loads(text)
    assert str(raised.value) == (
        "images.lock:4: image 1 (docker.io/library/ruby@sha256:aaaaaaaaaaaa…): missing `media-type`"
    )


def test_messages_name_the_source_they_were_given() -> None:
    with pytest.raises(LockfileError, match=r"^sub/images.lock:2: unknown lock version 0"):
        loads(edited("version = 1", "version = 0"), source="sub/images.lock")


def test_an_inline_image_array_still_validates_but_without_lines() -> None:
    text = HEADER + 'version = 1\nimage = [{ name = "ruby" }]\n'
    with pytest.raises(LockfileError) as raised:
        loads(text)
    assert str(raised.value) == f"images.lock: image 1 (ruby): invalid name 'ruby' {NAME_HINT}"


def test_the_python_310_parser_reports_syntax_errors_with_their_line() -> None:
    with pytest.raises(LockfileError) as raised:
        _parse_with_tomlkit(edited('tag = "3.3"', 'tag = "3.3'), DEFAULT_LOCKFILE)
    assert str(raised.value).startswith("images.lock:6: invalid TOML: ")
    assert _parse_with_tomlkit(VALID, DEFAULT_LOCKFILE)["image"][0]["tag"] == "3.3"


# --- read_lock ------------------------------------------------------------------------------


def test_read_lock_returns_none_when_there_is_no_lock(tmp_path: Path) -> None:
    assert read_lock(tmp_path / "images.lock") is None


def test_read_lock_reads_a_lock(tmp_path: Path) -> None:
    path = tmp_path / "images.lock"
    path.write_text(VALID, encoding="utf-8")
    assert read_lock(path) == loads(VALID)


def test_read_lock_tolerates_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "images.lock"
    path.write_bytes(b"\xef\xbb\xbf" + VALID.encode())
    assert read_lock(path) == loads(VALID)


def test_read_lock_errors_start_with_the_path(tmp_path: Path) -> None:
    path = tmp_path / "images.lock"
    path.write_text(edited("version = 1", "version = 9"), encoding="utf-8")
    with pytest.raises(LockfileError, match=rf"^{path}:2: lock version 9 was written by a newer"):
        read_lock(path)


def test_read_lock_refuses_text_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "images.lock"
    path.write_bytes(b"version = 1\n# \xff\n")
    with pytest.raises(LockfileError, match=rf"^{path}: not UTF-8 text \(byte 14\)$"):
        read_lock(path)


def test_read_lock_reports_an_unreadable_path(tmp_path: Path) -> None:
    path = tmp_path / "images.lock"
    path.mkdir()
    with pytest.raises(LockfileError, match=rf"^{path}: cannot read: Is a directory$"):
        read_lock(path)


# --- write_lock -----------------------------------------------------------------------------

LOCK = Lock((RUBY,))
OTHER = Lock((RUBY, ALPINE))


@pytest.fixture
def lock_path(tmp_path: Path) -> Path:
    return tmp_path / "images.lock"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "images.lock")


def test_write_lock_creates_the_file(lock_path: Path) -> None:
    assert write_lock(lock_path, LOCK) is True
    assert lock_path.read_bytes() == dumps(LOCK).encode()
    assert leftovers(lock_path.parent) == []


def test_write_lock_leaves_an_identical_file_alone(
    lock_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_lock(lock_path, LOCK)
    before = lock_path.stat()

    def no_temporary_file(*args: object, **kwargs: object) -> None:
        raise AssertionError("wrote an unchanged lock")

    monkeypatch.setattr("tempfile.mkstemp", no_temporary_file)
    assert write_lock(lock_path, LOCK) is False
    assert lock_path.stat().st_ino == before.st_ino
    assert lock_path.stat().st_mtime_ns == before.st_mtime_ns


def test_write_lock_replaces_a_different_file(lock_path: Path) -> None:
    write_lock(lock_path, LOCK)
    assert write_lock(lock_path, OTHER) is True
    assert read_lock(lock_path) == OTHER
    assert leftovers(lock_path.parent) == []


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664])
def test_write_lock_keeps_the_permissions_of_the_file_it_replaces(
    lock_path: Path, mode: int
) -> None:
    write_lock(lock_path, LOCK)
    lock_path.chmod(mode)
    write_lock(lock_path, OTHER)
    assert stat.S_IMODE(lock_path.stat().st_mode) == mode


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_a_new_lock_gets_the_permissions_of_any_new_file(
    lock_path: Path, umask: int, mode: int
) -> None:
    old = os.umask(umask)
    try:
        write_lock(lock_path, LOCK)
    finally:
        os.umask(old)
    assert stat.S_IMODE(lock_path.stat().st_mode) == mode


def test_write_lock_writes_through_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "real.lock"
    write_lock(target, LOCK)
    link = tmp_path / "images.lock"
    link.symlink_to(target.name)
    assert write_lock(link, OTHER) is True
    assert link.is_symlink()
    assert read_lock(target) == OTHER


@pytest.mark.parametrize("failing", ["os.replace", "os.fsync"])
@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_old_lock_and_no_temporary_file(
    lock_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str, error: BaseException
) -> None:
    write_lock(lock_path, LOCK)
    before = lock_path.read_bytes()

    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(failing, fail)
    expected = LockfileError if isinstance(error, OSError) else KeyboardInterrupt
    with pytest.raises(expected):
        write_lock(lock_path, OTHER)
    monkeypatch.undo()
    assert lock_path.read_bytes() == before
    assert leftovers(lock_path.parent) == []


def test_a_failed_write_says_which_file_and_why(
    lock_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", fail)
    with pytest.raises(
        LockfileError, match=rf"^{lock_path}: cannot write: No space left on device$"
    ):
        write_lock(lock_path, LOCK)
    assert not lock_path.exists()


def test_write_lock_into_a_missing_folder_is_a_lock_error(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "images.lock"
    with pytest.raises(LockfileError, match=rf"^{path}: cannot write: No such file or directory$"):
        write_lock(path, LOCK)


# --- platform changes -----------------------------------------------------------------------


def test_platform_changes_classify_changed_added_and_removed_sorted_by_platform() -> None:
    old = {"linux/amd64": digest("1"), "linux/386": digest("2"), "linux/s390x": digest("3")}
    new = {"linux/amd64": digest("4"), "linux/s390x": digest("3"), "linux/riscv64": digest("5")}
    assert platform_changes(old, new) == (
        PlatformChange("linux/386", "removed", digest("2"), None),
        PlatformChange("linux/amd64", "changed", digest("1"), digest("4")),
        PlatformChange("linux/riscv64", "added", None, digest("5")),
    )


def test_identical_platforms_have_no_changes() -> None:
    platforms = {"linux/amd64": digest("1"), "linux/arm64/v8": digest("2")}
    assert platform_changes(platforms, dict(platforms)) == ()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("linux/arm64", "linux/arm64/v8"),
        ("linux/arm64/v8", "linux/arm64"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/amd64/v1", "linux/amd64"),
        ("linux/aarch64", "linux/arm64"),
    ],
)
def test_platforms_match_as_containerd_normalises_them(old: str, new: str) -> None:
    assert platform_changes({old: digest("1")}, {new: digest("1")}) == ()
    assert platform_changes({old: digest("1")}, {new: digest("2")}) == (
        PlatformChange(new, "changed", digest("1"), digest("2")),
    )


def test_different_arm_variants_are_different_platforms() -> None:
    assert platform_changes({"linux/arm/v6": digest("1")}, {"linux/arm/v7": digest("1")}) == (
        PlatformChange("linux/arm/v6", "removed", digest("1"), None),
        PlatformChange("linux/arm/v7", "added", None, digest("1")),
    )


# --- diff_locks and format_diff -------------------------------------------------------------

RUBY_NEW = LockEntry(
    RUBY.name,
    RUBY.tag,
    digest("b"),
    RUBY.media_type,
    RUBY.sources,
    {"linux/amd64": RUBY.platforms["linux/amd64"], "linux/arm64/v8": digest("c")}
    | {"linux/riscv64": digest("d")},
)
ALPINE_MOVED = LockEntry(
    ALPINE.name,
    ALPINE.tag,
    ALPINE.digest,
    ALPINE.media_type,
    ("base/Dockerfile",),
    ALPINE.platforms,
)


def test_diff_locks_classifies_every_key_of_either_lock_sorted() -> None:
    old = Lock((RUBY, ALPINE, SINGLE_PLATFORM))
    new = Lock((RUBY_NEW, ALPINE, PINNED_NODE))
    changes = diff_locks(old, new)
    assert [(c.key, c.kind) for c in changes] == [
        (ALPINE.key, "unchanged"),
        (PINNED_NODE.key, "added"),
        (RUBY.key, "changed"),
        (SINGLE_PLATFORM.key, "removed"),
    ]
    assert changes[2] == EntryChange(
        RUBY.key,
        "changed",
        RUBY,
        RUBY_NEW,
        (
            PlatformChange(
                "linux/arm64/v8", "changed", RUBY.platforms["linux/arm64/v8"], digest("c")
            ),
            PlatformChange("linux/riscv64", "added", None, digest("d")),
        ),
    )


def test_diff_locks_lists_every_platform_of_added_and_removed_entries() -> None:
    added, removed = diff_locks(Lock((SINGLE_PLATFORM,)), Lock((PINNED_NODE,)))
    assert [p.kind for p in added.platforms] == ["added", "added"]
    assert removed.platforms == (PlatformChange("linux/amd64", "removed", digest("f"), None),)


def test_a_sources_only_difference_is_a_change() -> None:
    (change,) = diff_locks(Lock((ALPINE,)), Lock((ALPINE_MOVED,)))
    assert change.kind == "changed"
    assert change.platforms == ()


def test_format_diff_shows_one_line_per_entry_and_one_per_moved_platform() -> None:
    old = Lock((RUBY, ALPINE, SINGLE_PLATFORM))
    new = Lock((RUBY_NEW, ALPINE_MOVED, PINNED_NODE))
    assert format_diff(diff_locks(old, new)) == "\n".join(
        [
            "~ docker.io/library/alpine:3.19  sources: +base/Dockerfile, -Dockerfile",
            "+ docker.io/library/node@sha256:0123456789ab… (new, used by web/Dockerfile)",
            "~ docker.io/library/ruby:3.3.0-slim  sha256:abcb7c39cd5b… -> sha256:bbbbbbbbbbbb…",
            "    linux/arm64/v8  changed  sha256:ee13c5704f64… -> sha256:cccccccccccc…",
            "    linux/riscv64   added    sha256:dddddddddddd…",
            "- registry.example.com:5000/team/base-image:2024.11.1 (no longer used)",
        ]
    )


def test_format_diff_shows_removed_platforms_and_media_type_changes() -> None:
    new = LockEntry(
        SINGLE_PLATFORM.name,
        SINGLE_PLATFORM.tag,
        digest("e"),
        INDEX,
        SINGLE_PLATFORM.sources,
        {"linux/arm64": digest("e")},
    )
    assert format_diff(diff_locks(Lock((SINGLE_PLATFORM,)), Lock((new,)))) == "\n".join(
        [
            "~ registry.example.com:5000/team/base-image:2024.11.1  "
            f"sha256:ffffffffffff… -> sha256:eeeeeeeeeeee…  media type {MANIFEST} -> {INDEX}",
            "    linux/amd64  removed  sha256:ffffffffffff…",
            "    linux/arm64  added    sha256:eeeeeeeeeeee…",
        ]
    )


def test_format_diff_names_a_change_that_only_respells_platforms() -> None:
    old = entry(platforms={"linux/arm64": digest("1")})
    new = entry(platforms={"linux/arm64/v8": digest("1")})
    assert format_diff(diff_locks(Lock((old,)), Lock((new,)))) == (
        "~ docker.io/library/ruby:3.3  platforms respelled"
    )


def test_format_diff_of_equal_locks_is_empty() -> None:
    lock = GOLDEN_LOCKS["multi-entry"]
    assert format_diff(diff_locks(lock, lock)) == ""
