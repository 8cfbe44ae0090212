"""Reading answer bodies with a size cap: a registry or proxy may send any body, any size.

Registries refuse manifests over about 4 MiB themselves, so a larger answer is an error, not a
manifest; the cap is checked while reading, before the bytes are held in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

import httpx

MANIFEST_LIMIT: Final = 4 * 1024 * 1024
CONFIG_LIMIT: Final = 8 * 1024 * 1024  # image configs carry the build history: allow more
SMALL_LIMIT: Final = 1024 * 1024  # token answers, error bodies


class BodyTooLarge(Exception):
    """An answer body over the cap; `limit` in bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"answered with a body larger than {limit // 1024} KiB")
        self.limit = limit


async def read_capped(response: httpx.Response, limit: int) -> bytes:
    """The whole (decoded) body of a streamed response, or BodyTooLarge past `limit` bytes.

    Afterwards `response.content` holds the body too, so httpx may read it again (as its auth
    and redirect handling do) without touching the network.
    """
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    response.stream = _CappedStream(response.stream, limit)
    return await response.aread()


class _CappedStream(httpx.AsyncByteStream):
    """A response stream that stops with BodyTooLarge past `limit` raw bytes."""

    def __init__(self, inner: httpx.SyncByteStream | httpx.AsyncByteStream, limit: int) -> None:
        if not isinstance(inner, httpx.AsyncByteStream):
            raise TypeError("the registry client reads async streams only")
        self._inner = inner
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        total = 0
        async for chunk in self._inner:
            total += len(chunk)
            if total > self._limit:
                raise BodyTooLarge(self._limit)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()
