"""Authentication and transport security against real registries: Basic (htpasswd) over TLS
with a test CA, the Bearer token flow with a token service whose JWTs the registry itself
verifies, credentials from config.json and credential helpers, and plain HTTP only where
allowed. Secrets must never show up in errors or logs."""

from __future__ import annotations

import base64
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagelock.errors import TLSFailure, Unauthorized
from imagelock.registry import RegistryClient, Resolved, resolve_many
from tests.support.fault_proxy import FaultProxy
from tests.support.htpasswd import write_htpasswd
from tests.support.images import ImageFactory, PushedImage
from tests.support.registry import RegistryProcess
from tests.support.resolving import (
    fake_credential_helper,
    options,
    path_with,
    ref,
    resolve_one,
    resolved,
    skopeo_copy,
    with_client,
    write_docker_config,
)
from tests.support.tls import KeyPair, issue_server_cert, make_ca
from tests.support.token_server import TokenServer

PASSWORD = "s3cret-Pa55word-do-not-print"
PUSHER = ("pusher", "pusher-password-xyz")
REFRESH_TOKEN = "refresh-token-do-not-print"


def auths_entry(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def assert_no_secret(*texts: str) -> None:
    encoded = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    for text in texts:
        for secret in (PASSWORD, encoded, REFRESH_TOKEN, "wrong-password-also-secret"):
            assert secret not in text


# --- Basic auth over TLS ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def tls_registry(
    test_env: None, ca: KeyPair, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RegistryProcess]:
    """A registry on https with a certificate from the test CA and htpasswd Basic auth."""
    work = tmp_path_factory.mktemp("tls-registry")
    server = issue_server_cert(ca, work / "cert")
    htpasswd = write_htpasswd(work / "htpasswd", {"alice": PASSWORD, PUSHER[0]: PUSHER[1]})
    reg = RegistryProcess(
        work / "registry",
        tls=(server.cert_path, server.key_path),
        ca_file=ca.cert_path,
        auth={"htpasswd": {"realm": "imagelock-tests", "path": str(htpasswd)}},
    ).start()
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def tls_image(images: ImageFactory, tls_registry: RegistryProcess) -> PushedImage:
    """A two-platform index copied (digests kept) into the TLS registry as private/base:1."""
    pushed = images.push_base(f"auth-{os.getpid()}/base", "1")
    destination = f"{tls_registry.host}/private/base:1"
    skopeo_copy(pushed.reference, destination, dest_creds=":".join(PUSHER))
    return PushedImage(destination, pushed.digest, pushed.media_type, pushed.platforms, "")


def test_basic_auth_over_tls_with_credentials_from_config_json(
    tls_registry: RegistryProcess, tls_image: PushedImage, ca: KeyPair, tmp_path: Path
) -> None:
    config = tmp_path / "cfg"
    # Keys are written as `docker login` and users do: with a scheme and a trailing path.
    write_docker_config(
        config, {"auths": {f"https://{tls_registry.host}/v2/": auths_entry("alice", PASSWORD)}}
    )

    result = resolved(tls_image.reference, options(config, ca_file=ca.cert_path))

    assert result.digest == tls_image.digest
    assert dict(result.platforms) == tls_image.platforms


def test_tls_is_verified_by_default(
    tls_registry: RegistryProcess, tls_image: PushedImage, tmp_path: Path
) -> None:
    config = tmp_path / "cfg"
    write_docker_config(config, {"auths": {tls_registry.host: auths_entry("alice", PASSWORD)}})
    before = len(tls_registry.access_log())

    outcome = resolve_one(tls_image.reference, options(config))

    assert isinstance(outcome, TLSFailure), outcome
    message = str(outcome)
    assert tls_registry.host in message and "--ca-file" in message
    assert "\n" not in message
    assert tls_registry.access_log()[before:] == []  # no request got through


def test_registry_without_credentials_says_how_to_log_in(
    tls_registry: RegistryProcess, tls_image: PushedImage, ca: KeyPair, tmp_path: Path
) -> None:
    outcome = resolve_one(tls_image.reference, options(tmp_path / "cfg", ca_file=ca.cert_path))

    assert isinstance(outcome, Unauthorized), outcome
    assert f"docker login {tls_registry.host}" in str(outcome)
    assert "anonymous" in str(outcome)


def test_refused_credentials_are_named_by_source_never_by_value(
    tls_registry: RegistryProcess,
    tls_image: PushedImage,
    ca: KeyPair,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = tmp_path / "cfg"
    path = write_docker_config(
        config,
        {"auths": {tls_registry.host: auths_entry("alice", "wrong-password-also-secret")}},
    )
    caplog.set_level(logging.DEBUG)

    outcome = resolve_one(tls_image.reference, options(config, ca_file=ca.cert_path))

    assert isinstance(outcome, Unauthorized), outcome
    assert str(path) in str(outcome)
    assert f"docker login {tls_registry.host}" in str(outcome)
    assert_no_secret(str(outcome), repr(outcome), caplog.text)


def test_successful_auth_logs_no_secret(
    tls_registry: RegistryProcess,
    tls_image: PushedImage,
    ca: KeyPair,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = tmp_path / "cfg"
    write_docker_config(config, {"auths": {tls_registry.host: auths_entry("alice", PASSWORD)}})
    caplog.set_level(logging.DEBUG)

    result = resolved(tls_image.reference, options(config, ca_file=ca.cert_path))

    assert result.digest == tls_image.digest
    assert caplog.text  # something was logged at debug level...
    assert_no_secret(caplog.text, repr(result))  # ...but no secret


def test_credential_helper_wins_over_auths(
    tls_registry: RegistryProcess,
    tls_image: PushedImage,
    ca: KeyPair,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = tmp_path / "helper.log"
    bin_dir = tmp_path / "bin"
    fake_credential_helper(bin_dir, "testhelper", {tls_registry.host: ("alice", PASSWORD)}, log)
    monkeypatch.setenv("PATH", path_with(bin_dir))
    config = tmp_path / "cfg"
    write_docker_config(
        config,
        {
            "auths": {tls_registry.host: auths_entry("alice", "wrong-password-also-secret")},
            "credHelpers": {tls_registry.host: "testhelper"},
        },
    )

    result = resolved(tls_image.reference, options(config, ca_file=ca.cert_path))

    assert result.digest == tls_image.digest
    assert log.read_text().splitlines() == [tls_registry.host]  # asked once, by server


def test_creds_store_is_used_for_every_registry(
    tls_registry: RegistryProcess,
    tls_image: PushedImage,
    ca: KeyPair,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = tmp_path / "helper.log"
    bin_dir = tmp_path / "bin"
    fake_credential_helper(bin_dir, "teststore", {tls_registry.host: ("alice", PASSWORD)}, log)
    monkeypatch.setenv("PATH", path_with(bin_dir))
    config = tmp_path / "cfg"
    write_docker_config(config, {"credsStore": "teststore"})

    result = resolved(tls_image.reference, options(config, ca_file=ca.cert_path))

    assert result.digest == tls_image.digest
    assert log.read_text().splitlines() == [tls_registry.host]


def test_helper_without_credentials_means_anonymous(
    tls_registry: RegistryProcess,
    tls_image: PushedImage,
    ca: KeyPair,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bin_dir = tmp_path / "bin"
    fake_credential_helper(bin_dir, "empty", {}, tmp_path / "helper.log")
    monkeypatch.setenv("PATH", path_with(bin_dir))
    config = tmp_path / "cfg"
    write_docker_config(config, {"credsStore": "empty"})

    outcome = resolve_one(tls_image.reference, options(config, ca_file=ca.cert_path))

    assert isinstance(outcome, Unauthorized), outcome
    assert "anonymous" in str(outcome)


# --- Plain HTTP only for loopback or insecure registries -------------------------------------


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.254", 9))  # UDP: no packet is sent, only a route chosen
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


@pytest.fixture
def lan_registry(registry: RegistryProcess) -> Iterator[FaultProxy]:
    """The session registry reached through a non-loopback address of this machine."""
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    proxy = FaultProxy(registry.url, bind=address).start()
    yield proxy
    proxy.stop()


def test_plain_http_is_refused_for_a_non_loopback_registry_unless_insecure(
    images: ImageFactory, lan_registry: FaultProxy, repo: str, tmp_path: Path
) -> None:
    pushed = images.push_single(repo, "1")
    text = f"{lan_registry.host}/{repo}:1"

    refused = resolve_one(text, options(tmp_path / "cfg", retries=1))
    assert isinstance(refused, TLSFailure), refused
    assert f"--insecure-registry {lan_registry.host}" in str(refused)
    assert lan_registry.requests() == []  # no plain-HTTP request was made

    allowed = resolve_one(text, options(tmp_path / "cfg", insecure=frozenset({lan_registry.host})))

    assert isinstance(allowed, Resolved), allowed
    assert allowed.digest == pushed.digest


# --- Bearer tokens ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    server = TokenServer(
        tmp_path_factory.mktemp("token"),
        users={"alice": PASSWORD, PUSHER[0]: PUSHER[1]},
        refresh_tokens={REFRESH_TOKEN: "alice"},
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def token_registry(
    test_env: None, token_server: TokenServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RegistryProcess]:
    reg = RegistryProcess(
        tmp_path_factory.mktemp("token-registry"), auth=token_server.registry_auth()
    ).start()
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def token_images(images: ImageFactory, token_registry: RegistryProcess) -> dict[str, PushedImage]:
    """base:1 and base:2 (the same index) and other:1 (a single-platform image)."""
    base = images.push_base(f"token-{os.getpid()}/base", "1")
    single = images.push_single(f"token-{os.getpid()}/single", "1")
    out = {}
    for key, source, target in [
        ("base:1", base, "team/base:1"),
        ("base:2", base, "team/base:2"),
        ("other:1", single, "team/other:1"),
    ]:
        destination = f"{token_registry.host}/{target}"
        skopeo_copy(source.reference, destination, dest_creds=":".join(PUSHER))
        out[key] = PushedImage(destination, source.digest, source.media_type, source.platforms, "")
    return out


@pytest.fixture
def tokens(token_server: TokenServer) -> Iterator[TokenServer]:
    """The token service with its log cleared and its settings restored after the test."""
    saved = (token_server.anonymous, token_server.expires_in, token_server.token_field)
    with token_server._lock:
        token_server.requests.clear()
    yield token_server
    token_server.anonymous, token_server.expires_in, token_server.token_field = saved


def test_anonymous_bearer_token_flow(
    token_images: dict[str, PushedImage], tokens: TokenServer, tmp_path: Path
) -> None:
    image = token_images["base:1"]

    result = resolved(image.reference, options(tmp_path / "cfg"))

    assert result.digest == image.digest
    assert dict(result.platforms) == image.platforms
    (fetch,) = tokens.fetches()
    assert fetch.user is None
    assert fetch.scopes == ("repository:team/base:pull",)
    assert fetch.service == "imagelock-test-registry"


def test_tokens_are_cached_per_repository_scope(
    token_images: dict[str, PushedImage], tokens: TokenServer, tmp_path: Path
) -> None:
    texts = [
        token_images["base:1"].reference,
        token_images["base:2"].reference,
        token_images["base:1"].reference.rsplit(":", 1)[0] + "@" + token_images["base:1"].digest,
        token_images["other:1"].reference,  # a manifest and its config blob: one scope
    ]
    refs = [ref(t) for t in texts]

    out = resolve_many(refs, options(tmp_path / "cfg"))

    assert all(isinstance(o, Resolved) for o in out.values()), out
    scopes = sorted(f.scopes for f in tokens.fetches())
    assert scopes == [("repository:team/base:pull",), ("repository:team/other:pull",)]


def test_expired_token_is_fetched_again(
    token_images: dict[str, PushedImage], tokens: TokenServer, tmp_path: Path
) -> None:
    tokens.expires_in = 1
    tokens.token_field = "access_token"  # the OAuth2 spelling alone must do too
    target = ref(token_images["base:1"].reference)

    async def work(client: RegistryClient) -> list[str]:
        first = await client.resolve(target)
        time.sleep(1.1)  # block the loop on purpose: nothing else runs
        second = await client.resolve(target)
        return [first.digest, second.digest]

    digests = with_client(options(tmp_path / "cfg"), work)

    assert digests == [token_images["base:1"].digest] * 2
    assert len(tokens.fetches()) == 2


def test_token_with_credentials_from_config_json(
    token_images: dict[str, PushedImage], tokens: TokenServer, tmp_path: Path
) -> None:
    tokens.anonymous = False
    config = tmp_path / "cfg"
    write_docker_config(
        config,
        {"auths": {token_images["base:1"].reference.split("/")[0]: auths_entry("alice", PASSWORD)}},
    )

    result = resolved(token_images["other:1"].reference, options(config))

    assert result.digest == token_images["other:1"].digest
    assert [f.user for f in tokens.fetches()] == ["alice"]


def test_token_service_refusing_anonymous_access_says_how_to_log_in(
    token_images: dict[str, PushedImage],
    tokens: TokenServer,
    token_registry: RegistryProcess,
    tmp_path: Path,
) -> None:
    tokens.anonymous = False

    outcome = resolve_one(token_images["base:1"].reference, options(tmp_path / "cfg"))

    assert isinstance(outcome, Unauthorized), outcome
    assert f"docker login {token_registry.host}" in str(outcome)


def test_token_service_refusing_credentials_hides_them(
    token_images: dict[str, PushedImage],
    tokens: TokenServer,
    token_registry: RegistryProcess,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = tmp_path / "cfg"
    path = write_docker_config(
        config,
        {"auths": {token_registry.host: auths_entry("alice", "wrong-password-also-secret")}},
    )
    caplog.set_level(logging.DEBUG)

    outcome = resolve_one(token_images["base:1"].reference, options(config))

    assert isinstance(outcome, Unauthorized), outcome
    assert str(path) in str(outcome)
    assert len(tokens.requests) == 1  # a refused credential is not retried
    assert_no_secret(str(outcome), repr(outcome), caplog.text)


def test_identity_token_uses_the_oauth2_refresh_grant(
    token_images: dict[str, PushedImage],
    tokens: TokenServer,
    token_registry: RegistryProcess,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tokens.anonymous = False
    config = tmp_path / "cfg"
    write_docker_config(config, {"auths": {token_registry.host: {"identitytoken": REFRESH_TOKEN}}})
    caplog.set_level(logging.DEBUG)

    result = resolved(token_images["base:1"].reference, options(config))

    assert result.digest == token_images["base:1"].digest
    (fetch,) = tokens.fetches()
    assert (fetch.method, fetch.grant_type, fetch.user) == ("POST", "refresh_token", "alice")
    assert_no_secret(caplog.text)
