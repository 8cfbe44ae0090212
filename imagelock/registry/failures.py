"""The registry errors users see: one line each, naming the registry and the reference, and
saying what to do. Built here so that every failure kind is phrased once."""

from __future__ import annotations

import json
from typing import Final

from imagelock.errors import (
    DigestMismatch,
    NotFound,
    RateLimited,
    RegistryError,
    RegistryUnreachable,
    TLSFailure,
    Unauthorized,
    UnsupportedManifest,
)

_DETAIL_MAX: Final = 200


def not_found(ref: str, where: str, login: str) -> NotFound:
    return NotFound(
        f"{ref} was not found on {where}: check the repository name and tag "
        f"(a private repository also looks missing without credentials: `{login}`)"
    )


def unauthorized(
    ref: str, where: str, login: str, *, credentials: str | None, detail: str = ""
) -> Unauthorized:
    """`credentials` names where the refused credentials came from; None when there were none."""
    reason = f": {detail}" if detail else ""
    if credentials is None:
        return Unauthorized(
            f"{where} refused anonymous access to {ref}{reason}: run `{login}` "
            "(or check that the repository exists)"
        )
    return Unauthorized(
        f"{where} refused access to {ref} with the credentials from {credentials}{reason}: "
        f"run `{login}` again, or check that the account may pull it"
    )


def rate_limited(ref: str, where: str, login: str, attempts: int) -> RateLimited:
    return RateLimited(
        f"{where} rate limit reached while resolving {ref} ({_attempts(attempts)}): "
        f"wait and try again, or `{login}` for a higher limit"
    )


def unreachable(ref: str, where: str, reason: str, attempts: int) -> RegistryUnreachable:
    return RegistryUnreachable(
        f"cannot reach {where} for {ref}: {one_line(reason)} ({_attempts(attempts)}): "
        "check the network and proxy settings, or configure a --mirror"
    )


def server_failing(ref: str, where: str, status: int, attempts: int) -> RegistryUnreachable:
    return RegistryUnreachable(
        f"{where} kept failing with HTTP {status} for {ref} ({_attempts(attempts)}): "
        "the registry has trouble; try again later"
    )


def tls_failure(ref: str, where: str, host: str, reason: str) -> TLSFailure:
    return TLSFailure(
        f"the TLS certificate of {host} ({where}) could not be verified for {ref}: "
        f"{one_line(reason)}: trust its CA with --ca-file, or fix the certificate"
    )


def no_tls(ref: str, where: str, host: str, reason: str) -> TLSFailure:
    return TLSFailure(
        f"no TLS connection to {host} ({where}) for {ref}: {one_line(reason)}: if it is a "
        f"plain-HTTP registry, allow it with --insecure-registry {host}"
    )


def digest_mismatch(
    ref: str, where: str, what: str, actual: str, expected: str, source: str
) -> DigestMismatch:
    return DigestMismatch(
        f"{where} sent {what} for {ref} whose SHA-256 is {actual}, not {expected} as "
        f"{source}: refusing it (a corrupting proxy or cache in between?)"
    )


def unsupported(ref: str, where: str, problem: str) -> UnsupportedManifest:
    return UnsupportedManifest(f"{ref} on {where} {problem}")


def broken_answer(ref: str, where: str, reason: str) -> RegistryError:
    """An answer no retry will mend: a redirect loop, an undecodable body, an oversized one."""
    return RegistryError(f"{where} gave an unusable answer for {ref}: {one_line(reason)}")


def unexpected(ref: str, where: str, status: int, body: bytes) -> RegistryError:
    detail = error_detail(body)
    return RegistryError(
        f"{where} answered HTTP {status} for {ref}{': ' + detail if detail else ''}"
    )


def error_detail(body: bytes) -> str:
    """The first `code: message` of a distribution error body, one line, shortened; "" if none.

    Registry text is untrusted: control characters are dropped and the length bounded.
    """
    try:
        errors = json.loads(body).get("errors")
        first = errors[0]
        text = f"{first.get('code', '')}: {first.get('message', '')}".strip(": ")
    except (ValueError, AttributeError, IndexError, KeyError, TypeError):
        return ""
    return one_line(text)


def one_line(text: str) -> str:
    """`text` on one line, printable, at most a couple of hundred characters."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= _DETAIL_MAX else flat[: _DETAIL_MAX - 1] + "…"


def _attempts(count: int) -> str:
    return "1 attempt" if count == 1 else f"{count} attempts"
