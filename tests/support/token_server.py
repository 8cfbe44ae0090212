"""A small Bearer token service for the real registry's `auth: token` mode.

It issues RS256 JWTs carrying the signing certificate in their `x5c` header; the registry is
configured with that certificate as its `rootcertbundle`, so it is the registry's own code that
accepts or rejects every token. The service runs in a thread on a loopback port and records what
it was asked, so tests can count token fetches (the client's cache) and check the scopes.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from tests.support.tls import KeyPair, make_signing_pair

SERVICE = "imagelock-test-registry"
ISSUER = "imagelock-test-token-issuer"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class TokenRequest:
    """One request the service answered: who asked (None: anonymous), for which scopes."""

    method: str
    user: str | None
    scopes: tuple[str, ...]
    service: str | None
    grant_type: str | None
    status: int


@dataclass
class TokenServer:
    """Issue registry tokens. `users` maps user name to password; `anonymous` lets requests
    without credentials have pull tokens; `refresh_tokens` maps an identity (refresh) token to
    its user for the OAuth2 POST. `token_field` picks `token`, `access_token` or both."""

    workdir: Path
    users: Mapping[str, str] = field(default_factory=dict)
    anonymous: bool = True
    refresh_tokens: Mapping[str, str] = field(default_factory=dict)
    expires_in: int | None = 300
    token_field: str = "both"
    requests: list[TokenRequest] = field(default_factory=list)
    signer: KeyPair | None = None
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def realm(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/token"

    def registry_auth(self) -> dict[str, Any]:
        """The `auth:` section of a registry config that trusts this service."""
        assert self.signer is not None
        return {
            "token": {
                "realm": self.realm,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(self.signer.cert_path),
            }
        }

    def start(self) -> TokenServer:
        if self.signer is None:
            self.signer = make_signing_pair(self.workdir)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def fetches(self, status: int = 200) -> list[TokenRequest]:
        with self._lock:
            return [r for r in self.requests if r.status == status]

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def issue(self, user: str | None, scopes: tuple[str, ...], authenticated: bool) -> str:
        """A JWT granting what `scopes` ask (pull only for anonymous callers)."""
        assert self.signer is not None
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind != "repository" or not name:
                continue
            wanted = [a for a in actions.split(",") if a]
            granted = wanted if authenticated else [a for a in wanted if a == "pull"]
            if granted:
                access.append({"type": "repository", "name": name, "actions": granted})
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": user or "",
            "aud": SERVICE,
            "exp": now + (self.expires_in or 60),
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        der = self.signer.certificate.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode("ascii")]}
        signing_input = (
            _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        )
        signature = self.signer.key.sign(
            signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
        )
        return signing_input + "." + _b64url(signature)

    def answer(self, token: str) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.token_field in ("token", "both"):
            body["token"] = token
        if self.token_field in ("access_token", "both"):
            body["access_token"] = token
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return body


def _handler_for(service: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt: str, *args: Any) -> None:
            pass  # quiet: tests read `service.requests`

        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            scopes = tuple(s for value in query.get("scope", []) for s in value.split())
            user = self._basic_user()
            if user is False:
                self._deny("GET", None, scopes, query)
                return
            name = user if isinstance(user, str) else None
            self._grant("GET", name, scopes, query.get("service", [None])[0], None)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            scopes = tuple(s for value in form.get("scope", []) for s in value.split())
            grant = form.get("grant_type", [None])[0]
            user: str | None = None
            if grant == "refresh_token":
                user = service.refresh_tokens.get(form.get("refresh_token", [""])[0])
            elif grant == "password":
                name, password = form.get("username", [""])[0], form.get("password", [""])[0]
                user = name if service.users.get(name) == password and password else None
            if user is None:
                self._deny("POST", None, scopes, form)
                return
            self._grant("POST", user, scopes, form.get("service", [None])[0], grant)

        def _basic_user(self) -> str | bool | None:
            """The authenticated user, None without credentials, False for wrong ones."""
            header = self.headers.get("Authorization", "")
            if not header:
                return None
            scheme, _, encoded = header.partition(" ")
            if scheme.lower() != "basic":
                return False
            try:
                name, _, password = base64.b64decode(encoded).decode().partition(":")
            except ValueError:
                return False
            if service.users.get(name) == password and password:
                return name
            return False

        def _grant(
            self,
            method: str,
            user: str | None,
            scopes: tuple[str, ...],
            svc: str | None,
            grant: str | None,
        ) -> None:
            if user is None and not service.anonymous:
                self._deny(method, None, scopes, {"service": [svc or ""]})
                return
            token = service.issue(user, scopes, authenticated=user is not None)
            service._record(TokenRequest(method, user, scopes, svc, grant, 200))
            self._send(200, service.answer(token))

        def _deny(
            self, method: str, user: str | None, scopes: tuple[str, ...], query: Mapping[str, Any]
        ) -> None:
            svc = query.get("service", [None])[0] if query.get("service") else None
            service._record(TokenRequest(method, user, scopes, svc, None, 401))
            self._send(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})

        def _send(self, status: int, body: Mapping[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
