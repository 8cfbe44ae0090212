"""Blob downloads that redirect to another host, as Docker Hub's CDN, ECR's S3 and GCR's GCS
do: the client follows the redirect and does not carry the registry's credentials there.

The real registry's `redirect` storage middleware sends blob GETs to a static file server on
another loopback port, which records the headers it was sent.
"""

from __future__ import annotations

import base64
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagelock.registry import Resolved
from tests.support.htpasswd import write_htpasswd
from tests.support.images import ImageFactory
from tests.support.registry import RegistryProcess
from tests.support.resolving import options, resolve_one, skopeo_copy, write_docker_config

USER, PASSWORD = "alice", "redirect-secret-do-not-forward"


class _RecordingHandler(http.server.SimpleHTTPRequestHandler):
    seen: list[tuple[str, str | None]]

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def blob_server(tmp_path: Path) -> Iterator[tuple[str, list[tuple[str, str | None]], Path]]:
    """A static file server for the registry's storage root (the 'CDN')."""
    root = tmp_path / "storage"
    root.mkdir()
    seen: list[tuple[str, str | None]] = []
    handler = type("Handler", (_RecordingHandler,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", seen, root
    server.shutdown()
    server.server_close()


def test_a_redirected_config_blob_is_fetched_without_the_registrys_credentials(
    images: ImageFactory,
    repo: str,
    tmp_path: Path,
    blob_server: tuple[str, list[tuple[str, str | None]], Path],
) -> None:
    base_url, seen, root = blob_server
    htpasswd = write_htpasswd(tmp_path / "htpasswd", {USER: PASSWORD})
    registry = RegistryProcess(
        tmp_path / "registry",
        storage={"filesystem": {"rootdirectory": str(root)}},
        auth={"htpasswd": {"realm": "imagelock-tests", "path": str(htpasswd)}},
    ).start()
    try:
        single = images.push_single(f"{repo}/single", "1", "linux/arm64")
        target = f"{registry.host}/{repo}/single:1"
        skopeo_copy(single.reference, target, dest_creds=f"{USER}:{PASSWORD}")
        # Blobs now go to the "CDN"; manifests stay on the registry.
        registry.middleware = {"storage": [{"name": "redirect", "options": {"baseurl": base_url}}]}
        registry.restart()

        config = tmp_path / "docker-config"
        auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        write_docker_config(config, {"auths": {registry.host: {"auth": auth}}})
        outcome = resolve_one(target, options(config))
    finally:
        registry.stop()

    assert isinstance(outcome, Resolved), outcome
    assert outcome.platforms == {"linux/arm64": single.digest}
    blob_gets = [(path, header) for path, header in seen if "/blobs/sha256/" in path]
    assert blob_gets, seen  # the config blob really came from the other host
    assert all(header is None for _, header in blob_gets), blob_gets
