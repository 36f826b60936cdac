"""Small clients and apps for the simple_server tests. Every wait is bounded."""

from __future__ import annotations

import http.client
import io
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

from support.clients import TIMEOUT, connect, read_until_close
from wsgidrivers.simple_server import WSGIRequestHandler

__all__ = ["RecordingHandler", "connect", "hello_app", "read_response", "read_until_close",
           "recording_handler", "request", "wait_for"]


def hello_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, world!"]


def request(address: tuple[str, int], method: str = "GET", path: str = "/", body: Any = None,
            headers: dict[str, str] | None = None) -> tuple[int, str, list[tuple[str, str]], bytes]:
    """One request on a fresh connection: (status, reason, headers, body)."""
    conn = http.client.HTTPConnection(address[0], address[1], timeout=TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.reason, response.getheaders(), response.read()
    finally:
        conn.close()


def read_response(sock: socket.socket) -> http.client.HTTPResponse:
    """Parse one response from a raw socket (the connection stays usable if keep-alive)."""
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response


class RecordingHandler(WSGIRequestHandler):
    """Keeps the access log and error reports in memory (class-level, reset per test)."""

    log: list[str] = []
    errors = io.StringIO()

    def log_message(self, format: str, *args: Any) -> None:
        type(self).log.append(format % args)

    def get_stderr(self) -> Any:
        return type(self).errors


def recording_handler() -> type[RecordingHandler]:
    """A fresh RecordingHandler subclass with its own log and error stream."""
    return type("Recorder", (RecordingHandler,), {"log": [], "errors": io.StringIO()})


def wait_for(condition: Callable[[], Any], limit: float = TIMEOUT) -> bool:
    """Whether ``condition()`` comes true within ``limit`` seconds (polled every 10 ms)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())
