"""Sending registry requests: TLS, scheme choice, auth, per-host limits, timeouts and retries.

Everything a single API call needs besides its meaning lives here, so that the client reads as
"GET this manifest, check it". A call either returns an `Answer` (any status the caller gives a
meaning to: 2xx, 404, other 4xx) or raises the RegistryError for what went wrong.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import httpx

from imagelock import __version__
from imagelock.errors import RegistryError
from imagelock.registry import failures
from imagelock.registry.auth import AuthProblem, RegistryAuth, repository_of
from imagelock.registry.bodies import SMALL_LIMIT, BodyTooLarge, read_capped
from imagelock.registry.credentials import DockerConfig
from imagelock.registry.endpoints import Endpoint
from imagelock.registry.hosts import login_command
from imagelock.registry.options import RegistryOptions
from imagelock.registry.retry import backoff_delay, is_retryable_status, retry_after_seconds
from imagelock.registry.tls import (
    certificate_problem,
    handshake_problem,
    speaks_no_tls,
    ssl_context,
)

log = logging.getLogger("imagelock.registry")

USER_AGENT = f"imagelock/{__version__}"
_RATE_LIMIT_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "docker-ratelimit-source")
_NOT_TRANSIENT = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)


@dataclass(frozen=True)
class Answer:
    """A registry's answer, body read (within its cap) and connection released."""

    status: int
    headers: httpx.Headers
    body: bytes
    url: str


@dataclass(frozen=True)
class Call:
    """What a request is for, to name it in errors: the reference and the endpoint asked."""

    ref: str
    endpoint: Endpoint

    @property
    def where(self) -> str:
        return self.endpoint.label

    @property
    def login(self) -> str:
        return login_command(
            self.endpoint.registry if not self.endpoint.mirror else self.endpoint.host
        )


class Sender:
    """One httpx client shared by all requests of a run, with per-host state beside it."""

    def __init__(
        self,
        options: RegistryOptions,
        docker_config: DockerConfig,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._options = options
        self._config = docker_config
        self._http = httpx.AsyncClient(
            verify=ssl_context(options.ca_file),
            timeout=httpx.Timeout(options.timeout),
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
            transport=transport,
        )
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._schemes: dict[str, str] = {}
        self._auths: dict[str, RegistryAuth] = {}
        self._credential_sources: dict[str, str | None] = {}
        self._first_contact: dict[tuple[str, str], asyncio.Event] = {}
        self._rng = random.Random()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(
        self,
        call: Call,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        limit: int = SMALL_LIMIT,
        follow_redirects: bool = False,
    ) -> Answer:
        """Send `method path` (path from `/v2/`) to the call's endpoint, retrying what may pass."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._options.retry_budget
        attempts = 0
        last: Answer | str
        while True:
            attempts += 1
            try:
                answer = await self._attempt(call, method, path, headers, limit, follow_redirects)
            except httpx.TransportError as exc:
                self._fail_unless_transient(call, exc, attempts)
                delay, last = None, self._reason(exc)
            except httpx.RequestError as exc:  # too many redirects, a body that does not decode
                raise failures.broken_answer(call.ref, call.where, self._reason(exc)) from None
            except BodyTooLarge as exc:  # a manifest, a token answer or an error body
                raise failures.unsupported(call.ref, call.where, str(exc)) from None
            except asyncio.TimeoutError:
                delay, last = None, f"no complete answer within {self._options.timeout:g} s"
            except AuthProblem as exc:
                if not exc.retryable:
                    raise self._refused(call, str(exc)) from None
                delay, last = retry_after_seconds(exc.retry_after), str(exc)
            else:
                _log_rate_limit(call, answer)
                if answer.status in (401, 403):
                    raise self._refused(call, failures.error_detail(answer.body)) from None
                if not is_retryable_status(answer.status):
                    return answer
                delay, last = retry_after_seconds(answer.headers.get("retry-after")), answer
            if delay is None:
                delay = backoff_delay(attempts - 1, self._options.backoff, self._rng)
            if attempts > self._options.retries or loop.time() + delay > deadline:
                raise self._gave_up(call, last, attempts)
            log.debug("%s %s on %s: %s; retrying in %.2f s", method, path, call.where,
                      last.status if isinstance(last, Answer) else last, delay)  # fmt: skip
            await asyncio.sleep(delay)

    async def _attempt(
        self,
        call: Call,
        method: str,
        path: str,
        headers: Mapping[str, str] | None,
        limit: int,
        follow_redirects: bool,
    ) -> Answer:
        endpoint = call.endpoint
        base = await self._base_url(endpoint)
        auth = await self._auth(endpoint.host)
        gate = (endpoint.host, repository_of(path))
        first = self._first_contact.get(gate)
        if first is None:
            self._first_contact[gate] = first = asyncio.Event()
            owner = True
        else:
            # The first request to a repository learns its challenge and token; the others wait
            # for it, so that a hundred tags of one repository cost one token, not a hundred.
            owner = False
            await first.wait()
        try:
            async with self._semaphore(endpoint.host):
                return await asyncio.wait_for(
                    self._exchange(method, base + path, headers, auth, limit, follow_redirects),
                    self._options.timeout,
                )
        finally:
            if owner:
                first.set()

    async def _exchange(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        auth: RegistryAuth,
        limit: int,
        follow_redirects: bool,
    ) -> Answer:
        request = self._http.build_request(method, url, headers=headers)
        response = await self._http.send(
            request, auth=auth, follow_redirects=follow_redirects, stream=True
        )
        try:
            cap = limit if response.is_success else SMALL_LIMIT
            body = b"" if method == "HEAD" else await read_capped(response, cap)
        finally:
            await response.aclose()
        return Answer(response.status_code, response.headers, body, str(response.url))

    async def _base_url(self, endpoint: Endpoint) -> str:
        """`scheme://host`; for hosts that may use either, https unless the host lacks TLS."""
        if endpoint.scheme is not None:
            return f"{endpoint.scheme}://{endpoint.host}"
        host = endpoint.host
        async with self._lock(("scheme", host)):
            if host not in self._schemes:
                scheme = await self._probe_scheme(host)
                if scheme is None:
                    return f"https://{host}"  # unreachable for now: let the request say why
                self._schemes[host] = scheme
        return f"{self._schemes[host]}://{host}"

    async def _probe_scheme(self, host: str) -> str | None:
        try:
            request = self._http.build_request("GET", f"https://{host}/v2/")
            response = await asyncio.wait_for(
                self._http.send(request, stream=True), self._options.timeout
            )
            await response.aclose()
        except httpx.TransportError as exc:
            if speaks_no_tls(exc):
                log.debug("%s does not speak TLS; using plain HTTP", host)
                return "http"
            return "https" if certificate_problem(exc) is not None else None
        except asyncio.TimeoutError:
            return None
        return "https"

    async def _auth(self, host: str) -> RegistryAuth:
        """The auth flow for `host`, its credentials looked up once (helpers run off the loop)."""
        async with self._lock(("auth", host)):
            if host not in self._auths:
                credentials = await asyncio.to_thread(self._config.lookup, host)
                self._auths[host] = RegistryAuth(
                    credentials, allow_plain_http=self._options.allows_plain_http
                )
                self._credential_sources[host] = credentials.source if credentials else None
        return self._auths[host]

    def _semaphore(self, host: str) -> asyncio.Semaphore:
        if host not in self._semaphores:
            self._semaphores[host] = asyncio.Semaphore(self._options.max_per_host)
        return self._semaphores[host]

    def _lock(self, key: Hashable) -> asyncio.Lock:
        if key not in self._locks:
            self._locks[key] = asyncio.Lock()
        return self._locks[key]

    def _fail_unless_transient(self, call: Call, exc: httpx.TransportError, attempts: int) -> None:
        problem = certificate_problem(exc)
        if problem is not None:
            host = call.endpoint.host
            raise failures.tls_failure(call.ref, call.where, host, problem) from None
        handshake = handshake_problem(exc)
        if handshake is not None:
            # A server that answers the TLS greeting with plain HTTP will do so again.
            raise failures.no_tls(call.ref, call.where, call.endpoint.host, handshake) from None
        if isinstance(exc, _NOT_TRANSIENT):
            raise failures.unreachable(call.ref, call.where, self._reason(exc), attempts) from None

    def _reason(self, exc: httpx.RequestError) -> str:
        if isinstance(exc, httpx.TimeoutException):
            return f"timed out ({type(exc).__name__})"
        return str(exc) or type(exc).__name__

    def _refused(self, call: Call, detail: str) -> RegistryError:
        source = self._credential_sources.get(call.endpoint.host)
        return failures.unauthorized(
            call.ref, call.where, call.login, credentials=source, detail=detail
        )

    def _gave_up(self, call: Call, last: Answer | str, attempts: int) -> RegistryError:
        if isinstance(last, str):
            return failures.unreachable(call.ref, call.where, last, attempts)
        if last.status == 429:
            return failures.rate_limited(call.ref, call.where, call.login, attempts)
        return failures.server_failing(call.ref, call.where, last.status, attempts)


def _log_rate_limit(call: Call, answer: Answer) -> None:
    if log.isEnabledFor(logging.DEBUG):
        found = {h: answer.headers[h] for h in _RATE_LIMIT_HEADERS if h in answer.headers}
        if found:
            log.debug("%s rate limit: %s", call.where, found)
