"""A loopback HTTP proxy in front of a real registry that misbehaves on request.

It forwards every request to the upstream registry and passes the real answer back, except when
a queued fault matches: then it corrupts the body, drops the connection, answers with a status
(429 with `Retry-After`, 500, ...), strips the digest header or holds the request for a while.
It also counts requests in flight and connections open at once, which is how tests see that the
client really works concurrently without timing anything. `prefix` makes it a path-prefix mirror
(`/v2/PREFIX/repo/...` is forwarded as `/v2/repo/...`), as Harbor's proxy projects are.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te",
     "trailer", "content-length", "host"}
)  # fmt: skip

KINDS = frozenset({"corrupt", "drop", "status", "strip-digest", "hold"})


@dataclass
class Fault:
    """What to do to matching requests. `times` is how many requests it applies to (None: all).

    `path` is a regular expression searched in the request path; `method` None matches any.
    """

    kind: str
    path: str = ""
    method: str | None = None
    times: int | None = 1
    status: int = 500
    retry_after: str | None = None
    seconds: float = 0.0  # for "hold"
    strip_digest: bool = False  # also drop Docker-Content-Digest (with "corrupt")
    applied: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault {self.kind!r}")

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.applied >= self.times:
            return False
        if self.method is not None and self.method != method:
            return False
        return re.search(self.path, path) is not None


@dataclass(frozen=True)
class Seen:
    """One request the proxy received and what it answered (0: connection dropped)."""

    method: str
    path: str
    status: int
    fault: str | None
    at: float = field(default_factory=time.monotonic)  # when the answer (or drop) happened


class _QuietServer(ThreadingHTTPServer):
    """Clients hanging up on held or dropped requests is part of the game, not an error."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@dataclass
class FaultProxy:
    upstream: str  # http(s)://host:port of the real registry
    prefix: str = ""
    upstream_ssl: ssl.SSLContext | None = None
    port: int = 0  # 0: any free port
    bind: str = "127.0.0.1"  # another local address makes it a non-loopback registry
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    peak_in_flight: int = 0
    connections: int = 0
    peak_connections: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def host(self) -> str:
        assert self._server is not None
        return f"{self.bind}:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}" + (f"/{self.prefix}" if self.prefix else "")

    def start(self) -> FaultProxy:
        server = _QuietServer((self.bind, self.port), _handler_for(self))
        server.daemon_threads = True
        server.request_queue_size = 512
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def add(self, kind: str, path: str = "", **kwargs: Any) -> Fault:
        fault = Fault(kind, path, **kwargs)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.seen.clear()
            self.peak_in_flight = self.peak_connections = 0

    def requests(self, method: str | None = None, path: str = "") -> list[Seen]:
        with self._lock:
            return [
                s
                for s in self.seen
                if (method is None or s.method == method) and re.search(path, s.path)
            ]

    # --- bookkeeping used by the handler -------------------------------------------------

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.applied += 1
                    return fault
        return None

    @contextmanager
    def _counting(self, what: str) -> Iterator[None]:
        with self._lock:
            value = getattr(self, what) + 1
            setattr(self, what, value)
            peak = f"peak_{what}"
            setattr(self, peak, max(getattr(self, peak), value))
        try:
            yield
        finally:
            with self._lock:
                setattr(self, what, getattr(self, what) - 1)

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def _upstream_path(self, path: str) -> str:
        if not self.prefix:
            return path
        marker = f"/v2/{self.prefix}/"
        return "/v2/" + path[len(marker) :] if path.startswith(marker) else path

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        split = urlsplit(self.upstream)
        connection: http.client.HTTPConnection
        if split.scheme == "https":
            connection = http.client.HTTPSConnection(
                split.netloc, timeout=30, context=self.upstream_ssl
            )
        else:
            connection = http.client.HTTPConnection(split.netloc, timeout=30)
        try:
            target = self._upstream_path(path)
            connection.request(method, target, body=body or None, headers=headers)
            response = connection.getresponse()
            data = response.read()
            return response.status, list(response.getheaders()), data
        finally:
            connection.close()


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls between header and body
        wbufsize = 1 << 16  # one write per answer; flushed after each request

        def log_message(self, fmt: str, *args: Any) -> None:
            pass

        def handle(self) -> None:
            with proxy._counting("connections"):
                super().handle()

        def do_GET(self) -> None:
            self._proxy()

        def do_HEAD(self) -> None:
            self._proxy()

        def do_PUT(self) -> None:
            self._proxy()

        def do_POST(self) -> None:
            self._proxy()

        def do_PATCH(self) -> None:
            self._proxy()

        def do_DELETE(self) -> None:
            self._proxy()

        def _proxy(self) -> None:
            method, path = self.command, self.path
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with proxy._counting("in_flight"):
                fault = proxy._take_fault(method, path)
                kind = fault.kind if fault else None
                if fault is not None and fault.kind == "hold":
                    time.sleep(fault.seconds)
                if fault is not None and fault.kind == "drop":
                    proxy._record(Seen(method, path, 0, kind))
                    self.close_connection = True
                    with suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault is not None and fault.kind == "status":
                    self._answer_status(fault)
                    proxy._record(Seen(method, path, fault.status, kind))
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                try:
                    status, answer_headers, data = proxy._forward(method, path, headers, body)
                except OSError:  # upstream gone (a test ended while a request was held)
                    status, answer_headers, data = 502, [], b""
                if fault is not None and fault.kind == "corrupt" and data:
                    # Flip one byte in the middle: same size, same headers, other bytes.
                    middle = len(data) // 2
                    data = data[:middle] + bytes([data[middle] ^ 0x20]) + data[middle + 1 :]
                self.send_response(status)
                declared = None
                for name, value in answer_headers:
                    lower = name.lower()
                    if lower == "content-length":
                        declared = value
                    if lower in _HOP_BY_HOP:
                        continue
                    strip = kind == "strip-digest" or (fault is not None and fault.strip_digest)
                    if strip and lower == "docker-content-digest":
                        continue
                    self.send_header(name, value)
                length_out = declared if method == "HEAD" and declared else str(len(data))
                self.send_header("Content-Length", length_out)
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(data)
                proxy._record(Seen(method, path, status, kind))

        def _answer_status(self, fault: Fault) -> None:
            code = "TOOMANYREQUESTS" if fault.status == 429 else "UNAVAILABLE"
            data = json.dumps({"errors": [{"code": code, "message": "injected"}]}).encode()
            self.send_response(fault.status)
            if fault.retry_after is not None:
                self.send_header("Retry-After", fault.retry_after)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

    return Handler


def main(argv: list[str] | None = None) -> None:
    """`python -m tests.support.fault_proxy UPSTREAM [--hold SECONDS]`: serve in this process
    (so that a benchmark's client does not share its interpreter), print `host:port`, run until
    stdin closes."""
    import argparse
    import sys

    parser = argparse.ArgumentParser()
    parser.add_argument("upstream")
    parser.add_argument("--hold", type=float, default=0.0, help="seconds added to each request")
    parser.add_argument("--path", default="/(manifests|blobs)/")
    args = parser.parse_args(argv)
    proxy = FaultProxy(args.upstream).start()
    if args.hold > 0:
        proxy.add("hold", args.path, seconds=args.hold, times=None)
    print(proxy.host, flush=True)
    sys.stdin.read()
    proxy.stop()


if __name__ == "__main__":
    main()
