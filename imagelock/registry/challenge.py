"""`WWW-Authenticate` challenges (RFC 7235): which auth scheme a registry wants, with what.

A registry names its token service in the challenge (`Bearer realm=...,service=...,scope=...`);
realm, service and scope are always taken from it, never assumed. One header may carry several
comma-separated challenges, and a response may carry several headers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

_TOKEN: Final = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED: Final = r'"(?:[^"\\]|\\.)*"'
_SCHEME_RE: Final = re.compile(rf"[\s,]*({_TOKEN})")
_PARAM_RE: Final = re.compile(rf"[\s,]*({_TOKEN})\s*=\s*({_QUOTED}|[^\s,\"]*)")
_TOKEN68_RE: Final = re.compile(r"\s+[A-Za-z0-9._~+/-]+=*(?=\s*(?:,|$))")
_ESCAPE_RE: Final = re.compile(r"\\(.)")


@dataclass(frozen=True)
class Challenge:
    """One challenge: `scheme` in lower case, parameter names in lower case."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes asked for; one parameter may hold several, space-separated."""
        return tuple(self.params.get("scope", "").split())

    @property
    def insufficient_scope(self) -> bool:
        """A token was accepted but does not cover the request: a wider token is needed."""
        return self.params.get("error") == "insufficient_scope"


def parse_challenges(headers: Iterable[str]) -> list[Challenge]:
    """All challenges in `WWW-Authenticate` header values, in order; unparsable rests ignored."""
    out: list[Challenge] = []
    for header in headers:
        out += _parse_one(header)
    return out


def find(challenges: Iterable[Challenge], scheme: str) -> Challenge | None:
    """The first challenge of `scheme` (case-insensitive)."""
    return next((c for c in challenges if c.scheme == scheme.lower()), None)


def _parse_one(header: str) -> list[Challenge]:
    out: list[Challenge] = []
    pos = 0
    while True:
        scheme = _SCHEME_RE.match(header, pos)
        if scheme is None:
            return out
        pos = scheme.end()
        params: dict[str, str] = {}
        token68 = _TOKEN68_RE.match(header, pos)
        if token68 is not None and "=" not in token68.group().rstrip("="):
            pos = token68.end()  # `Negotiate abc==`: a credential blob, no parameters
        else:
            while (param := _PARAM_RE.match(header, pos)) is not None:
                params.setdefault(param.group(1).lower(), _unquote(param.group(2)))
                pos = param.end()
        out.append(Challenge(scheme.group(1).lower(), params))


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return _ESCAPE_RE.sub(r"\1", value[1:-1])
    return value
