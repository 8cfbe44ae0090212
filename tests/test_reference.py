"""Image references behave as Docker's own parser (distribution/reference) says.

The conformance vectors in tests/data/reference_vectors.json are the inputs and expected
results of distribution/reference's Go tests (reference_test.go, normalize_test.go,
regexp_test.go; https://github.com/distribution/reference at commit
0965666a6ade2e06035fe352e38344be1e68951a; Apache-2.0), transcribed as data. Each top-level key
names the Go test it comes from. The property tests below them are imagelock's own.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from imagelock.errors import InvalidReference
from imagelock.reference import (
    Reference,
    is_valid_digest,
    parse_reference,
    parse_strict,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "reference_vectors.json").read_text(encoding="utf-8")
)

# What each Go error value of the vectors looks like in an imagelock message
# (None: any InvalidReference will do, the Go error being the generic one).
GO_ERROR_FRAGMENTS: dict[str, str | None] = {
    "ErrNameEmpty": "must have at least one component",
    "ErrReferenceInvalidFormat": None,
    "ErrDigestInvalidLength": "digest length",
    "ErrDigestUnsupported": "unsupported digest algorithm",
    "ErrNameContainsUppercase": "repository name must be lowercase",
    "ErrNameTooLong": "must not be more than 255 characters",
    "ErrImageID": "image ID",
}

SHA = "sha256:" + "0123456789abcdef" * 4


def vectors(test_name: str) -> list[Any]:
    value = VECTORS[test_name]
    assert isinstance(value, list)
    return value


def vector_id(vector: Any) -> str:
    if isinstance(vector, dict):
        vector = vector.get("input", vector.get("reference", vector.get("remote_name", vector)))
    text = str(vector)
    return text if len(text) < 60 else text[:57] + "..."


def go_string(ref: Reference) -> str:
    """What Go's Reference.String() prints: name, then tag and digest as stated."""
    return ref.name + (f":{ref.tag}" if ref.tag else "") + (f"@{ref.digest}" if ref.digest else "")


def assert_rejected(text: str, go_error: str, parse: Any = parse_strict) -> None:
    with pytest.raises(InvalidReference) as caught:
        parse(text)
    message = str(caught.value)
    assert "\n" not in message
    fragment = GO_ERROR_FRAGMENTS[go_error]
    if fragment is not None:
        assert fragment in message


def assert_parsed(vector: Any) -> None:
    ref = parse_strict(vector["input"])
    assert go_string(ref) == vector["input"]
    assert ref.name == vector["repository"]
    assert ref.domain == vector.get("domain", "")
    assert ref.tag == (vector.get("tag") or None)
    assert ref.digest == (vector.get("digest") or None)


# --- conformance: distribution/reference's vectors ---------------------------------------


@pytest.mark.parametrize(
    "vector", vectors("TestReferenceParse") + vectors("TestSerialization"), ids=vector_id
)
def test_parse_strict_matches_distribution_parse(vector: Any) -> None:
    if "deviation" in vector:
        assert_parsed(vector["imagelock"])
    elif "error" in vector:
        assert_rejected(vector["input"], vector["error"])
    else:
        assert_parsed(vector)


@pytest.mark.parametrize("vector", vectors("TestDomainAndPath"), ids=vector_id)
def test_parse_strict_splits_domain_and_path(vector: Any) -> None:
    ref = parse_strict(vector["input"])
    assert (ref.domain, ref.path) == (vector["domain"], vector["path"])


@pytest.mark.parametrize("vector", vectors("TestParseNamed"), ids=vector_id)
def test_only_canonical_names_print_back_unchanged(vector: Any) -> None:
    ref = parse_reference(vector["input"])
    if "error" in vector:
        assert go_string(ref) != vector["input"]
    else:
        assert go_string(ref) == vector["input"]
        assert (ref.domain, ref.path) == (vector["domain"], vector["path"])


@pytest.mark.parametrize(
    "text",
    VECTORS["TestValidateReferenceName"]["valid"] + VECTORS["TestValidateRemoteName"]["valid"],
)
def test_docker_accepts_name(text: str) -> None:
    parse_reference(text)


@pytest.mark.parametrize(
    "text",
    VECTORS["TestValidateReferenceName"]["invalid"] + VECTORS["TestValidateRemoteName"]["invalid"],
    ids=vector_id,
)
def test_docker_rejects_name(text: str) -> None:
    with pytest.raises(InvalidReference):
        parse_reference(text)


def _repository_info_cases() -> list[tuple[str, Any]]:
    cases = []
    for info in vectors("TestParseRepositoryInfo"):
        for key in ("familiar_name", "full_name", "ambiguous_name"):
            if info[key]:
                cases.append((info[key], info))
    return cases


@pytest.mark.parametrize(("text", "info"), _repository_info_cases(), ids=vector_id)
def test_every_spelling_of_a_repository_normalises_alike(text: str, info: Any) -> None:
    ref = parse_reference(text)
    assert ref.familiar_name == info["familiar_name"]
    assert ref.name == info["full_name"]
    assert ref.domain == info["domain"]
    assert ref.path == info["remote_name"]


@pytest.mark.parametrize("vector", vectors("TestParseReferenceWithTagAndDigest"), ids=vector_id)
def test_tag_and_digest_are_both_kept(vector: Any) -> None:
    ref = parse_reference(vector["input"])
    assert ref.tag is not None and ref.digest is not None
    assert go_string(ref) == vector["string"] == ref.canonical()
    assert ref.familiar() == vector["familiar_string"]


@pytest.mark.parametrize("vector", vectors("TestInvalidReferenceComponents"), ids=vector_id)
def test_invalid_components_are_rejected(vector: Any) -> None:
    with pytest.raises(InvalidReference):
        if "reference" in vector:
            parse_reference(vector["reference"])
        elif "tag" in vector:
            parse_reference(f"{vector['base']}:{vector['tag']}")
        else:
            parse_reference(vector["base"]).with_digest(vector["digest"])


@pytest.mark.parametrize("vector", vectors("TestParseAnyReference"), ids=vector_id)
def test_familiar_references_expand_to_their_equivalent(vector: Any) -> None:
    expected = vector.get("imagelock", vector)
    if "error" in expected:
        assert_rejected(vector["reference"], expected["error"], parse_reference)
        return
    ref = parse_reference(vector["reference"])
    assert go_string(ref) == expected["equivalent"]
    assert ref == parse_strict(expected["equivalent"])


@pytest.mark.parametrize("vector", vectors("TestNormalizedSplitHostname"), ids=vector_id)
def test_normalised_split_of_domain_and_path(vector: Any) -> None:
    ref = parse_reference(vector["input"])
    assert (ref.domain, ref.path) == (vector["domain"], vector["path"])


@pytest.mark.parametrize("vector", vectors("TestParseDockerRef"), ids=vector_id)
def test_docker_ref_form(vector: Any) -> None:
    # ParseDockerRef: the canonical form, except that a digest makes the tag irrelevant.
    ref = parse_reference(vector["input"])
    docker_ref = f"{ref.name}@{ref.digest}" if ref.digest else ref.canonical()
    assert docker_ref == vector["expected"]
    parse_strict(docker_ref)


@pytest.mark.parametrize("vector", vectors("TestDomainRegexp"), ids=vector_id)
def test_registry_host_grammar(vector: Any) -> None:
    try:
        domain = parse_strict(vector["input"] + "/repo").domain
    except InvalidReference:
        domain = None
    assert (domain == vector["input"]) is vector["match"]


@pytest.mark.parametrize("vector", vectors("TestFullNameRegexp"), ids=vector_id)
def test_repository_name_grammar(vector: Any) -> None:
    # A text is a name exactly when it parses with neither tag nor digest.
    try:
        ref: Reference | None = parse_strict(vector["input"])
    except InvalidReference:
        ref = None
    is_name = ref is not None and ref.tag is None and ref.digest is None
    assert is_name is vector["match"]
    if ref is not None and "subs" in vector:
        assert [ref.domain, ref.path] == vector["subs"]


@pytest.mark.parametrize("vector", vectors("TestReferenceRegexp"), ids=vector_id)
def test_reference_grammar(vector: Any) -> None:
    if not vector["match"]:
        with pytest.raises(InvalidReference):
            parse_strict(vector["input"])
        return
    ref = parse_strict(vector["input"])
    assert [ref.name, ref.tag or "", ref.digest or ""] == vector["subs"]


@pytest.mark.parametrize("vector", vectors("TestIdentifierRegexp"), ids=vector_id)
def test_image_ids_are_not_repository_names(vector: Any) -> None:
    try:
        parse_reference(vector["input"])
        refused_as_id = False
    except InvalidReference as error:
        refused_as_id = "image ID" in str(error)
    assert refused_as_id is vector["match"]


# --- imagelock's own behaviour ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "familiar"),
    [
        ("ruby", "docker.io/library/ruby", "ruby"),
        ("library/ruby", "docker.io/library/ruby", "ruby"),
        ("docker.io/ruby", "docker.io/library/ruby", "ruby"),
        ("docker.io/library/ruby", "docker.io/library/ruby", "ruby"),
        ("index.docker.io/ruby", "docker.io/library/ruby", "ruby"),
        ("index.docker.io/library/ruby", "docker.io/library/ruby", "ruby"),
        ("user/app", "docker.io/user/app", "user/app"),
        ("ghcr.io/o/r", "ghcr.io/o/r", "ghcr.io/o/r"),
        ("localhost/x", "localhost/x", "localhost/x"),
        ("localhost:5000/x", "localhost:5000/x", "localhost:5000/x"),
        (
            "127.0.0.1:5000/team/sub/app",
            "127.0.0.1:5000/team/sub/app",
            "127.0.0.1:5000/team/sub/app",
        ),
        ("[::1]:5000/x", "[::1]:5000/x", "[::1]:5000/x"),
    ],
)
def test_name_and_familiar_name(text: str, name: str, familiar: str) -> None:
    ref = parse_reference(text)
    assert ref.name == name
    assert ref.familiar_name == familiar


def test_missing_tag_is_not_defaulted_but_effective_tag_is_latest() -> None:
    ref = parse_reference("ruby")
    assert ref.tag is None and ref.digest is None
    assert ref.effective_tag == "latest"
    assert ref.familiar() == "ruby"
    assert ref.canonical() == str(ref) == "docker.io/library/ruby:latest"


def test_digest_alone_pins_without_a_tag() -> None:
    ref = parse_reference(f"ruby@{SHA}")
    assert ref.effective_tag is None
    assert ref.canonical() == f"docker.io/library/ruby@{SHA}"
    assert ref.familiar() == f"ruby@{SHA}"


def test_tag_and_digest_print_in_every_form() -> None:
    ref = parse_reference(f"ruby:3.3@{SHA}")
    assert ref.familiar() == f"ruby:3.3@{SHA}"
    assert ref.canonical() == f"docker.io/library/ruby:3.3@{SHA}"
    assert ref.buildkit_key() == f"ruby:3.3@{SHA}"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("ruby", "ruby"),
        ("ruby:latest", "ruby"),
        ("docker.io/library/ruby:latest", "ruby"),
        ("ruby:3.3", "ruby:3.3"),
        ("ghcr.io/o/r:1", "ghcr.io/o/r:1"),
        ("localhost:5000/x:latest", "localhost:5000/x"),
        (f"ruby:latest@{SHA}", f"ruby:latest@{SHA}"),
        (f"busybox@{SHA}", f"busybox@{SHA}"),
    ],
)
def test_buildkit_key_trims_latest_only_without_digest(text: str, key: str) -> None:
    assert parse_reference(text).buildkit_key() == key


def test_localhost_and_loopback_ip_are_different_keys() -> None:
    assert (
        parse_reference("localhost:5000/x").buildkit_key()
        != parse_reference("127.0.0.1:5000/x").buildkit_key()
    )


def test_with_digest_keeps_the_tag() -> None:
    ref = parse_reference("ruby:3.3").with_digest(SHA)
    assert (ref.tag, ref.digest) == ("3.3", SHA)
    assert ref.with_digest("sha256:" + "1" * 64).digest == "sha256:" + "1" * 64


def test_with_digest_rejects_malformed_digest() -> None:
    with pytest.raises(InvalidReference, match="digest length"):
        parse_reference("ruby").with_digest("sha256:abc")


def test_uppercase_repository_message() -> None:
    with pytest.raises(InvalidReference) as caught:
        parse_reference("Ruby:3")
    assert str(caught.value) == 'invalid reference "Ruby:3": repository name must be lowercase'


def test_uppercase_first_component_is_a_registry_host() -> None:
    ref = parse_reference("Registry/app")
    assert (ref.domain, ref.path) == ("Registry", "app")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "at least one component"),
        ("ruby:", 'invalid tag ""'),
        ("ruby:bad~tag", 'invalid tag "bad~tag"'),
        ("ruby:-x", 'invalid tag "-x"'),
        (f"ruby:{'t' * 129}", "invalid tag"),
        ("ruby@", 'invalid digest ""'),
        ("ruby@sha256:abc", 'invalid digest "sha256:abc"'),
        ("ruby@sha256:" + "A" * 64, "must be lowercase"),
        ("ruby@md5:" + "a" * 32, 'unsupported digest algorithm "md5"'),
        ("ruby@sha256:" + "a" * 63, "63 hex digits, expected 64"),
        ("-ruby", 'invalid repository path component "-ruby"'),
        ("docker///docker", 'invalid repository path component ""'),
        ("a b", 'invalid repository path component "a b"'),
        ("https://github.com/docker/docker", 'invalid registry host "https:"'),
        ("[fe80::1%eth0]:5000/repo", 'invalid registry host "[fe80::1%eth0]:5000"'),
        ("x/" + "a" * 256, "must not be more than 255 characters"),
        ("a" * 64, "image ID"),
    ],
)
def test_error_names_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(InvalidReference) as caught:
        parse_reference(text)
    message = str(caught.value)
    assert message.startswith(f"invalid reference {json.dumps(text)}: ")
    assert fragment in message


def test_error_message_stays_on_one_line() -> None:
    with pytest.raises(InvalidReference) as caught:
        parse_reference("ruby\n:3")
    assert "\n" not in str(caught.value)
    assert '"ruby\\n:3"' in str(caught.value)


def test_trailing_newline_is_not_accepted() -> None:
    with pytest.raises(InvalidReference):
        parse_reference("ruby:3\n")


def test_non_ascii_word_characters_are_not_tag_characters() -> None:
    with pytest.raises(InvalidReference):
        parse_reference("ruby:é")


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        (SHA, True),
        ("sha512:" + "a" * 128, True),
        ("sha384:" + "a" * 96, True),
        ("sha256:" + "A" * 64, False),
        ("sha256:" + "a" * 63, False),
        ("sha256:" + "g" * 64, False),
        ("md5:" + "a" * 32, False),
        ("sha256", False),
        ("sha256:", False),
        (":" + "a" * 64, False),
        ("", False),
    ],
)
def test_is_valid_digest(text: str, valid: bool) -> None:
    assert is_valid_digest(text) is valid


def test_strict_parse_does_not_normalise() -> None:
    ref = parse_strict("ruby:3")
    assert (ref.domain, ref.path, ref.name) == ("", "ruby", "ruby")
    assert parse_strict("docker.io/ruby").path == "ruby"


# --- properties ------------------------------------------------------------------------

_alnum = st.from_regex(r"[a-z0-9]{1,4}", fullmatch=True)
_separator = st.sampled_from([".", "_", "__", "-", "--"])


@st.composite
def _path_component(draw: st.DrawFn) -> str:
    parts = [draw(_alnum)]
    for _ in range(draw(st.integers(0, 2))):
        parts += [draw(_separator), draw(_alnum)]
    return "".join(parts)


_domain_component = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,4}[a-zA-Z0-9])?", fullmatch=True)
_port = st.integers(1, 65535).map(lambda port: f":{port}")
_host = st.one_of(
    st.just("localhost"),
    st.lists(_domain_component, min_size=2, max_size=3).map(".".join),
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda ip: ".".join(map(str, ip))),
    st.sampled_from(["[::1]", "[2001:db8::1]", "[fc00:1:2:3:4:5:6:7]"]),
    _domain_component.filter(lambda c: c.lower() != c),  # upper case makes it a host
)


_registry = st.tuples(_host, st.one_of(st.just(""), _port)).map("".join)


@st.composite
def references(draw: st.DrawFn) -> Reference:
    """Normalised references: what parse_reference can return."""
    path = "/".join(draw(st.lists(_path_component(), min_size=1, max_size=3)))
    if draw(st.booleans()):
        domain = "docker.io"
        if "/" not in path:
            path = "library/" + path
    else:
        domain = draw(_registry)
        assume(domain != "index.docker.io")
    tag = draw(st.one_of(st.none(), st.from_regex(r"[\w][\w.-]{0,20}", fullmatch=True)))
    assume(tag is None or tag.isascii())
    digest = draw(st.one_of(st.none(), st.binary(min_size=32, max_size=32).map(_sha256)))
    return Reference(domain=domain, path=path, tag=tag, digest=digest)


def _sha256(data: bytes) -> str:
    return "sha256:" + data.hex()


def _familiar_form_is_ambiguous(ref: Reference) -> bool:
    """Docker Hub paths whose familiar form reads as another registry or an image ID."""
    if ref.domain != "docker.io":
        return False
    first = ref.familiar_name.split("/")[0]
    looks_like_host = "." in first or first == "localhost"
    return looks_like_host or re.fullmatch(r"[a-f0-9]{64}", ref.familiar_name) is not None


@settings(max_examples=200)
@given(references())
def test_canonical_form_parses_back(ref: Reference) -> None:
    expected = ref if ref.tag or ref.digest else Reference(ref.domain, ref.path, "latest")
    assert parse_reference(ref.canonical()) == expected
    assert parse_strict(ref.canonical()) == expected
    assert parse_reference(ref.canonical()).canonical() == ref.canonical()


@settings(max_examples=200)
@given(references())
def test_familiar_form_parses_back(ref: Reference) -> None:
    assume(not _familiar_form_is_ambiguous(ref))
    assert parse_reference(ref.familiar()) == ref


@settings(max_examples=200)
@given(st.text(max_size=40))
def test_any_text_parses_or_raises_invalid_reference(text: str) -> None:
    try:
        ref = parse_reference(text)
    except InvalidReference as error:
        assert "\n" not in str(error)
        return
    assert parse_reference(ref.canonical()).name == ref.name


def test_docker_hub_path_that_looks_like_a_host_is_ambiguous_in_familiar_form() -> None:
    # Distribution's own ambiguity: the familiar form of docker.io/x.com/y is "x.com/y",
    # which names registry x.com. Only the canonical form round-trips.
    ref = parse_reference("docker.io/x.com/y")
    assert ref.familiar() == "x.com/y"
    assert parse_reference(ref.familiar()).domain == "x.com"
    assert parse_reference(ref.canonical()).path == "x.com/y"
