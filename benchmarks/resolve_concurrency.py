"""How much faster is resolving many tags with imagelock than one after another?

Starts a real distribution registry (`docker-registry`) on loopback, uploads one tiny image
(config, layer, manifest: no Docker engine needed) and tags it N times, then puts a proxy in
front that adds a fixed delay to each manifest request, standing in for a network round trip
(loopback has none); the proxy runs in a process of its own. Both runs happen here, one
after the other, against the same registry:

- sequential: one client, `await client.resolve(ref)` for each reference in turn;
- imagelock: `resolve_many`, concurrent within `--max-per-host`.

Run from the repository root: `.venv/bin/python -m benchmarks.resolve_concurrency -n 100`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from imagelock.reference import Reference, parse_reference
from imagelock.registry import RegistryClient, RegistryOptions, Resolved, resolve_many
from tests.support.registry import RegistryProcess

REPO = "bench/base"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _upload_blob(client: httpx.Client, data: bytes) -> str:
    digest = _digest(data)
    start = client.post(f"/v2/{REPO}/blobs/uploads/")
    start.raise_for_status()
    location = httpx.URL(start.headers["Location"])  # keeps the upload's own query
    done = client.put(
        location.copy_add_param("digest", digest), content=data,
        headers={"Content-Type": "application/octet-stream"},
    )  # fmt: skip
    done.raise_for_status()
    return digest


def seed(registry_url: str, tags: int) -> None:
    """One single-platform image under `tags` tags."""
    config = json.dumps(
        {"os": "linux", "architecture": "amd64", "rootfs": {"type": "layers", "diff_ids": []}}
    ).encode()
    layer = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    with httpx.Client(base_url=registry_url, timeout=30) as client:
        config_digest = _upload_blob(client, config)
        layer_digest = _upload_blob(client, layer)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config_digest, "size": len(config),
                },
                "layers": [
                    {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                     "digest": layer_digest, "size": len(layer)}
                ],
            }
        ).encode()  # fmt: skip
        for n in range(tags):
            client.put(
                f"/v2/{REPO}/manifests/t{n}", content=manifest,
                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            ).raise_for_status()  # fmt: skip


async def sequential(refs: list[Reference], options: RegistryOptions) -> list[Resolved]:
    async with RegistryClient(options) as client:
        return [await client.resolve(r) for r in refs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--tags", type=int, default=100, help="tags to resolve")
    parser.add_argument(
        "--latency", type=float, default=0.02, help="seconds added to each manifest request"
    )
    parser.add_argument("--max-per-host", type=int, default=8)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        registry = RegistryProcess(Path(tmp) / "registry").start()
        # The proxy runs in its own interpreter: in this one it would compete with the client
        # for the GIL and make the concurrent run look slower than it is.
        proxy = subprocess.Popen(
            [sys.executable, "-m", "tests.support.fault_proxy", registry.url,
             "--hold", str(args.latency)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            seed(registry.url, args.tags)
            assert proxy.stdout is not None
            proxy_host = proxy.stdout.readline().strip()
            refs = [parse_reference(f"{proxy_host}/{REPO}:t{n}") for n in range(args.tags)]
            options = RegistryOptions(
                docker_config=Path(tmp) / "docker-config", max_per_host=args.max_per_host
            )

            started = time.perf_counter()
            one_by_one = asyncio.run(sequential(refs, options))
            sequential_s = time.perf_counter() - started

            started = time.perf_counter()
            together = resolve_many(refs, options)
            concurrent_s = time.perf_counter() - started
        finally:
            proxy.communicate("")  # closing its stdin stops it
            registry.stop()

    failed = [r for r, o in together.items() if not isinstance(o, Resolved)]
    if failed or len(one_by_one) != args.tags:
        print(f"{len(failed)} references did not resolve: {together[failed[0]]}", file=sys.stderr)
        return 1
    print(f"tags resolved:        {args.tags} (added latency {args.latency * 1000:.0f} ms)")
    print(f"sequential:           {sequential_s:.2f} s")
    print(f"imagelock concurrent: {concurrent_s:.2f} s (at most {args.max_per_host} per host)")
    print(f"speed-up:             {sequential_s / concurrent_s:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
