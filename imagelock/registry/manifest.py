"""Reading manifest bodies: an index's per-platform digests, or an image manifest's config.

Pure functions over bytes already hashed and verified. The kind of a manifest comes from its
own `mediaType` field (part of the hashed bytes) when it states a known type, else from the
Content-Type header, else from its shape: some proxies send `application/octet-stream`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from imagelock.errors import InvalidPlatform
from imagelock.platform import from_oci
from imagelock.registry import mediatypes
from imagelock.registry.digests import is_sha256
from imagelock.registry.mediatypes import Kind

#: The annotation buildx and Docker Hub put on attestation manifests inside an index.
REFERENCE_TYPE_ANNOTATION = "vnd.docker.reference.type"


class ManifestProblem(Exception):
    """A body imagelock cannot lock; the client adds the registry and reference to the message."""


@dataclass(frozen=True)
class Index:
    """A multi-platform image: platform (as the index states it) -> manifest digest."""

    media_type: str
    platforms: Mapping[str, str]


@dataclass(frozen=True)
class ImageManifest:
    """A single-platform image; its platform is in the config blob."""

    media_type: str
    config_digest: str


def parse_manifest(body: bytes, content_type: str | None) -> Index | ImageManifest:
    """What a manifest body is; raises ManifestProblem for schema 1, artifacts and garbage."""
    document = _json_object(body, "manifest")
    media_type = _media_type(document, content_type)
    kind = mediatypes.kind_of(media_type)
    if kind is Kind.SCHEMA1:
        raise ManifestProblem(
            "is a Docker schema 1 manifest, a format Docker removed; it cannot be locked "
            "(ask its publisher to push it again with a current Docker or buildx)"
        )
    if kind is Kind.INDEX:
        return Index(media_type, _index_platforms(document))
    if kind is Kind.MANIFEST:
        return ImageManifest(media_type, _config_digest(document))
    raise ManifestProblem(f"has media type {media_type!r}, not an image index or manifest")


def platform_of_config(body: bytes) -> str:
    """The `os/arch[/variant]` an image config states (single-platform images)."""
    config = _json_object(body, "image config")
    if not isinstance(config.get("os"), str) or not isinstance(config.get("architecture"), str):
        raise ManifestProblem("has an image config without `os` and `architecture`")
    return _platform_text(config)


def is_attestation(entry: Mapping[str, Any]) -> bool:
    """Whether an index entry is an attestation (provenance, SBOM), not a platform's image."""
    platform = entry.get("platform")
    if isinstance(platform, Mapping) and "unknown" in (
        platform.get("os"),
        platform.get("architecture"),
    ):
        return True
    annotations = entry.get("annotations")
    return isinstance(annotations, Mapping) and REFERENCE_TYPE_ANNOTATION in annotations


def _json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ManifestProblem(f"sent a {what} that is not JSON") from None
    if not isinstance(document, dict):
        raise ManifestProblem(f"sent a {what} that is not a JSON object")
    return document


def _media_type(document: Mapping[str, Any], content_type: str | None) -> str:
    stated = document.get("mediaType")
    if isinstance(stated, str) and mediatypes.is_manifest_type(stated):
        return mediatypes.bare(stated)
    if content_type and mediatypes.is_manifest_type(content_type):
        return mediatypes.bare(content_type)
    if document.get("schemaVersion") == 1:
        return mediatypes.DOCKER_SCHEMA1
    if isinstance(stated, str) and stated:
        return stated
    if "manifests" in document:
        return mediatypes.OCI_INDEX
    if "config" in document and "layers" in document:
        return mediatypes.OCI_MANIFEST
    return content_type or "unknown"


def _index_platforms(document: Mapping[str, Any]) -> dict[str, str]:
    entries = document.get("manifests")
    if not isinstance(entries, list):
        raise ManifestProblem("has an index without a `manifests` list")
    platforms: dict[str, str] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise ManifestProblem("has an index entry that is not an object")
        platform = entry.get("platform")
        if is_attestation(entry) or not isinstance(platform, Mapping):
            continue
        if not isinstance(platform.get("os"), str) or not isinstance(
            platform.get("architecture"), str
        ):
            raise ManifestProblem("has an index entry whose platform lacks os or architecture")
        digest = entry.get("digest")
        if not isinstance(digest, str) or not is_sha256(digest):
            raise ManifestProblem(f"lists {digest!r}, not a sha256 digest imagelock can lock")
        # The first entry for a platform wins, as containerd's platform matching picks it.
        platforms.setdefault(_platform_text(platform), digest)
    return platforms


def _config_digest(document: Mapping[str, Any]) -> str:
    config = document.get("config")
    if not isinstance(config, Mapping) or not isinstance(config.get("digest"), str):
        raise ManifestProblem("has an image manifest without a config descriptor")
    config_type = config.get("mediaType")
    if (
        isinstance(config_type, str)
        and mediatypes.bare(config_type) not in mediatypes.IMAGE_CONFIGS
    ):
        raise ManifestProblem(
            f"is an artifact (config type {config_type!r}), not a container image"
        )
    digest: str = config["digest"]
    if not is_sha256(digest):
        raise ManifestProblem(f"names config {digest!r}, not a sha256 digest")
    return digest


def _platform_text(obj: Mapping[str, Any]) -> str:
    try:
        return str(from_oci(obj))
    except InvalidPlatform as exc:
        raise ManifestProblem(f"states an invalid platform: {exc}") from None
