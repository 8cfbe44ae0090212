"""The registry client: references in, verified digests and platforms out.

Resolving a tag is one manifest GET (the body is needed for the platforms), plus the config
blob for a single-platform image. Checking a known digest is a HEAD, which Docker Hub does not
count against its pull limit; a GET follows only when the tag moved or the registry did not say
the digest. Every body is hashed and compared with what the registry claimed and what was
asked for. Mirrors are tried first; any failure but an integrity failure falls back to the
next mirror and finally to the registry itself.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TypeVar

import httpx

from imagelock.errors import DigestMismatch, RegistryError
from imagelock.reference import Reference
from imagelock.registry import failures
from imagelock.registry.bodies import CONFIG_LIMIT, MANIFEST_LIMIT
from imagelock.registry.credentials import DockerConfig
from imagelock.registry.digests import is_sha256, matches, sha256_of
from imagelock.registry.endpoints import Endpoint, endpoints_for
from imagelock.registry.manifest import (
    ImageManifest,
    Index,
    ManifestProblem,
    parse_manifest,
    platform_of_config,
)
from imagelock.registry.mediatypes import ACCEPT
from imagelock.registry.options import RegistryOptions
from imagelock.registry.results import Resolved, Unchanged
from imagelock.registry.sender import Answer, Call, Sender

log = logging.getLogger("imagelock.registry")
T = TypeVar("T")


class RegistryClient:
    """Resolve references against their registries: `async with RegistryClient(options) as c`.

    `transport` replaces httpx's network transport (tests put a fault-injecting one in the
    path). The Docker config is read when the client is made, so a broken one fails before
    any request.
    """

    def __init__(
        self,
        options: RegistryOptions | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self._options = options or RegistryOptions()
        config = DockerConfig.load(self._options.docker_config, environ)
        self._sender = Sender(self._options, config, transport)

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._sender.aclose()

    async def resolve(self, ref: Reference) -> Resolved:
        """Where `ref` points: digest, media type and per-platform manifest digests."""
        _check_pin(ref)
        return await self._on_endpoints(ref, lambda endpoint: self._resolve_at(endpoint, ref))

    async def head_digest(self, ref: Reference) -> str:
        """The digest `ref` points to, by HEAD; by GET and hashing when HEAD does not say."""
        _check_pin(ref)
        return await self._on_endpoints(ref, lambda endpoint: self._head_at(endpoint, ref))

    async def check(self, ref: Reference, known: str) -> Resolved | Unchanged:
        """Unchanged when `ref` still points to `known` (HEAD only), else resolved anew."""
        _check_pin(ref)

        async def at(endpoint: Endpoint) -> Resolved | Unchanged:
            digest = await self._head_at(endpoint, ref)
            if digest == known:
                return Unchanged(ref, digest)
            return await self._resolve_at(endpoint, ref)

        return await self._on_endpoints(ref, at)

    async def _on_endpoints(
        self, ref: Reference, operation: Callable[[Endpoint], Awaitable[T]]
    ) -> T:
        *mirrors, registry = endpoints_for(ref.domain, self._options)
        for mirror in mirrors:
            try:
                return await operation(mirror)
            except DigestMismatch:
                raise  # corrupt bytes are reported, not papered over by another source
            except RegistryError as exc:
                log.info("%s; trying the next source", exc)
        return await operation(registry)

    async def _resolve_at(self, endpoint: Endpoint, ref: Reference) -> Resolved:
        call = Call(str(ref), endpoint)
        digest, manifest = await self._manifest(call, ref)
        if isinstance(manifest, Index):
            return Resolved(ref, digest, manifest.media_type, dict(manifest.platforms))
        platform = await self._platform(call, ref, manifest)
        return Resolved(ref, digest, manifest.media_type, {platform: digest})

    async def _head_at(self, endpoint: Endpoint, ref: Reference) -> str:
        call = Call(str(ref), endpoint)
        answer = await self._sender.send(
            call,
            "HEAD",
            self._path(call, ref, "manifests", _target(ref)),
            headers={"Accept": ACCEPT},
        )
        self._expect_found(call, answer)
        claimed = str(answer.headers.get("docker-content-digest", ""))
        if is_sha256(claimed) and (ref.digest is None or claimed == ref.digest):
            return claimed
        digest, _ = await self._manifest(call, ref)
        return digest

    async def _manifest(self, call: Call, ref: Reference) -> tuple[str, Index | ImageManifest]:
        """GET the manifest `ref` names; its sha256 digest and what it is, verified."""
        path = self._path(call, ref, "manifests", _target(ref))
        answer = await self._fetch(call, path, MANIFEST_LIMIT, headers={"Accept": ACCEPT})
        digest = sha256_of(answer.body)
        claimed = answer.headers.get("docker-content-digest")
        if claimed and not matches(claimed, answer.body):
            raise failures.digest_mismatch(
                call.ref, call.where, "a manifest", digest, claimed,
                "its Docker-Content-Digest header claimed",
            )  # fmt: skip
        if ref.digest is not None and not matches(ref.digest, answer.body):
            raise failures.digest_mismatch(
                call.ref, call.where, "a manifest", digest, ref.digest, "was asked for"
            )
        try:
            return digest, parse_manifest(answer.body, answer.headers.get("content-type"))
        except ManifestProblem as exc:
            raise failures.unsupported(call.ref, call.where, str(exc)) from None

    async def _platform(self, call: Call, ref: Reference, manifest: ImageManifest) -> str:
        """The platform of a single-platform image, from its config blob."""
        path = self._path(call, ref, "blobs", manifest.config_digest)
        answer = await self._fetch(call, path, CONFIG_LIMIT, follow_redirects=True)
        if not matches(manifest.config_digest, answer.body):
            raise failures.digest_mismatch(
                call.ref, call.where, "an image config", sha256_of(answer.body),
                manifest.config_digest, "its manifest names",
            )  # fmt: skip
        try:
            return platform_of_config(answer.body)
        except ManifestProblem as exc:
            raise failures.unsupported(call.ref, call.where, str(exc)) from None

    async def _fetch(
        self,
        call: Call,
        path: str,
        limit: int,
        *,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = False,
    ) -> Answer:
        answer = await self._sender.send(
            call, "GET", path, headers=headers, limit=limit, follow_redirects=follow_redirects
        )
        self._expect_found(call, answer)
        return answer

    def _expect_found(self, call: Call, answer: Answer) -> None:
        if answer.status == 404:
            raise failures.not_found(call.ref, call.where, call.login)
        if answer.status != 200:
            raise failures.unexpected(call.ref, call.where, answer.status, answer.body)

    @staticmethod
    def _path(call: Call, ref: Reference, kind: str, target: str) -> str:
        return f"/v2/{call.endpoint.repository(ref.path)}/{kind}/{target}"


def _target(ref: Reference) -> str:
    """What to ask for: the digest when the reference has one (it wins over a tag)."""
    return ref.digest or ref.effective_tag or "latest"


def _check_pin(ref: Reference) -> None:
    if ref.digest is not None and not is_sha256(ref.digest):
        raise failures.unsupported(
            str(ref), ref.domain,
            "is pinned to a non-SHA-256 digest; imagelock locks sha256 digests only",
        )  # fmt: skip
