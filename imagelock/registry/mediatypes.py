"""The manifest media types a registry may answer with, and what kind of manifest each is.

A registry picks the representation from the request's Accept header; distribution 2.8 answers
404 for an OCI index when the OCI index type is not accepted, so every manifest request offers
all four types imagelock can lock. Schema 1 is named only to be refused with a clear message.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_SCHEMA1: Final = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED: Final = "application/vnd.docker.distribution.manifest.v1+prettyjws"

OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG: Final = "application/vnd.docker.container.image.v1+json"

#: The Accept header of every manifest request, most preferred first.
ACCEPT: Final = ", ".join([OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST])

#: Config media types of runnable container images (others are artifacts: charts, signatures).
IMAGE_CONFIGS: Final = frozenset({OCI_CONFIG, DOCKER_CONFIG})


class Kind(Enum):
    """What a manifest body is, as far as locking cares."""

    INDEX = "index"  # a list of per-platform manifests
    MANIFEST = "manifest"  # one platform's image
    SCHEMA1 = "schema1"  # deprecated Docker format: refused
    UNKNOWN = "unknown"


_KINDS: Final[dict[str, Kind]] = {
    OCI_INDEX: Kind.INDEX,
    DOCKER_MANIFEST_LIST: Kind.INDEX,
    OCI_MANIFEST: Kind.MANIFEST,
    DOCKER_MANIFEST: Kind.MANIFEST,
    DOCKER_SCHEMA1: Kind.SCHEMA1,
    DOCKER_SCHEMA1_SIGNED: Kind.SCHEMA1,
}


def kind_of(media_type: str) -> Kind:
    """The kind of a media type; parameters (`; charset=utf-8`) and case are ignored."""
    return _KINDS.get(bare(media_type), Kind.UNKNOWN)


def bare(media_type: str) -> str:
    """A Content-Type without its parameters, lower case."""
    return media_type.split(";", 1)[0].strip().lower()


def is_manifest_type(media_type: str) -> bool:
    """Whether a Content-Type names a manifest format (schema 1 included, to refuse it)."""
    return kind_of(media_type) is not Kind.UNKNOWN
