"""Mirrors (pull-through caches with a path prefix) and concurrency, against the real registry
behind a loopback proxy: the proxy plays the mirror, and counts requests in flight."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagelock.errors import DigestMismatch
from imagelock.registry import Resolved, resolve_many
from tests.support.fault_proxy import FaultProxy
from tests.support.images import ImageFactory, PushedImage, RegistryHTTP
from tests.support.registry import RegistryProcess, free_port
from tests.support.resolving import options, ref, resolve_one

PREFIX = "hub-cache"


@pytest.fixture(scope="module")
def image(images: ImageFactory) -> PushedImage:
    return images.push_base(f"mirrors-{os.getpid()}/base", "1")


@pytest.fixture
def mirror(registry: RegistryProcess) -> Iterator[FaultProxy]:
    proxy = FaultProxy(registry.url, prefix=PREFIX).start()
    yield proxy
    proxy.stop()


def test_mirror_with_path_prefix_answers_and_the_name_stays_canonical(
    image: PushedImage, mirror: FaultProxy, registry: RegistryProcess, tmp_path: Path
) -> None:
    opts = options(tmp_path / "cfg", mirrors={registry.host: [mirror.url]})
    repo = image.reference.split("/", 1)[1].rsplit(":", 1)[0]

    result = resolve_one(image.reference, opts)

    assert isinstance(result, Resolved), result
    assert result.digest == image.digest
    assert result.reference == ref(image.reference)  # the registry's name, not the mirror's
    assert [s.path for s in mirror.requests("GET")] == [f"/v2/{PREFIX}/{repo}/manifests/1"]


def test_failing_mirror_falls_back_to_the_registry(
    image: PushedImage, mirror: FaultProxy, registry: RegistryProcess, tmp_path: Path
) -> None:
    mirror.add("status", "/manifests/", status=503, times=None)
    opts = options(tmp_path / "cfg", mirrors={registry.host: [mirror.url]}, retries=1)
    before = len(registry.access_log())

    result = resolve_one(image.reference, opts)

    assert isinstance(result, Resolved), result
    assert result.digest == image.digest
    assert len(mirror.requests("GET", "/manifests/")) == 2  # tried, retried, given up
    assert registry.access_log()[before:][-1].endswith("/manifests/1")


def test_unreachable_mirror_and_mirror_without_the_image_fall_back(
    image: PushedImage, registry: RegistryProcess, start_registry: object, tmp_path: Path
) -> None:
    assert callable(start_registry)
    empty: RegistryProcess = start_registry()
    down = f"http://127.0.0.1:{free_port()}/nothing-listens"
    opts = options(
        tmp_path / "cfg", mirrors={registry.host: [down, f"{empty.url}/cache"]}, retries=1
    )

    result = resolve_one(image.reference, opts)

    assert isinstance(result, Resolved), result
    assert result.digest == image.digest
    assert empty.access_log() != []  # the second mirror was asked (and had nothing)


def test_corrupting_mirror_is_an_error_not_a_fallback(
    image: PushedImage, mirror: FaultProxy, registry: RegistryProcess, tmp_path: Path
) -> None:
    mirror.add("corrupt", "/manifests/", method="GET")
    opts = options(tmp_path / "cfg", mirrors={registry.host: [mirror.url]})

    outcome = resolve_one(image.reference, opts)

    assert isinstance(outcome, DigestMismatch), outcome
    assert f"mirror {mirror.url}" in str(outcome)


# --- Concurrency -----------------------------------------------------------------------------

TAGS = 80


@pytest.fixture(scope="module")
def many_tags(image: PushedImage, registry_http: RegistryHTTP) -> list[str]:
    """TAGS tags of one repository, all naming the same index (each PUT is one small request)."""
    name = image.reference.rsplit(":", 1)[0]
    repo = name.split("/", 1)[1]
    _, index = registry_http.manifest(repo, "1")
    for n in range(TAGS):
        registry_http.put_manifest(repo, f"v{n}", index)
    return [f"{repo}:v{n}" for n in range(TAGS)]


@pytest.fixture
def slow_proxy(registry: RegistryProcess) -> Iterator[FaultProxy]:
    """The registry with 50 ms added to every manifest request, so requests overlap visibly."""
    proxy = FaultProxy(registry.url).start()
    proxy.add("hold", "/manifests/", seconds=0.05, times=None)
    yield proxy
    proxy.stop()


@pytest.mark.parametrize("max_per_host", [8, 3])
def test_many_tags_are_resolved_concurrently_within_the_per_host_bound(
    many_tags: list[str], image: PushedImage, slow_proxy: FaultProxy, tmp_path: Path,
    max_per_host: int,
) -> None:  # fmt: skip
    refs = [ref(f"{slow_proxy.host}/{path}") for path in many_tags]

    out = resolve_many(refs, options(tmp_path / "cfg", max_per_host=max_per_host))

    assert all(isinstance(o, Resolved) and o.digest == image.digest for o in out.values())
    assert len(slow_proxy.requests("GET", "/manifests/")) == TAGS
    assert slow_proxy.peak_in_flight == max_per_host  # concurrent, and never more than allowed
    assert slow_proxy.peak_connections <= max_per_host + 1  # (+1: the scheme probe)


def test_one_per_host_means_one_request_at_a_time(
    many_tags: list[str], slow_proxy: FaultProxy, tmp_path: Path
) -> None:
    refs = [ref(f"{slow_proxy.host}/{path}") for path in many_tags[:10]]

    out = resolve_many(refs, options(tmp_path / "cfg", max_per_host=1))

    assert all(isinstance(o, Resolved) for o in out.values())
    assert slow_proxy.peak_in_flight == 1
