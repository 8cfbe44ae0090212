"""Print, for each tag of an app pushed by the demo, which ruby base each platform sits on.

Reads the registry over HTTP: the app's per-platform layers start with the base's layers,
and the base's /etc/standin-release names its build.
"""

from __future__ import annotations

import json
import sys
import urllib.request

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def get(registry: str, repo: str, ref: str) -> dict:  # type: ignore[type-arg]
    req = urllib.request.Request(
        f"http://{registry}/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT}
    )
    with urllib.request.urlopen(req) as resp:
        return json.load(resp)  # type: ignore[no-any-return]


def platforms(index: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {
        f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"]
        for m in index["manifests"]
        if m.get("platform", {}).get("os") != "unknown"
    }


def main() -> None:
    registry, repo, *tags = sys.argv[1:]
    base_index = get(registry, "library/ruby", "3.3.0-slim")
    current = {
        p: get(registry, "library/ruby", d)["layers"] for p, d in platforms(base_index).items()
    }
    for tag in tags:
        for platform, digest in sorted(platforms(get(registry, repo, tag)).items()):
            layers = get(registry, repo, digest)["layers"]
            base = current[platform]
            on_current = layers[: len(base)] == base
            which = "the current ruby:3.3.0-slim" if on_current else "an earlier ruby:3.3.0-slim"
            print(f"{repo}:{tag}  {platform:<12} built on {which}")


if __name__ == "__main__":
    main()
