"""Pure protocol details of the registry client that the real registry cannot produce (schema 1
bodies, a wrong Content-Type, oversized answers), with httpx.MockTransport; and the pure parts:
manifests, challenges, retry timing, credentials, hosts and options. Everything a real
registry can show is tested against one in tests/integration/test_registry*.py."""

from __future__ import annotations

import base64
import json
import random
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from imagelock.errors import ConfigError, DigestMismatch, RegistryError, UnsupportedManifest
from imagelock.registry import RegistryOptions, Resolved, parse_mirror, resolve_many
from imagelock.registry.challenge import find, parse_challenges
from imagelock.registry.credentials import Credentials, DockerConfig
from imagelock.registry.digests import is_sha256, matches, sha256_of
from imagelock.registry.endpoints import endpoints_for
from imagelock.registry.hosts import credentials_key, is_loopback, normalize_host
from imagelock.registry.manifest import (
    ImageManifest,
    Index,
    ManifestProblem,
    parse_manifest,
    platform_of_config,
)
from imagelock.registry.mediatypes import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
)
from imagelock.registry.options import mirrors_from_env
from imagelock.registry.retry import backoff_delay, is_retryable_status, retry_after_seconds
from tests.support.resolving import fake_credential_helper, path_with, ref

D1, D2, D3, D4 = (f"sha256:{c * 64}" for c in "1234")

# --- manifests -------------------------------------------------------------------------------


def index(media_type: str | None = OCI_INDEX, **extra: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": D1,
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": OCI_MANIFEST, "digest": D2,
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"mediaType": OCI_MANIFEST, "digest": D3,
             "platform": {"os": "unknown", "architecture": "unknown"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest"}},
            {"mediaType": OCI_MANIFEST, "digest": D4,
             "platform": {"os": "linux", "architecture": "amd64"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest"}},
        ],
        **extra,
    }  # fmt: skip
    if media_type:
        doc["mediaType"] = media_type
    return doc


def manifest(media_type: str = OCI_MANIFEST, config_type: str | None = None) -> dict[str, object]:
    return {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config_type or "application/vnd.oci.image.config.v1+json",
                   "digest": D1, "size": 1},
        "layers": [],
    }  # fmt: skip


@pytest.mark.parametrize("media_type", [OCI_INDEX, DOCKER_MANIFEST_LIST])
def test_index_platforms_leave_attestations_out(media_type: str) -> None:
    parsed = parse_manifest(json.dumps(index(media_type)).encode(), media_type)

    assert parsed == Index(media_type, {"linux/amd64": D1, "linux/arm64/v8": D2})


@pytest.mark.parametrize("media_type", [OCI_MANIFEST, DOCKER_MANIFEST])
def test_image_manifest_names_its_config(media_type: str) -> None:
    config_type = "application/vnd.docker.container.image.v1+json"
    parsed = parse_manifest(json.dumps(manifest(media_type, config_type)).encode(), media_type)

    assert parsed == ImageManifest(media_type, D1)


def test_kind_comes_from_the_body_when_content_type_is_wrong() -> None:
    body = json.dumps(index(OCI_INDEX)).encode()

    assert isinstance(parse_manifest(body, "application/octet-stream"), Index)
    assert isinstance(parse_manifest(json.dumps(index(None)).encode(), "text/plain"), Index)


@pytest.mark.parametrize(
    "body",
    [
        {"schemaVersion": 1, "name": "x", "tag": "1", "fsLayers": []},
        {"schemaVersion": 1, "mediaType": "application/vnd.docker.distribution.manifest.v1+json"},
    ],
)
def test_schema_1_is_refused_with_a_clear_message(body: dict[str, object]) -> None:
    with pytest.raises(ManifestProblem, match="schema 1"):
        parse_manifest(json.dumps(body).encode(), "application/json")


def test_artifacts_and_garbage_are_refused() -> None:
    with pytest.raises(ManifestProblem, match="artifact"):
        parse_manifest(
            json.dumps(manifest(config_type="application/vnd.cncf.helm.config")).encode(), None
        )
    with pytest.raises(ManifestProblem, match="not JSON"):
        parse_manifest(b"<html>", "text/html")
    sha512 = index()
    sha512["manifests"] = [
        {"digest": "sha512:" + "a" * 128, "platform": {"os": "linux", "architecture": "amd64"}}
    ]  # type: ignore[index]
    with pytest.raises(ManifestProblem, match="sha256"):
        parse_manifest(json.dumps(sha512).encode(), OCI_INDEX)


def test_platform_of_config_keeps_the_variant() -> None:
    config = {"os": "linux", "architecture": "arm", "variant": "v7", "config": {}}
    assert platform_of_config(json.dumps(config).encode()) == "linux/arm/v7"
    with pytest.raises(ManifestProblem):
        platform_of_config(b'{"architecture": "amd64"}')


# --- digests ---------------------------------------------------------------------------------


def test_digests() -> None:
    body = b"hello"
    digest = sha256_of(body)
    assert is_sha256(digest) and matches(digest, body)
    assert not matches(digest, b"hellO")
    assert not is_sha256("sha512:" + "a" * 128) and not is_sha256("sha256:ABC")
    assert not matches("md5:5d41402abc4b2a76b9719d911017c592", body)


# --- the client over MockTransport: what no real registry here sends --------------------------


def serve(body: bytes, content_type: str, digest: str | None = None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Type": content_type}
        if digest is not None:
            headers["Docker-Content-Digest"] = digest
        if request.url.path == "/v2/":
            return httpx.Response(200)
        return httpx.Response(200, content=body, headers=headers)

    return httpx.MockTransport(handler)


def resolve_via(transport: httpx.MockTransport, tmp_path: Path, text: str = "") -> object:
    target = ref(text or "registry.example.com/team/app:1")
    opts = RegistryOptions(docker_config=tmp_path, retries=0, backoff=0.0)
    return resolve_many([target], opts, transport=transport)[target]


def test_schema_1_answer_is_refused_naming_the_registry(tmp_path: Path) -> None:
    body = json.dumps({"schemaVersion": 1, "name": "team/app", "fsLayers": []}).encode()
    transport = serve(body, "application/vnd.docker.distribution.manifest.v1+prettyjws")

    outcome = resolve_via(transport, tmp_path)

    assert isinstance(outcome, UnsupportedManifest)
    assert "registry.example.com" in str(outcome) and "schema 1" in str(outcome)


def test_index_sent_as_octet_stream_still_resolves(tmp_path: Path) -> None:
    body = json.dumps(index(OCI_INDEX)).encode()

    outcome = resolve_via(serve(body, "application/octet-stream", sha256_of(body)), tmp_path)

    assert isinstance(outcome, Resolved)
    assert outcome.media_type == OCI_INDEX and outcome.digest == sha256_of(body)


def test_digest_header_not_matching_the_body_is_refused(tmp_path: Path) -> None:
    body = json.dumps(index(OCI_INDEX)).encode()

    outcome = resolve_via(serve(body, OCI_INDEX, D4), tmp_path)

    assert isinstance(outcome, DigestMismatch)
    assert "registry.example.com" in str(outcome)


def test_oversized_manifest_is_refused(tmp_path: Path) -> None:
    outcome = resolve_via(serve(b" " * (5 * 1024 * 1024), OCI_INDEX), tmp_path)

    assert isinstance(outcome, UnsupportedManifest) and "larger than" in str(outcome)


def test_docker_hub_is_asked_at_its_api_host_and_keeps_its_name(tmp_path: Path) -> None:
    body = json.dumps(index(OCI_INDEX)).encode()
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.scheme}://{request.url.host}{request.url.path}")
        return httpx.Response(200, content=body, headers={"Content-Type": OCI_INDEX})

    outcome = resolve_via(httpx.MockTransport(handler), tmp_path, "ruby:3.3")

    assert isinstance(outcome, Resolved) and outcome.reference == ref("docker.io/library/ruby:3.3")
    assert seen == ["https://registry-1.docker.io/v2/library/ruby/manifests/3.3"]


def test_a_redirect_loop_on_a_config_blob_is_one_registry_error(tmp_path: Path) -> None:
    body = json.dumps(manifest(OCI_MANIFEST)).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        if "/blobs/" in request.url.path:
            return httpx.Response(307, headers={"Location": str(request.url)})
        return httpx.Response(200, content=body, headers={"Content-Type": OCI_MANIFEST})

    outcome = resolve_via(httpx.MockTransport(handler), tmp_path)

    assert isinstance(outcome, RegistryError) and "redirect" in str(outcome).lower()
    assert "registry.example.com" in str(outcome)


def test_an_oversized_token_answer_on_a_head_is_one_registry_error(tmp_path: Path) -> None:
    realm = "https://auth.example.com/token"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example.com":
            return httpx.Response(200, content=b"x" * (2 * 1024 * 1024))
        challenge = f'Bearer realm="{realm}",service="reg",scope="repository:team/app:pull"'
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})

    target = ref("registry.example.com/team/app:1")
    opts = RegistryOptions(docker_config=tmp_path, retries=0, backoff=0.0)
    outcome = resolve_many(
        [target], opts, known={target: D4}, transport=httpx.MockTransport(handler)
    )[target]

    assert isinstance(outcome, RegistryError) and "larger than" in str(outcome)


# --- challenges and retry timing -------------------------------------------------------------


def test_bearer_challenge_parameters_are_read_from_the_header() -> None:
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/ruby:pull",error="insufficient_scope"'
    )
    challenges = parse_challenges([header, 'Basic realm="x"'])
    bearer = find(challenges, "BEARER")

    assert bearer is not None and bearer.realm == "https://auth.docker.io/token"
    assert bearer.params["service"] == "registry.docker.io"
    assert bearer.scopes == ("repository:library/ruby:pull",)
    assert bearer.insufficient_scope
    assert find(challenges, "basic") is not None


def test_backoff_grows_is_jittered_and_capped() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(n, 0.5, rng) for n in range(12)]

    assert 0.25 <= delays[0] <= 0.5 and 0.5 <= delays[1] <= 1.0
    assert max(delays) <= 30.0
    assert len({round(d, 6) for d in delays[:4]}) == 4


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)

    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


@pytest.mark.parametrize(
    ("status", "retry"),
    [(429, True), (500, True), (503, True), (501, False), (404, False), (400, False)],
)
def test_which_statuses_are_retried(status: int, retry: bool) -> None:
    assert is_retryable_status(status) is retry


# --- credentials -----------------------------------------------------------------------------


def basic(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_docker_hub_credentials_under_the_index_v1_key(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"auths": {
        "https://index.docker.io/v1/": basic("hubuser", "hubpass"),
        "https://ghcr.io": basic("gh", "ghpass"),
        "registry.example.com:5000": {"username": "u", "password": "p"},
    }}))  # fmt: skip
    config = DockerConfig.load(tmp_path)

    hub = config.lookup("docker.io")
    assert hub is not None and (hub.username, hub.secret) == ("hubuser", "hubpass")
    assert config.lookup("index.docker.io") == hub
    ghcr = config.lookup("ghcr.io")
    assert ghcr is not None and ghcr.secret == "ghpass"
    assert config.lookup("registry.example.com:5000") is not None
    assert config.lookup("registry.example.com") is None


def test_helpers_are_asked_for_the_docker_hub_server_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "asked.log"
    fake_credential_helper(
        tmp_path / "bin", "hub", {"https://index.docker.io/v1/": ("<token>", "identity")}, log
    )
    monkeypatch.setenv("PATH", path_with(tmp_path / "bin"))
    (tmp_path / "config.json").write_text(json.dumps({"credHelpers": {"docker.io": "hub"}}))

    found = DockerConfig.load(tmp_path).lookup("docker.io")

    assert found == Credentials("", "identity", identity_token=True, source="docker-credential-hub")
    assert log.read_text().splitlines() == ["https://index.docker.io/v1/"]


def test_missing_helper_means_no_credentials_and_logs_no_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "config.json").write_text(json.dumps(
        {"credsStore": "does-not-exist-anywhere", "auths": {"x.io": basic("u", "fallback-pw")}}
    ))  # fmt: skip

    found = DockerConfig.load(tmp_path).lookup("x.io")

    assert found is not None and found.username == "u"  # auths after a missing store
    assert "fallback-pw" not in repr(found) and "fallback-pw" not in caplog.text


def test_broken_config_json_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        DockerConfig.load(tmp_path)


# --- hosts, mirrors, plain HTTP --------------------------------------------------------------


def test_hosts_and_credential_keys() -> None:
    assert normalize_host("https://Index.Docker.io/v1/") == "docker.io"
    assert credentials_key("registry-1.docker.io") == "https://index.docker.io/v1/"
    assert credentials_key("ghcr.io") == "ghcr.io"
    assert is_loopback("127.0.0.1:5000") and is_loopback("localhost") and is_loopback("[::1]:5")
    assert not is_loopback("10.0.0.1:5000")


def test_mirrors_parse_with_path_prefixes() -> None:
    assert parse_mirror("docker.io=harbor.example.com/dockerhub-proxy/") == (
        "docker.io", "https://harbor.example.com/dockerhub-proxy",
    )  # fmt: skip
    env = {"IMAGELOCK_MIRRORS": "index.docker.io=https://a.example, ghcr.io=https://b.example/p"}
    assert mirrors_from_env(env) == {
        "docker.io": ["https://a.example"], "ghcr.io": ["https://b.example/p"],
    }  # fmt: skip
    opts = RegistryOptions(mirrors={"docker.io": ["https://harbor.example.com/dockerhub-proxy"]})
    mirror, registry = endpoints_for("docker.io", opts)
    assert (mirror.host, mirror.prefix, mirror.repository("library/ruby")) == (
        "harbor.example.com", "dockerhub-proxy", "dockerhub-proxy/library/ruby",
    )  # fmt: skip
    assert (registry.host, registry.scheme) == ("registry-1.docker.io", "https")


def test_mirror_url_secrets_and_plain_http_are_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_mirror("docker.io=https://user:hunter2@mirror.example.com")
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ConfigError, match="plain HTTP"):
        RegistryOptions(mirrors={"docker.io": ["http://mirror.example.com"]})
    assert RegistryOptions(
        mirrors={"docker.io": ["http://mirror.example.com"]},
        insecure=frozenset({"mirror.example.com"}),
    ).mirrors_for("docker.io") == ("http://mirror.example.com",)


def test_only_loopback_and_insecure_hosts_may_use_plain_http() -> None:
    opts = RegistryOptions(insecure=frozenset({"reg.lan:5000"}))
    assert opts.allows_plain_http("127.0.0.1:5000") and opts.allows_plain_http("reg.lan:5000")
    assert not opts.allows_plain_http("ghcr.io")
    (endpoint,) = endpoints_for("ghcr.io", opts)
    assert endpoint.scheme == "https"


def test_registry_error_is_the_common_root() -> None:
    assert issubclass(DigestMismatch, RegistryError) and issubclass(
        UnsupportedManifest, RegistryError
    )
