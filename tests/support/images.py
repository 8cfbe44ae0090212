"""Real multi-arch base images, built offline from busybox-static and pushed with buildx.

`scripts/test-env.sh` prepares the root filesystems (bin/busybox plus applet links) for amd64
and arm64; each image gets a marker file so that two pushes of "the same" image differ, as an
upstream maintainer's re-push of a tag does.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOTFS_DIR = Path(os.environ.get("IMAGELOCK_TEST_CACHE", "/var/cache/imagelock-test")) / "rootfs"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
BASE_DOCKERFILE = """\
FROM scratch
ARG TARGETARCH
COPY rootfs/${TARGETARCH}/ /
COPY marker /etc/marker
"""


@dataclass(frozen=True)
class PushedImage:
    """What a push produced, read back from the registry (not from buildx's output)."""

    reference: str  # HOST:PORT/REPO:TAG
    digest: str  # the index digest (or the manifest digest for a single-platform push)
    media_type: str
    platforms: dict[str, str]  # "linux/amd64" -> manifest digest, attestations left out
    marker: str

    @property
    def pinned(self) -> str:
        return f"{self.reference.rsplit(':', 1)[0]}@{self.digest}"


def run(cmd: Sequence[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure raise with its output, so a broken fixture says why."""
    proc = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


class RegistryHTTP:
    """Plain reads of a test registry, to check what builds pushed (never imagelock's client)."""

    def __init__(self, base_url: str, verify: bool | str = True) -> None:
        self.base_url = base_url
        self.verify = verify

    def manifest(self, repo: str, ref: str) -> tuple[str, dict[str, Any]]:
        resp = httpx.get(
            f"{self.base_url}/v2/{repo}/manifests/{ref}",
            headers={"Accept": MANIFEST_TYPES, "User-Agent": "imagelock-tests"},
            verify=self.verify,
        )
        resp.raise_for_status()
        return resp.headers["Docker-Content-Digest"], resp.json()

    def platforms(self, repo: str, ref: str) -> dict[str, str]:
        """Per-platform manifest digests of an index (attestations left out)."""
        _, index = self.manifest(repo, ref)
        out = {}
        for m in index.get("manifests", []):
            p = m.get("platform", {})
            if p.get("os") == "unknown":
                continue
            key = "/".join(x for x in (p["os"], p["architecture"], p.get("variant")) if x)
            out[key] = m["digest"]
        return out

    def raw_manifest(self, repo: str, ref: str) -> bytes:
        resp = httpx.get(
            f"{self.base_url}/v2/{repo}/manifests/{ref}",
            headers={"Accept": MANIFEST_TYPES, "User-Agent": "imagelock-tests"},
            verify=self.verify,
        )
        resp.raise_for_status()
        return resp.content

    def put_manifest(self, repo: str, ref: str, manifest: dict[str, Any]) -> str:
        """PUT a manifest or index (as JSON) under REF; returns the digest the registry gives it."""
        resp = httpx.put(
            f"{self.base_url}/v2/{repo}/manifests/{ref}",
            content=json.dumps(manifest, indent=2).encode(),
            headers={"Content-Type": manifest["mediaType"], "User-Agent": "imagelock-tests"},
            verify=self.verify,
        )
        resp.raise_for_status()
        return resp.headers["Docker-Content-Digest"]

    def layers(self, repo: str, manifest_digest: str) -> list[str]:
        _, manifest = self.manifest(repo, manifest_digest)
        return [layer["digest"] for layer in manifest["layers"]]

    def config(self, repo: str, manifest_digest: str) -> dict[str, Any]:
        _, manifest = self.manifest(repo, manifest_digest)
        resp = httpx.get(
            f"{self.base_url}/v2/{repo}/blobs/{manifest['config']['digest']}",
            headers={"User-Agent": "imagelock-tests"},
            verify=self.verify,
            follow_redirects=True,
        )
        resp.raise_for_status()
        data: dict[str, Any] = resp.json()
        return data


class ImageFactory:
    """Builds and pushes real images to one registry, like an upstream maintainer would."""

    def __init__(self, registry_host: str, workdir: Path, http: RegistryHTTP) -> None:
        self.host = registry_host
        self.workdir = workdir
        self.http = http

    def push_base(
        self,
        repo: str,
        tag: str,
        *,
        platforms: Sequence[str] = ("linux/amd64", "linux/arm64"),
        marker: str | None = None,
        attestations: bool = True,
    ) -> PushedImage:
        """Build FROM scratch with a busybox shell and push it as REPO:TAG (an index)."""
        marker = marker or uuid.uuid4().hex
        ctx = self._context(marker)
        ref = f"{self.host}/{repo}:{tag}"
        cmd = ["docker", "buildx", "build", "--quiet", "--platform", ",".join(platforms)]
        if not attestations:
            cmd += ["--provenance=false", "--sbom=false"]
        run([*cmd, "--tag", ref, "--push", str(ctx)])
        return self.describe(repo, tag, marker)

    def repush(self, repo: str, tag: str, **kwargs: Any) -> PushedImage:
        """Push new content under an existing tag: the tag now names a new index digest."""
        return self.push_base(repo, tag, marker=uuid.uuid4().hex, **kwargs)

    def push_single(self, repo: str, tag: str, platform: str = "linux/amd64") -> PushedImage:
        """A single-platform image: a plain manifest, no index (no attestations)."""
        marker = uuid.uuid4().hex
        ref = f"{self.host}/{repo}:{tag}"
        run(
            [
                "docker", "buildx", "build", "--quiet", "--platform", platform,
                "--provenance=false", "--sbom=false", "--tag", ref, "--push",
                str(self._context(marker)),
            ]
        )  # fmt: skip
        return self.describe(repo, tag, marker)

    def repush_platform(self, repo: str, tag: str, platform: str) -> PushedImage:
        """Re-push TAG so that only PLATFORM's manifest changes (the seeds' arm64-only fix).

        A new single-platform image is pushed into the same repository, then the tag's index
        is edited to point at it for that platform and PUT back under the tag.
        """
        fresh = self.push_single(repo, f"{tag}-{uuid.uuid4().hex[:8]}", platform)
        _, index = self.http.manifest(repo, tag)
        _, manifest = self.http.manifest(repo, fresh.digest)
        for entry in index["manifests"]:
            p = entry.get("platform", {})
            key = "/".join(x for x in (p.get("os"), p.get("architecture"), p.get("variant")) if x)
            if key == platform:
                served = self.http.raw_manifest(repo, fresh.digest)
                entry.update(digest=fresh.digest, size=len(served), mediaType=manifest["mediaType"])
        self.http.put_manifest(repo, tag, index)
        return self.describe(repo, tag, fresh.marker)

    def respell(self, repo: str, tag: str, new_tag: str, variants: dict[str, str]) -> PushedImage:
        """Copy TAG's index to NEW_TAG with platform variants added, as Docker Hub writes them
        (`{"linux/arm64": "v8"}` makes the arm64 entry say variant v8)."""
        _, index = self.http.manifest(repo, tag)
        for entry in index["manifests"]:
            p = entry.get("platform", {})
            key = f"{p.get('os')}/{p.get('architecture')}"
            if key in variants:
                p["variant"] = variants[key]
        self.http.put_manifest(repo, new_tag, index)
        return self.describe(repo, new_tag)

    def describe(self, repo: str, tag: str, marker: str = "") -> PushedImage:
        digest, body = self.http.manifest(repo, tag)
        media_type = body["mediaType"]
        if "manifests" in body:
            platforms = self.http.platforms(repo, digest)
        else:
            cfg = self.http.config(repo, digest)
            key = "/".join(x for x in (cfg["os"], cfg["architecture"], cfg.get("variant")) if x)
            platforms = {key: digest}
        return PushedImage(f"{self.host}/{repo}:{tag}", digest, media_type, platforms, marker)

    def _context(self, marker: str) -> Path:
        ctx = self.workdir / f"ctx-{marker}"
        if not ctx.exists():
            ctx.mkdir(parents=True)
            run(["cp", "-a", str(ROOTFS_DIR), str(ctx / "rootfs")])
            (ctx / "marker").write_text(marker + "\n")
            (ctx / "Dockerfile").write_text(BASE_DOCKERFILE)
        return ctx
