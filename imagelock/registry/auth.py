"""Registry authentication as an httpx auth flow: Bearer token challenges and Basic.

The flow sends a request, and on a 401 reads the `WWW-Authenticate` challenge: for `Bearer` it
asks the named token service (anonymously, with Basic credentials, or with an OAuth2 refresh
token) and sends the request again with the token; for `Basic` it sends the credentials.
Tokens are cached per realm, service and scope until shortly before they expire, and each
repository's challenge is remembered so that later requests carry a token from the start.

Only the first request of a send carries an Authorization header: httpx builds redirects
itself and drops the header on a cross-origin redirect (blob downloads redirected to a CDN or
S3), and nothing here adds it back.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass, field
from typing import Final

import httpx

from imagelock.registry.bodies import SMALL_LIMIT, read_capped
from imagelock.registry.challenge import Challenge, find, parse_challenges
from imagelock.registry.credentials import Credentials

DEFAULT_TOKEN_LIFETIME: Final = 60  # seconds, when a token answer does not say
MAX_ROUNDS: Final = 3  # challenge answers per request: stale token, new scope, one more
OAUTH_CLIENT_ID: Final = "imagelock"
_REPOSITORY_RE: Final = re.compile(r"^/v2/(.+)/(?:manifests|blobs|tags)/[^/]*$")

TokenKey = tuple[str, str, tuple[str, ...]]  # realm, service, scopes


class AuthProblem(Exception):
    """The token service refused or failed; `retryable` when it may answer later (429, 5xx)."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: str | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.status is not None and (self.status == 429 or self.status >= 500)


@dataclass(frozen=True)
class _Token:
    value: str = field(repr=False)
    expires: float  # on the monotonic clock


class RegistryAuth(httpx.Auth):
    """Authentication for one registry host, with its credentials (None: anonymous)."""

    def __init__(
        self,
        credentials: Credentials | None,
        *,
        allow_plain_http: Callable[[str], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials = credentials
        self._allow_plain_http = allow_plain_http
        self._clock = clock
        self._tokens: dict[TokenKey, _Token] = {}
        self._challenges: dict[str, Challenge] = {}
        self._basic = False

    @property
    def has_credentials(self) -> bool:
        return self._credentials is not None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        repository = repository_of(request.url.path)
        sent = self._authorize(request, repository)
        response = yield request
        fetched: TokenKey | None = None
        for _ in range(MAX_ROUNDS):
            if response.status_code != 401 or not _same_origin(request, response):
                return
            challenges = parse_challenges(response.headers.get_list("www-authenticate"))
            bearer = find(challenges, "bearer")
            if bearer is not None and bearer.realm:
                key = _token_key(bearer)
                if key == fetched:
                    return  # a fresh token for this very scope was refused: not allowed
                self._challenges[repository] = bearer
                token = self._cached(key)
                if token is None or token.value == sent:
                    token_response = yield self._token_request(bearer, request)
                    token = self._store(key, bearer, token_response)
                    fetched = key
                sent = token.value
                request.headers["Authorization"] = f"Bearer {token.value}"
            elif find(challenges, "basic") is not None and self._can_basic() and sent != "basic":
                self._basic = True
                sent = self._authorize(request, repository)
            else:
                return
            response = yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """As httpx's own, but reading (capped) only the answers the flow looks into: 401s and
        token answers. The final answer stays streamed for the caller to read with its cap."""
        flow = self.auth_flow(request)
        sending = next(flow)
        while True:
            response = yield sending
            if response.status_code == 401 or sending is not request:
                await read_capped(response, SMALL_LIMIT)
            try:
                sending = flow.send(response)
            except StopIteration:
                return

    def _can_basic(self) -> bool:
        return self._credentials is not None and not self._credentials.identity_token

    def _authorize(self, request: httpx.Request, repository: str) -> str | None:
        """Add what is already known to work; returns what was sent (token, "basic" or None)."""
        if self._basic and self._credentials is not None:
            request.headers["Authorization"] = _basic_header(self._credentials)
            return "basic"
        challenge = self._challenges.get(repository)
        token = self._cached(_token_key(challenge)) if challenge is not None else None
        if token is None:
            return None
        request.headers["Authorization"] = f"Bearer {token.value}"
        return token.value

    def _cached(self, key: TokenKey) -> _Token | None:
        token = self._tokens.get(key)
        return token if token is not None and token.expires > self._clock() else None

    def _token_request(self, challenge: Challenge, original: httpx.Request) -> httpx.Request:
        realm = httpx.URL(challenge.realm or "")
        if realm.scheme not in ("http", "https") or not realm.host:
            raise AuthProblem(f"the token service URL {challenge.realm!r} is not http(s)")
        if realm.scheme == "http" and not self._allow_plain_http(realm.netloc.decode("ascii")):
            raise AuthProblem(
                f"the token service {realm.host} uses plain HTTP; refusing to send tokens "
                "or credentials unencrypted (mark it insecure if that is intended)"
            )
        service = challenge.params.get("service")
        headers = {"User-Agent": original.headers.get("User-Agent", OAUTH_CLIENT_ID)}
        creds = self._credentials
        if creds is not None and creds.identity_token:
            form = {"grant_type": "refresh_token", "refresh_token": creds.secret,
                    "client_id": OAUTH_CLIENT_ID, "scope": " ".join(challenge.scopes)}  # fmt: skip
            if service:
                form["service"] = service
            return httpx.Request("POST", realm, data=form, headers=headers)
        params: list[tuple[str, str | int | float | bool | None]] = (
            [("service", service)] if service else []
        )
        params += [("scope", scope) for scope in challenge.scopes]
        if creds is not None:
            headers["Authorization"] = _basic_header(creds)
        return httpx.Request("GET", realm.copy_merge_params(params), headers=headers)

    def _store(self, key: TokenKey, challenge: Challenge, response: httpx.Response) -> _Token:
        where = httpx.URL(challenge.realm or "").host
        if response.status_code in (401, 403):
            refused = "refused the credentials" if self.has_credentials else "refused access"
            raise AuthProblem(f"the token service {where} {refused}", status=response.status_code)
        if response.status_code != 200:
            raise AuthProblem(
                f"the token service {where} answered HTTP {response.status_code}",
                status=response.status_code,
                retry_after=response.headers.get("retry-after"),
            )
        try:
            answer = json.loads(response.content)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            answer = {}
        value = answer.get("token") or answer.get("access_token")
        if not isinstance(value, str) or not value:
            raise AuthProblem(f"the token service {where} answered without a token")
        lifetime = answer.get("expires_in")
        seconds = lifetime if isinstance(lifetime, int) and lifetime > 0 else DEFAULT_TOKEN_LIFETIME
        token = _Token(value, self._clock() + seconds - min(30.0, seconds / 10))
        self._tokens[key] = token
        return token


def repository_of(path: str) -> str:
    """The repository an API path is about (`/v2/library/ruby/manifests/3` -> `library/ruby`)."""
    match = _REPOSITORY_RE.match(path)
    return match.group(1) if match else ""


def _token_key(challenge: Challenge) -> TokenKey:
    return (challenge.realm or "", challenge.params.get("service", ""), challenge.scopes)


def _basic_header(credentials: Credentials) -> str:
    pair = f"{credentials.username}:{credentials.secret}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _same_origin(request: httpx.Request, response: httpx.Response) -> bool:
    """Whether the answer came from the host asked (not from where a redirect led)."""
    asked, answered = request.url, response.request.url
    return (asked.scheme, asked.host, asked.port) == (answered.scheme, answered.host, answered.port)
