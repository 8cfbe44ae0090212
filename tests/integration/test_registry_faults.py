"""Integrity and robustness: a fault-injecting proxy between the client and the real registry
corrupts bodies, drops connections and answers 429 or 5xx; the client must refuse corrupt
bytes, retry what may pass (within its bounds) and end every failure in one clear error."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagelock.errors import (
    DigestMismatch,
    NotFound,
    RateLimited,
    RegistryUnreachable,
)
from imagelock.registry import RegistryClient, RegistryOptions, Resolved
from tests.support.fault_proxy import FaultProxy
from tests.support.images import ImageFactory, PushedImage
from tests.support.registry import RegistryProcess, free_port
from tests.support.resolving import options, ref, resolve_one, with_client

MANIFEST = r"/manifests/"
BLOB = r"/blobs/"


@pytest.fixture
def proxy(registry: RegistryProcess) -> Iterator[FaultProxy]:
    p = FaultProxy(registry.url).start()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def base(images: ImageFactory) -> PushedImage:
    """One two-platform index shared by the tests here (none of them changes it)."""
    return images.push_base(f"faults-{os.getpid()}/base", "1")


@pytest.fixture(scope="module")
def single(images: ImageFactory) -> PushedImage:
    return images.push_single(f"faults-{os.getpid()}/single", "1")


@pytest.fixture
def opts(tmp_path: Path) -> RegistryOptions:
    return options(tmp_path / "docker-config")


def via(proxy: FaultProxy, image: PushedImage) -> str:
    """The image's reference with the proxy as its registry."""
    return proxy.host + "/" + image.reference.split("/", 1)[1]


def pinned_via(proxy: FaultProxy, image: PushedImage) -> str:
    return proxy.host + "/" + image.pinned.split("/", 1)[1]


def test_corrupt_manifest_body_is_a_digest_mismatch_naming_the_registry(
    base: PushedImage, proxy: FaultProxy, opts: RegistryOptions
) -> None:
    image = base
    proxy.add("corrupt", MANIFEST, method="GET")

    outcome = resolve_one(via(proxy, image), opts)

    assert isinstance(outcome, DigestMismatch), outcome
    message = str(outcome)
    assert proxy.host in message
    assert image.digest in message  # what the registry claimed
    assert "Docker-Content-Digest" in message
    assert len(proxy.requests("GET", MANIFEST)) == 1  # corrupt bytes are not retried away


def test_body_not_matching_the_digest_asked_for_is_refused(
    base: PushedImage, proxy: FaultProxy, opts: RegistryOptions
) -> None:
    """Without a digest header to compare with, the pinned digest alone catches corruption."""
    image = base
    fault = proxy.add("corrupt", MANIFEST, method="GET", strip_digest=True)

    outcome = resolve_one(pinned_via(proxy, image), opts)

    assert fault.applied == 1
    assert isinstance(outcome, DigestMismatch), outcome
    assert image.digest in str(outcome) and "asked for" in str(outcome)


def test_corrupt_config_blob_is_refused(
    single: PushedImage, proxy: FaultProxy, opts: RegistryOptions
) -> None:
    image = single
    proxy.add("corrupt", BLOB, method="GET")

    outcome = resolve_one(via(proxy, image), opts)

    assert isinstance(outcome, DigestMismatch), outcome
    assert "image config" in str(outcome)
    assert proxy.host in str(outcome)


def test_head_without_digest_header_falls_back_to_get_and_hashing(
    base: PushedImage, proxy: FaultProxy, opts: RegistryOptions
) -> None:
    image = base
    proxy.add("strip-digest", MANIFEST, method="HEAD")
    target = ref(via(proxy, image))

    async def work(client: RegistryClient) -> str:
        return await client.head_digest(target)

    assert with_client(opts, work) == image.digest
    assert [s.method for s in proxy.requests(path=MANIFEST)] == ["HEAD", "GET"]


def test_dropped_connections_are_retried(
    base: PushedImage, proxy: FaultProxy, opts: RegistryOptions
) -> None:
    image = base
    proxy.add("drop", MANIFEST, times=2)

    outcome = resolve_one(via(proxy, image), opts)

    assert isinstance(outcome, Resolved), outcome
    assert outcome.digest == image.digest
    assert [s.status for s in proxy.requests("GET", MANIFEST)] == [0, 0, 200]


def test_server_errors_are_retried_then_succeed(
    single: PushedImage, proxy: FaultProxy, opts: RegistryOptions
) -> None:
    image = single
    proxy.add("status", MANIFEST, status=503, times=2)
    proxy.add("status", BLOB, status=500, times=1)

    outcome = resolve_one(via(proxy, image), opts)

    assert isinstance(outcome, Resolved), outcome
    assert [s.status for s in proxy.requests("GET", MANIFEST)] == [503, 503, 200]
    assert [s.status for s in proxy.requests("GET", BLOB)] == [500, 200]


def test_429_waits_as_long_as_retry_after_says(
    base: PushedImage, proxy: FaultProxy, opts: RegistryOptions
) -> None:
    image = base
    proxy.add("status", MANIFEST, status=429, retry_after="1")

    outcome = resolve_one(via(proxy, image), opts)

    assert isinstance(outcome, Resolved), outcome
    limited, ok = proxy.requests("GET", MANIFEST)
    assert (limited.status, ok.status) == (429, 200)
    # The backoff alone would be ~10 ms; only Retry-After explains a wait of a second.
    assert ok.at - limited.at >= 0.9


def test_persistent_429_ends_in_rate_limited_after_bounded_attempts(
    base: PushedImage, proxy: FaultProxy, tmp_path: Path
) -> None:
    image = base
    proxy.add("status", MANIFEST, status=429, times=None)
    opts = options(tmp_path / "cfg", retries=2)

    outcome = resolve_one(via(proxy, image), opts)

    assert isinstance(outcome, RateLimited), outcome
    message = str(outcome)
    assert "rate limit" in message and proxy.host in message
    assert "docker login" in message
    assert "3 attempts" in message
    assert len(proxy.requests("GET", MANIFEST)) == 3


def test_retry_after_beyond_the_retry_budget_gives_up_at_once(
    base: PushedImage, proxy: FaultProxy, tmp_path: Path
) -> None:
    image = base
    proxy.add("status", MANIFEST, status=429, retry_after="3600", times=None)
    opts = options(tmp_path / "cfg", retry_budget=5.0)
    started = time.monotonic()

    outcome = resolve_one(via(proxy, image), opts)

    assert isinstance(outcome, RateLimited), outcome
    assert len(proxy.requests("GET", MANIFEST)) == 1
    assert time.monotonic() - started < 5


def test_persistent_500_ends_in_one_clear_error(
    base: PushedImage, proxy: FaultProxy, tmp_path: Path
) -> None:
    image = base
    proxy.add("status", MANIFEST, status=500, times=None)
    opts = options(tmp_path / "cfg", retries=3)

    outcome = resolve_one(via(proxy, image), opts)

    assert isinstance(outcome, RegistryUnreachable), outcome
    assert "HTTP 500" in str(outcome) and "4 attempts" in str(outcome)
    assert len(proxy.requests("GET", MANIFEST)) == 4


def test_not_found_is_not_retried(proxy: FaultProxy, repo: str, opts: RegistryOptions) -> None:
    outcome = resolve_one(f"{proxy.host}/{repo}:nothing", opts)

    assert isinstance(outcome, NotFound), outcome
    assert len(proxy.requests("GET", MANIFEST)) == 1


def test_slow_answer_times_out_and_the_retry_succeeds(
    base: PushedImage, proxy: FaultProxy, tmp_path: Path
) -> None:
    image = base
    held = proxy.add("hold", MANIFEST, seconds=1.5)
    opts = options(tmp_path / "cfg", timeout=0.5)

    outcome = resolve_one(via(proxy, image), opts)

    assert isinstance(outcome, Resolved), outcome
    assert held.applied == 1  # the first attempt was abandoned, the second one answered
    assert [s.fault for s in proxy.requests("GET", MANIFEST)][-1] is None


def test_an_answer_that_never_comes_is_a_bounded_timeout_error(
    base: PushedImage, proxy: FaultProxy, tmp_path: Path
) -> None:
    image = base
    proxy.add("hold", MANIFEST, seconds=2.0, times=None)
    opts = options(tmp_path / "cfg", timeout=0.3, retries=1)
    started = time.monotonic()

    outcome = resolve_one(via(proxy, image), opts)

    assert isinstance(outcome, RegistryUnreachable), outcome
    assert "2 attempts" in str(outcome)
    assert time.monotonic() - started < 2.0


def test_unreachable_registry_is_one_clear_error(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    opts = options(tmp_path / "cfg", retries=2)

    outcome = resolve_one(f"127.0.0.1:{port}/some/image:1", opts)

    assert isinstance(outcome, RegistryUnreachable), outcome
    message = str(outcome)
    assert f"127.0.0.1:{port}" in message and "cannot reach" in message
    assert "3 attempts" in message
    assert "\n" not in message


def test_connection_refused_then_accepted_is_retried(
    base: PushedImage, registry: RegistryProcess, tmp_path: Path
) -> None:
    """A proxy that starts listening only after the first attempt failed."""
    image = base
    late = FaultProxy(registry.url, port=free_port())
    opts = options(tmp_path / "cfg", retries=6, backoff=0.2)
    starter = threading.Timer(0.3, late.start)
    starter.start()
    try:
        outcome = resolve_one(f"127.0.0.1:{late.port}/" + image.reference.split("/", 1)[1], opts)
    finally:
        starter.join()
        late.stop()

    assert isinstance(outcome, Resolved), outcome
    assert outcome.digest == image.digest
