"""Recipe (d): test a WSGI app against the real HTTP/1.1 core, in memory, with ``wsgidrivers.memory``.

    python examples/memory_recipe.py        # runs the checks below
    python -m pytest examples/memory_recipe.py

No socket, no thread: ``exchange`` feeds raw request bytes to a ``wsgicore.Connection`` (whole or in
the pieces you give), then EOF, and returns every byte the server would have sent.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from wsgicore import Config
from wsgidrivers.memory import exchange

CONFIG = Config(clock=None, server_software=None)  # byte-for-byte predictable responses


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    post = environ["REQUEST_METHOD"] == "POST"
    body = environ["wsgi.input"].read() if post else b"Hello, world!\n"  # POST: echo the body
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def test_get() -> None:
    out = exchange(app, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", config=CONFIG)
    assert out == (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n"
                   b"Hello, world!\n")


def test_pipelined_chunked_post_split_anywhere() -> None:
    raw = (b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n0\r\n\r\n"
           b"GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    whole = exchange(app, raw, config=CONFIG)
    assert whole.count(b"HTTP/1.1 200 OK") == 2
    assert b"\r\n\r\nhello" in whole
    # The result never depends on how the bytes were split.
    assert exchange(app, [raw[i : i + 1] for i in range(len(raw))], config=CONFIG) == whole


def test_bad_request_gets_the_core_error_response() -> None:
    errors = io.StringIO()
    out = exchange(app, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", config=CONFIG, errors=errors)
    assert out.startswith(b"HTTP/1.1 400 ")
    assert b"Connection: close\r\n" in out


if __name__ == "__main__":
    for name, check in list(globals().items()):
        if name.startswith("test_") and callable(check):
            check()
            print(f"{name}: ok")
