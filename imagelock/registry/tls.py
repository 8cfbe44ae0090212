"""TLS trust for registries: verified always, with an extra CA added on request.

The extra CA (a company or test CA) is added to the system roots and certifi's, not used
instead of them, so that public registries keep working beside a private one.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import certifi

from imagelock.errors import ConfigError


def ssl_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A verifying client context: system roots (and SSL_CERT_FILE/DIR), certifi, `ca_file`."""
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=certifi.where())
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or "not a PEM certificate bundle"
            raise ConfigError(f"cannot use CA file {ca_file}: {reason}") from None
    return context


def certificate_problem(exc: BaseException) -> str | None:
    """Why certificate verification failed, if that is what `exc` (or its causes) is about."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return current.verify_message or str(current)
        current = current.__cause__ or current.__context__
    return None


def speaks_no_tls(exc: BaseException) -> bool:
    """Whether a failed https connection means the server answered without TLS (plain HTTP on
    that port, or a server that hung up on the TLS greeting) rather than being unreachable."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return False
        if isinstance(current, (ssl.SSLError, ConnectionResetError, ConnectionAbortedError)):
            return True
        current = current.__cause__ or current.__context__
    return False


_CUT_OFF = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)


def handshake_problem(exc: BaseException) -> str | None:
    """Why a TLS handshake failed for another reason than the certificate (the server speaks
    plain HTTP on that port, an old protocol, ...), if that is what `exc` is about."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (ssl.SSLCertVerificationError, *_CUT_OFF)):
            return None  # the certificate's business, or a connection cut off: may pass
        if isinstance(current, ssl.SSLError):
            return current.reason or str(current)
        current = current.__cause__ or current.__context__
    return None
