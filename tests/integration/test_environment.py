"""The test environment itself: a real two-platform build on a real registry.

If these fail, nothing else in tests/integration can be trusted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support.images import ImageFactory, RegistryHTTP, run
from tests.support.registry import RegistryProcess


def test_two_platform_build_from_a_pushed_base_lands_in_the_registry(
    images: ImageFactory,
    registry: RegistryProcess,
    registry_http: RegistryHTTP,
    repo: str,
    tmp_path: Path,
) -> None:
    base = images.push_base(repo, "1")
    assert set(base.platforms) == {"linux/amd64", "linux/arm64"}

    (tmp_path / "Dockerfile").write_text(f"FROM {base.reference}\nRUN uname -m > /arch\n")
    app = f"{registry.host}/{repo}-app:1"
    run(["docker", "buildx", "build", "--platform", "linux/amd64,linux/arm64",
         "--tag", app, "--push", str(tmp_path)])  # fmt: skip

    _, index = registry_http.manifest(f"{repo}-app", "1")
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    platforms = registry_http.platforms(f"{repo}-app", "1")
    assert set(platforms) == {"linux/amd64", "linux/arm64"}
    # Each platform's image really is that platform, and sits on the base's layers.
    for key, digest in platforms.items():
        config = registry_http.config(f"{repo}-app", digest)
        assert f"{config['os']}/{config['architecture']}" == key
        base_layers = registry_http.layers(repo, base.platforms[key])
        assert registry_http.layers(f"{repo}-app", digest)[: len(base_layers)] == base_layers


def test_repush_moves_the_tag_to_new_content(images: ImageFactory, repo: str) -> None:
    first = images.push_base(repo, "stable")
    second = images.repush(repo, "stable")
    assert first.digest != second.digest
    assert set(first.platforms) == set(second.platforms)
    assert all(first.platforms[p] != second.platforms[p] for p in first.platforms)


def test_single_platform_push_is_a_plain_manifest(images: ImageFactory, repo: str) -> None:
    single = images.push_single(repo, "arm", platform="linux/arm64")
    assert single.media_type == "application/vnd.docker.distribution.manifest.v2+json"
    assert single.platforms == {"linux/arm64": single.digest}


def test_extra_registries_have_their_own_port_and_storage(
    start_registry: Callable[..., RegistryProcess], images: ImageFactory, repo: str
) -> None:
    images.push_base(repo, "1")
    other = start_registry()
    assert str(other.port) != images.host.rsplit(":", 1)[1]
    assert httpx.get(f"{other.url}/v2/{repo}/manifests/1").status_code == 404
