"""Clients and apps for the asyncio driver's tests: raw sockets, a tiny HTTP/1.1 response reader.

Every wait is bounded: sockets get timeouts, loops get counts.
"""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

try:
    from support.clients import TIMEOUT, connect, drip, wait_closed
    from support.responses import final_responses
except ImportError:  # imported as tests.asyncio_driver.aio_support (the command-line test's server)
    from tests.support.clients import TIMEOUT, connect, drip, wait_closed
    from tests.support.responses import final_responses

__all__ = ["TIMEOUT", "BodyReader", "Environ", "Recorder", "Response", "StartResponse",
           "StreamingBody", "connect", "drip", "echo_app", "exchange_raw", "get", "hello_app",
           "read_response", "request", "wait_closed"]


class Response(NamedTuple):
    status: int
    headers: dict[str, str]  # lower-case names; repeated fields joined with ", "
    body: bytes


class _Recorder:
    """Reads from ``f`` and keeps every byte read, for the strict parser to check."""

    def __init__(self, f: io.BufferedReader) -> None:
        self.f = f
        self.raw = bytearray()

    def line(self) -> bytes:
        line = self.f.readline(65537)
        if not line:
            raise EOFError("connection closed before a complete response")
        self.raw += line
        return line

    def read(self, size: int = -1) -> bytes:
        data = self.f.read(size)
        self.raw += data
        return data


def read_response(f: io.BufferedReader, *, head: bool = False) -> Response:
    """One response from ``f`` (skipping 1xx). This reader only finds where the response ends
    (Content-Length, chunked or close); the suites' one strict parser then reads the bytes, so a
    malformed response fails the test (``MalformedResponse``)."""
    reader = _Recorder(f)
    for _ in range(10):
        status = int(reader.line().split(b" ", 2)[1])
        headers: dict[str, str] = {}
        for _ in range(200):
            line = reader.line()
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode("latin-1").partition(":")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        if 100 <= status < 200:
            continue
        break
    else:
        raise AssertionError("too many interim responses")
    if not (head or status in (204, 304)):
        if headers.get("transfer-encoding", "").lower() == "chunked":
            for _ in range(1 << 20):
                size = int(reader.line().split(b";")[0], 16)
                if size == 0:
                    while reader.line() not in (b"\r\n", b"\n"):
                        pass
                    break
                reader.read(size + 2)
        elif "content-length" in headers:
            n = int(headers["content-length"])
            if len(reader.read(n)) != n:
                raise EOFError(f"body cut short: {len(reader.raw)} bytes in all")
        else:
            reader.read()
    final = final_responses(bytes(reader.raw), ["HEAD"] if head else [])[-1]
    joined: dict[str, str] = {}
    for name, value in final.headers:
        key, text = name.decode("latin-1"), value.decode("latin-1")
        joined[key] = f"{joined[key]}, {text}" if key in joined else text
    return Response(final.status, joined, final.body)


def request(
    address: tuple[str, int],
    raw: bytes,
    *,
    count: int = 1,
    timeout: float = TIMEOUT,
) -> list[Response]:
    """Send ``raw`` on a new connection, read ``count`` responses, close."""
    with connect(address, timeout) as sock:
        sock.sendall(raw)
        f = sock.makefile("rb")
        return [read_response(f) for _ in range(count)]


def get(address: tuple[str, int], path: str = "/", *, close: bool = True) -> Response:
    extra = b"Connection: close\r\n" if close else b""
    raw = b"GET " + path.encode() + b" HTTP/1.1\r\nHost: test\r\n" + extra + b"\r\n"
    return request(address, raw)[0]


def exchange_raw(address: tuple[str, int], raw: bytes, timeout: float = TIMEOUT) -> bytes:
    """Send ``raw``, half-close, read everything until the server closes."""
    with connect(address, timeout) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        return wait_closed(sock, timeout)[0]


# ---- apps ---------------------------------------------------------------------------------------

StartResponse = Callable[..., Any]
Environ = dict[str, Any]


def hello_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    body = b"Hello, " + environ["PATH_INFO"].encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def echo_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Reads the whole body first, then answers with it."""
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(body)))])
    return [body]


class Recorder:
    """An app wrapper that records environs and the peak number of concurrent calls."""

    def __init__(self, app: Callable[[Environ, StartResponse], Iterable[bytes]]) -> None:
        self.app = app
        self.environs: list[Environ] = []
        self.active = 0
        self.peak = 0
        self.lock = threading.Lock()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        with self.lock:
            self.environs.append(dict(environ))
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            return list(self.app(environ, start_response))
        finally:
            with self.lock:
                self.active -= 1


class StreamingBody:
    """An iterable of ``total`` bytes in ``chunk``-sized pieces that counts what it produced."""

    def __init__(self, total: int, chunk: int = 65536) -> None:
        self.total = total
        self.chunk = chunk
        self.produced = 0
        self.closed = threading.Event()
        self._piece = b"x" * chunk

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(self.total // self.chunk):
            self.produced += self.chunk
            yield self._piece

    def close(self) -> None:
        self.closed.set()


class BodyReader:
    """An app that reads the whole body, keeps the ``OSError`` a failed read raises (and lets the
    response go on), then answers 200 with ``body``. ``done`` is set once the read has ended."""

    def __init__(self, body: bytes = b"") -> None:
        self.body = body
        self.errors: list[OSError] = []
        self.done = threading.Event()

    def __call__(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        try:
            environ["wsgi.input"].read()
        except OSError as exc:
            self.errors.append(exc)
        finally:
            self.done.set()
        start_response("200 OK", [("Content-Length", str(len(self.body)))])
        return [self.body]
