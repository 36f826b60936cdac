"""Shared helpers for the tests of the wsgicore core (not a test module).

Everything here goes through the public API of ``wsgicore`` and ``wsgidrivers.memory``; nothing
mocks the core. The response parser is deliberately independent of the core (and strict), so that a
test asserts on the bytes a real client would see.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import h11

from support.corpus import find_corpus, load_corpus
from support.inmemory import PEER, SOCKNAME, Run, run_connection  # the suites' one in-memory loop
from support.responses import (  # the suites' one strict response parser
    MalformedResponse,
    ParsedResponse,
    final_responses,
    parse_responses,
)

__all__ = [
    "PEER",
    "REPO_ROOT",
    "SOCKNAME",
    "MalformedResponse",
    "ParsedResponse",
    "Run",
    "WSGIApp",
    "body_error_app",
    "echo_app",
    "final_responses",
    "find_corpus",
    "h11_parse_response",
    "load_corpus",
    "load_manifest",
    "parse_responses",
    "reading_app",
    "run_connection",
    "simple_app",
    "split_at",
]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# tests/core/core_support.py -> parents[2] is the repository root.
REPO_ROOT = Path(__file__).resolve().parents[2]



def load_manifest() -> tuple[Path | None, list[dict[str, Any]]]:
    """The corpus directory and its entries (one loader for every suite: tests/support/corpus.py)."""
    return find_corpus(), load_corpus()


def h11_parse_response(data: bytes, method: str = "GET") -> tuple[h11.Response, bytes]:
    """Parse ``data`` as the one response to a ``method`` request, using h11 as the client.

    Raises h11.RemoteProtocolError (or AssertionError) when the response is not well-formed or
    bytes are left over after it.
    """
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method=method, target="/", headers=[("Host", "example.com")]))
    client.send(h11.EndOfMessage())
    client.receive_data(data)
    client.receive_data(b"")
    response: h11.Response | None = None
    body = bytearray()
    for _ in range(10_000):
        event = client.next_event()
        if isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            break
        elif event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
            raise AssertionError(f"incomplete response: {data!r}")
        elif isinstance(event, h11.InformationalResponse):
            continue
    else:  # pragma: no cover - a hang in h11 itself
        raise AssertionError("h11 client did not finish")
    assert response is not None
    trailing, _closed = client.trailing_data
    assert trailing == b"", f"bytes after the response: {trailing!r}"
    return response, bytes(body)


def simple_app(
    body: Sequence[bytes] = (b"ok",),
    status: str = "200 OK",
    headers: Sequence[tuple[str, str]] = (("Content-Type", "text/plain"),),
) -> WSGIApp:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response(status, list(headers))
        return list(body)

    return app


def reading_app(calls: list[tuple[dict[str, Any], bytes]]) -> WSGIApp:
    """The corpus app: read wsgi.input to the end BEFORE start_response, record, answer 200."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        entry: tuple[dict[str, Any], bytes] = (dict(environ), b"")
        calls.append(entry)
        body = environ["wsgi.input"].read()
        calls[-1] = (entry[0], body)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    return app


def echo_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Echo method, path, query and body; the body is read before start_response."""
    body = environ["wsgi.input"].read()
    text = (
        f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}?{environ.get('QUERY_STRING', '')}\n"
    ).encode("latin-1") + body
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [text]


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def body_error_app(caught: list[Any], body: bytes = b"accepted") -> WSGIApp:
    """An app that reads all of wsgi.input, records a RequestBodyError (and lets it propagate), and
    otherwise answers 200 with ``body``."""
    from wsgicore import RequestBodyError

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            environ["wsgi.input"].read()
        except RequestBodyError as exc:
            caught.append(exc)
            raise
        start_response("200 OK", [])
        return [body]

    return app
