"""The registry client (the project's only httpx user): references in, verified digests out.

`resolve_many` is the synchronous entry point the rest of imagelock uses: it resolves many
references concurrently (bounded per registry host) and turns each expected failure into a
value, so that one missing tag does not hide what happened to the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from imagelock.errors import RegistryError
from imagelock.reference import Reference
from imagelock.registry.options import RegistryOptions, mirrors_from_env, parse_mirror
from imagelock.registry.results import Resolved, Unchanged

if TYPE_CHECKING:
    import httpx

    from imagelock.registry.client import RegistryClient

__all__ = [
    "RegistryClient",
    "RegistryOptions",
    "Resolved",
    "Unchanged",
    "mirrors_from_env",
    "parse_mirror",
    "resolve_many",
]

Outcome = Resolved | Unchanged | RegistryError


def __getattr__(name: str) -> Any:
    # httpx loads only when a registry is really asked: offline commands (scan, lock --check,
    # a lock with nothing new) never pay for it.
    if name == "RegistryClient":
        from imagelock.registry.client import RegistryClient

        return RegistryClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def resolve_many(
    refs: Sequence[Reference],
    options: RegistryOptions,
    *,
    known: Mapping[Reference, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[Reference, Outcome]:
    """Resolve every reference at once; each maps to its result or its RegistryError.

    With `known` (reference -> locked digest), a reference whose tag still points there costs
    one HEAD and comes back `Unchanged`. `progress(done, total)` is called as results arrive.
    """
    return asyncio.run(_resolve_all(refs, options, known or {}, progress, transport))


async def _resolve_all(
    refs: Sequence[Reference],
    options: RegistryOptions,
    known: Mapping[Reference, str],
    progress: Callable[[int, int], None] | None,
    transport: httpx.AsyncBaseTransport | None,
) -> dict[Reference, Outcome]:
    from imagelock.registry.client import RegistryClient

    unique = list(dict.fromkeys(refs))
    out: dict[Reference, Outcome] = {}
    async with RegistryClient(options, transport) as client:

        async def one(ref: Reference) -> None:
            try:
                if ref in known:
                    out[ref] = await client.check(ref, known[ref])
                else:
                    out[ref] = await client.resolve(ref)
            except RegistryError as exc:
                out[ref] = exc
            if progress is not None:
                progress(len(out), len(unique))

        await asyncio.gather(*(one(ref) for ref in unique))
    return out
