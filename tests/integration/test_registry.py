"""The registry client against the real distribution registry: what a tag or digest resolves to,
for each manifest kind buildx and registries produce, and which requests that costs."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from imagelock.errors import NotFound, UnsupportedManifest
from imagelock.registry import RegistryClient, RegistryOptions, Resolved, Unchanged, resolve_many
from imagelock.registry.mediatypes import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX
from tests.support.images import ImageFactory, RegistryHTTP
from tests.support.registry import RegistryProcess
from tests.support.resolving import options, ref, resolve_one, resolved, with_client


@pytest.fixture
def opts(tmp_path: Path) -> RegistryOptions:
    return options(tmp_path / "docker-config")


def requests_since(registry: RegistryProcess, before: int) -> list[str]:
    return registry.access_log()[before:]


def test_tag_of_a_multi_platform_index_gives_index_and_platform_digests(
    images: ImageFactory, registry_http: RegistryHTTP, repo: str, opts: RegistryOptions
) -> None:
    pushed = images.push_base(repo, "1.0")
    _, index = registry_http.manifest(repo, "1.0")
    attestations = [m for m in index["manifests"] if m["platform"]["os"] == "unknown"]
    assert attestations, "buildx should have added attestation manifests to the index"

    result = resolved(pushed.reference, opts)

    assert result.digest == pushed.digest
    assert result.media_type == OCI_INDEX
    assert dict(result.platforms) == pushed.platforms
    assert set(result.platforms) == {"linux/amd64", "linux/arm64"}
    assert not {m["digest"] for m in attestations} & set(result.platforms.values())
    assert result.reference == ref(pushed.reference)


def test_digest_reference_resolves_to_that_digest(
    images: ImageFactory, registry: RegistryProcess, repo: str, opts: RegistryOptions
) -> None:
    pushed = images.push_base(repo, "pinned")
    before = len(registry.access_log())

    result = resolved(pushed.pinned, opts)

    assert result.digest == pushed.digest
    assert dict(result.platforms) == pushed.platforms
    assert requests_since(registry, before) == [f"GET /v2/{repo}/manifests/{pushed.digest}"]


def test_tag_and_digest_together_ask_for_the_digest(
    images: ImageFactory, registry: RegistryProcess, repo: str, opts: RegistryOptions
) -> None:
    old = images.push_base(repo, "moving")
    images.repush(repo, "moving")
    name = old.reference.rsplit(":", 1)[0]

    result = resolved(f"{name}:moving@{old.digest}", opts)

    assert result.digest == old.digest


def test_single_platform_manifest_reads_its_platform_from_the_config_blob(
    images: ImageFactory, registry: RegistryProcess, repo: str, opts: RegistryOptions
) -> None:
    pushed = images.push_single(repo, "arm", "linux/arm64")
    before = len(registry.access_log())

    result = resolved(pushed.reference, opts)

    assert result.digest == pushed.digest
    assert result.media_type == DOCKER_MANIFEST
    assert dict(result.platforms) == {"linux/arm64": pushed.digest}
    log = requests_since(registry, before)
    assert log[0] == f"GET /v2/{repo}/manifests/arm"
    assert log[1].startswith(f"GET /v2/{repo}/blobs/sha256:")
    assert len(log) == 2


def test_oci_manifest_of_one_platform_resolves_by_digest(
    images: ImageFactory, repo: str, opts: RegistryOptions
) -> None:
    pushed = images.push_base(repo, "multi")
    name = pushed.reference.rsplit(":", 1)[0]
    arm = pushed.platforms["linux/arm64"]

    result = resolved(f"{name}@{arm}", opts)

    assert result.media_type == "application/vnd.oci.image.manifest.v1+json"
    assert dict(result.platforms) == {"linux/arm64": arm}


def test_docker_manifest_list_is_accepted(
    images: ImageFactory, registry_http: RegistryHTTP, repo: str, opts: RegistryOptions
) -> None:
    pushed = images.push_base(repo, "oci", attestations=False)
    _, index = registry_http.manifest(repo, "oci")
    listing = copy.deepcopy(index)
    listing["mediaType"] = DOCKER_MANIFEST_LIST
    listing.pop("annotations", None)
    digest = registry_http.put_manifest(repo, "listed", listing)

    result = resolved(pushed.reference.replace(":oci", ":listed"), opts)

    assert result.digest == digest
    assert result.media_type == DOCKER_MANIFEST_LIST
    assert dict(result.platforms) == pushed.platforms


def test_tag_moved_upstream_resolves_to_the_new_index(
    images: ImageFactory, repo: str, opts: RegistryOptions
) -> None:
    old = images.push_base(repo, "3.3")
    new = images.repush(repo, "3.3")
    assert new.digest != old.digest

    result = resolved(old.reference, opts)

    assert result.digest == new.digest
    assert dict(result.platforms) == new.platforms


def test_head_digest_and_check_use_head_only(
    images: ImageFactory, registry: RegistryProcess, repo: str, opts: RegistryOptions
) -> None:
    pushed = images.push_base(repo, "stable")
    target = ref(pushed.reference)
    before = len(registry.access_log())

    async def work(client: RegistryClient) -> tuple[str, Resolved | Unchanged]:
        return await client.head_digest(target), await client.check(target, pushed.digest)

    digest, checked = with_client(opts, work)

    assert digest == pushed.digest
    assert checked == Unchanged(target, pushed.digest)
    assert requests_since(registry, before) == [f"HEAD /v2/{repo}/manifests/stable"] * 2


def test_check_of_a_moved_tag_fetches_the_new_manifest(
    images: ImageFactory, registry: RegistryProcess, repo: str, opts: RegistryOptions
) -> None:
    old = images.push_base(repo, "edge")
    new = images.repush(repo, "edge")
    target = ref(old.reference)
    before = len(registry.access_log())

    outcome = resolve_many([target], opts, known={target: old.digest})[target]

    assert isinstance(outcome, Resolved)
    assert outcome.digest == new.digest
    assert dict(outcome.platforms) == new.platforms
    assert requests_since(registry, before) == [
        f"HEAD /v2/{repo}/manifests/edge",
        f"GET /v2/{repo}/manifests/edge",
    ]


@pytest.mark.parametrize("what", ["tag", "repository", "digest"])
def test_missing_image_is_not_found_naming_the_registry(
    images: ImageFactory, registry: RegistryProcess, repo: str, opts: RegistryOptions, what: str
) -> None:
    pushed = images.push_single(repo, "present")
    name = pushed.reference.rsplit(":", 1)[0]
    text = {
        "tag": f"{name}:absent",
        "repository": f"{registry.host}/{repo}-nothing:1",
        "digest": f"{name}@sha256:{'0' * 64}",
    }[what]

    outcome = resolve_one(text, opts)

    assert isinstance(outcome, NotFound), outcome
    message = str(outcome)
    assert registry.host in message
    assert "not found" in message
    assert "\n" not in message


def test_non_sha256_pin_is_refused_before_any_request(
    registry: RegistryProcess, opts: RegistryOptions
) -> None:
    before = len(registry.access_log())

    outcome = resolve_one(f"{registry.host}/some/image@sha512:{'a' * 128}", opts)

    assert isinstance(outcome, UnsupportedManifest)
    assert "sha256" in str(outcome)
    assert requests_since(registry, before) == []


def test_resolve_many_reports_each_outcome_separately(
    images: ImageFactory, registry: RegistryProcess, repo: str, opts: RegistryOptions
) -> None:
    base = images.push_base(repo, "ok")
    single = images.push_single(f"{repo}-single", "ok")
    missing = ref(f"{registry.host}/{repo}:missing")
    refs = [ref(base.reference), ref(single.reference), missing, ref(base.reference)]
    progress: list[tuple[int, int]] = []

    out = resolve_many(refs, opts, progress=lambda done, total: progress.append((done, total)))

    assert set(out) == {refs[0], refs[1], missing}
    first, second = out[refs[0]], out[refs[1]]
    assert isinstance(first, Resolved) and first.digest == base.digest
    assert isinstance(second, Resolved) and second.digest == single.digest
    assert isinstance(out[missing], NotFound)
    assert sorted(progress) == [(1, 3), (2, 3), (3, 3)]
