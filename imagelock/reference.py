"""Docker image references: parse, normalise and print them as Docker does.

The grammar and the normalisation are those of distribution/reference, the package Docker,
BuildKit and containerd share, so that `ruby`, `library/ruby` and `docker.io/library/ruby`
name one lock entry here exactly when they name one image there:

    reference   := name [ ":" tag ] [ "@" digest ]
    name        := [ domain "/" ] path
    domain      := host [ ":" port ]        host: DNS-like name, IPv4, or "[" IPv6 "]"
    path        := component [ "/" component ]*
    component   := [a-z0-9]+ ( separator [a-z0-9]+ )*    separator: "." | "_" | "__" | "-"+
    tag         := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest      := algorithm ":" hex

`parse_reference` is `ParseNormalizedNamed` (what `docker pull` and a Dockerfile's `FROM`
accept); `parse_strict` is the un-normalised `Parse`. Pure and stdlib-only: every other
module, the CLI's fast offline paths included, imports it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Final

from imagelock.errors import InvalidReference

__all__ = [
    "DIGEST_ALGORITHMS",
    "Reference",
    "is_valid_digest",
    "parse_reference",
    "parse_strict",
]

DEFAULT_DOMAIN: Final = "docker.io"
LEGACY_DEFAULT_DOMAIN: Final = "index.docker.io"
OFFICIAL_PREFIX: Final = "library/"
DEFAULT_TAG: Final = "latest"
NAME_TOTAL_LENGTH_MAX: Final = 255

#: The digest algorithms a reference may use, with the length of their hex encoding: those
#: go-digest knows (Docker and containerd link all three). The OCI spec registers sha256 and
#: sha512; registries use sha256. `hashlib.new(algorithm)` computes each of them.
DIGEST_ALGORITHMS: Final[dict[str, int]] = {"sha256": 64, "sha384": 96, "sha512": 128}

# The grammar above as regular expressions, built the way the reference grammar composes it.
_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_PATH = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

# re.ASCII: `\w` is [A-Za-z0-9_] in Go; Python's would also match non-ASCII letters.
_NAME_RE: Final = re.compile(rf"(?:({_DOMAIN})/)?({_PATH})", re.ASCII)
_REFERENCE_RE: Final = re.compile(
    rf"((?:{_DOMAIN}/)?{_PATH})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII
)
_DOMAIN_RE: Final = re.compile(_DOMAIN, re.ASCII)
_PATH_COMPONENT_RE: Final = re.compile(_PATH_COMPONENT, re.ASCII)
_TAG_RE: Final = re.compile(_TAG, re.ASCII)
_DIGEST_RE: Final = re.compile(_DIGEST, re.ASCII)
_IDENTIFIER_RE: Final = re.compile(r"[a-f0-9]{64}")
_LOWER_HEX_RE: Final = re.compile(r"[a-f0-9]+")

_MUST_BE_LOWERCASE: Final = "repository name must be lowercase"
_EMPTY: Final = "repository name must have at least one component"


@dataclass(frozen=True)
class Reference:
    """One image reference, split into the parts a registry request and a lock entry need.

    `tag` and `digest` are None when the reference does not state them: `ruby` and
    `ruby:latest` are different texts BuildKit keys differently, so the default tag is applied
    only where it is meant (`effective_tag`, `canonical`).
    """

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The repository, fully qualified: `docker.io/library/ruby`, the lock's `name`."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def familiar_name(self) -> str:
        """The repository as Docker shows it: `ruby`, `user/app`, `ghcr.io/o/r`."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        official = self.path.removeprefix(OFFICIAL_PREFIX)
        if official != self.path and "/" not in official:
            return official
        return self.path

    @property
    def effective_tag(self) -> str | None:
        """The tag a pull resolves: the stated one, `latest` when nothing pins the image."""
        if self.tag is None and self.digest is None:
            return DEFAULT_TAG
        return self.tag

    def familiar(self) -> str:
        """Docker's FamiliarString: the short form users write, no `:latest` added."""
        return self.familiar_name + self._suffix(self.tag)

    def buildkit_key(self) -> str:
        """The name BuildKit looks a named build context up by (`--build-context KEY=...`).

        BuildKit trims a trailing `:latest` from the familiar form, so `ruby` and
        `ruby:latest` share a key; with a digest the form ends in the digest and stays whole.
        """
        if self.digest is None and self.tag == DEFAULT_TAG:
            return self.familiar_name
        return self.familiar()

    def canonical(self) -> str:
        """The fully qualified form, `docker.io/library/ruby:latest`, as source policies want."""
        return self.name + self._suffix(self.effective_tag)

    def with_digest(self, digest: str) -> Reference:
        """The same reference pinned to `digest` (the tag kept, readable beside the pin)."""
        problem = _digest_problem(digest)
        if problem is not None:
            raise _invalid(f"{self.familiar_name}@{digest}", problem)
        return replace(self, digest=digest)

    def __str__(self) -> str:
        return self.canonical()

    def _suffix(self, tag: str | None) -> str:
        tag_part = f":{tag}" if tag is not None else ""
        digest_part = f"@{self.digest}" if self.digest is not None else ""
        return tag_part + digest_part


def parse_reference(text: str) -> Reference:
    """Parse `text` as `docker pull` and `FROM` do (distribution's ParseNormalizedNamed).

    A first component with `.` or `:`, equal to `localhost`, or with upper case is a registry
    host; otherwise the image is on Docker Hub (`docker.io`), official images under
    `library/`; `index.docker.io` is `docker.io`. Raises InvalidReference naming the problem.
    """
    if not text:
        raise _invalid(text, _EMPTY)
    if _IDENTIFIER_RE.fullmatch(text):
        raise _invalid(text, "a 64-character hexadecimal string is an image ID, not a name")
    domain, remainder = _split_docker_domain(text)
    remote = remainder.partition(":")[0]
    if remote.lower() != remote:
        raise _invalid(text, _MUST_BE_LOWERCASE)
    return _parse(f"{domain}/{remainder}", shown=text)


def parse_strict(text: str) -> Reference:
    """Parse `text` by the grammar alone (distribution's Parse): no default registry, no
    `library/`; `domain` is "" when the text names none. For checking against the reference
    implementation's own vectors, and for callers that must not normalise.
    """
    if not text:
        raise _invalid(text, _EMPTY)
    return _parse(text, shown=text)


def is_valid_digest(text: str) -> bool:
    """Whether `text` is a digest a reference may carry: `sha256:` and 64 lowercase hex
    digits, or sha384/sha512 with 96/128 (what go-digest validates)."""
    return _digest_problem(text) is None


def _parse(text: str, shown: str) -> Reference:
    """Parse by the grammar; errors quote `shown`, the text the user wrote."""
    match = _REFERENCE_RE.fullmatch(text)
    if match is None:
        raise _invalid(shown, _diagnose(text))
    name, tag, digest = match.groups()
    domain, path = _split_name(name)
    if len(path) > NAME_TOTAL_LENGTH_MAX:
        raise _invalid(
            shown, f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        )
    if digest is not None:
        problem = _digest_problem(digest)
        if problem is not None:
            raise _invalid(shown, problem)
    return Reference(domain=domain, path=path, tag=tag, digest=digest)


def _split_name(name: str) -> tuple[str, str]:
    """Split a grammatical name into (domain, path); a leading host-like component is the
    domain, as the grammar's greedy optional domain takes it."""
    match = _NAME_RE.fullmatch(name)
    if match is None:  # pragma: no cover - `name` already matched the reference grammar
        raise _invalid(name, "invalid repository name")
    domain, path = match.groups()
    return domain or "", path


def _split_docker_domain(text: str) -> tuple[str, str]:
    """Docker's split into (registry, rest): which first components are registry hosts."""
    first, slash, rest = text.partition("/")
    if not slash:
        return DEFAULT_DOMAIN, OFFICIAL_PREFIX + text
    if first == LEGACY_DEFAULT_DOMAIN:
        domain, remainder = DEFAULT_DOMAIN, rest
    elif first == "localhost" or "." in first or ":" in first or first.lower() != first:
        domain, remainder = first, rest
    else:
        domain, remainder = DEFAULT_DOMAIN, text
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def _digest_problem(digest: str) -> str | None:
    """What is wrong with `digest` as go-digest validates it, or None when nothing is."""
    algorithm, _, encoded = digest.partition(":")
    if not algorithm or not encoded:
        return f"invalid digest {_quote(digest)}: expected algorithm:hex, as in sha256:<64 hex>"
    length = DIGEST_ALGORITHMS.get(algorithm)
    if length is None:
        supported = ", ".join(DIGEST_ALGORITHMS)
        return f"unsupported digest algorithm {_quote(algorithm)} (supported: {supported})"
    if len(encoded) != length:
        return f"invalid {algorithm} digest length: {len(encoded)} hex digits, expected {length}"
    if _LOWER_HEX_RE.fullmatch(encoded) is None:
        return f"invalid {algorithm} digest: the hex digits must be lowercase 0-9a-f"
    return None


def _diagnose(text: str) -> str:
    """Name the part of an ungrammatical reference that is wrong, for the error message."""
    if text.lower() != text and _REFERENCE_RE.fullmatch(text.lower()):
        return _MUST_BE_LOWERCASE
    rest, at, digest = text.partition("@")
    if at and _DIGEST_RE.fullmatch(digest) is None:
        return f"invalid digest {_quote(digest)}: expected algorithm:hex, as in sha256:<64 hex>"
    name, tag = rest, None
    last_colon = rest.rfind(":")
    if last_colon > rest.rfind("/"):
        name, tag = rest[:last_colon], rest[last_colon + 1 :]
    if tag is not None and _TAG_RE.fullmatch(tag) is None and _NAME_RE.fullmatch(name):
        return (
            f"invalid tag {_quote(tag)}: up to 128 letters, digits, '_', '.' and '-', "
            "not starting with '.' or '-'"
        )
    return _diagnose_name(name)


def _diagnose_name(name: str) -> str:
    """The first bad component of a repository name (registry host or path component)."""
    components = name.split("/")
    first = components[0]
    looks_like_host = any(c in first for c in ".:[") or first.lower() != first
    if len(components) > 1 and looks_like_host and not _DOMAIN_RE.fullmatch(first):
        return f"invalid registry host {_quote(first)}"
    if len(components) > 1 and _DOMAIN_RE.fullmatch(first):
        components = components[1:]
    for component in components:
        if _PATH_COMPONENT_RE.fullmatch(component) is None:
            return (
                f"invalid repository path component {_quote(component)}: lowercase letters "
                "and digits, separated by '.', '_', '__' or '-'"
            )
    return "invalid reference format"


def _quote(text: str) -> str:
    """Quote as Go's %q does closely enough: one line, whatever the text holds."""
    return json.dumps(text, ensure_ascii=False)


def _invalid(text: str, problem: str) -> InvalidReference:
    return InvalidReference(f"invalid reference {_quote(text)}: {problem}")
