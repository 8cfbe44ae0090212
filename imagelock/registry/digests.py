"""Content digests: what a body hashes to, and whether it is what was claimed or asked for.

A registry's `Docker-Content-Digest` header proves nothing by itself; only the hash of the bytes
received does. The lock records SHA-256 digests only, the algorithm every registry uses.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from imagelock.reference import DIGEST_ALGORITHMS

_SHA256_RE: Final = re.compile(r"sha256:[0-9a-f]{64}")


def sha256_of(body: bytes) -> str:
    """The `sha256:<hex>` digest of `body`."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def is_sha256(digest: str) -> bool:
    """Whether `digest` is a well-formed SHA-256 digest, the only kind a lock holds."""
    return _SHA256_RE.fullmatch(digest) is not None


def matches(digest: str, body: bytes) -> bool:
    """Whether `body` hashes to `digest`, in the digest's own algorithm (sha256/384/512).

    An unknown algorithm or malformed digest never matches: it cannot be checked.
    """
    algorithm, _, encoded = digest.partition(":")
    if DIGEST_ALGORITHMS.get(algorithm) != len(encoded):
        return False
    return hashlib.new(algorithm, body).hexdigest() == encoded
