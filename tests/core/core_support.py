"""Shared helpers for the tests of the wsgicore core (not a test module).

Everything here goes through the public API of ``wsgicore`` and ``wsgidrivers.memory``; nothing
mocks the core. The response parser is deliberately independent of the core (and strict), so that a
test asserts on the bytes a real client would see.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h11

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# tests/core/core_support.py -> parents[2] is the repository root.
REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS_ENV = "WSGICORE_CORPUS"
PEER = ("192.0.2.7", 51234)
SOCKNAME = ("198.51.100.1", 8080)


def find_corpus() -> Path | None:
    """The request corpus directory (the one holding manifest.json), or None when absent.

    ``$WSGICORE_CORPUS`` wins; otherwise the copy in the repository (tests/corpus/requests).
    """
    candidates: list[Path] = []
    env = os.environ.get(CORPUS_ENV)
    if env:
        candidates.append(Path(env))
    candidates.append(REPO_ROOT / "tests" / "corpus" / "requests")
    for candidate in candidates:
        if (candidate / "manifest.json").is_file():
            return candidate.resolve()
        if (candidate / "corpus" / "requests" / "manifest.json").is_file():
            return (candidate / "corpus" / "requests").resolve()
    return None


def load_manifest() -> tuple[Path | None, list[dict[str, Any]]]:
    corpus = find_corpus()
    if corpus is None:
        return None, []
    with (corpus / "manifest.json").open(encoding="utf-8") as f:
        cases: list[dict[str, Any]] = json.load(f)
    return corpus, cases


# --------------------------------------------------------------------------------------------
# A strict, independent HTTP/1.x response parser.

_STATUS_LINE = re.compile(rb"HTTP/(1\.[01]) ([0-9]{3}) ([\t \x21-\x7e\x80-\xff]*)\r\n")
_FIELD_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\r\n]*?)[ \t]*\r\n")
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]+)(;[^\r\n]*)?\r\n")


class MalformedResponse(AssertionError):
    """The bytes are not a well-formed HTTP/1.1 response stream."""


@dataclass
class ParsedResponse:
    version: bytes
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]  # names lower-cased, values as sent (OWS stripped)
    body: bytes  # de-chunked
    framing: str  # "length", "chunked", "close", "none" (HEAD, 1xx, 204, 304)
    complete: bool  # the framing says the body ended (always True for "close")
    raw: bytes = field(repr=False, default=b"")

    def get_all(self, name: bytes) -> list[bytes]:
        name = name.lower()
        return [v for n, v in self.headers if n == name]

    def get(self, name: bytes) -> bytes | None:
        values = self.get_all(name)
        assert len(values) <= 1, f"header {name!r} repeated: {values!r}"
        return values[0] if values else None

    @property
    def connection_close(self) -> bool:
        return any(b"close" in v.lower() for v in self.get_all(b"connection"))


def parse_responses(
    data: bytes, methods: Sequence[str] = (), *, allow_incomplete: bool = False
) -> list[ParsedResponse]:
    """Split ``data`` into responses (interim 1xx responses included, as their own items).

    ``methods[i]`` is the request method of the i-th *final* response (default GET), needed for
    HEAD framing. Raises MalformedResponse on anything malformed, incomplete (unless
    ``allow_incomplete``) or trailing.
    """
    responses: list[ParsedResponse] = []
    pos = 0
    final_index = 0
    while pos < len(data):
        start = pos
        m = _STATUS_LINE.match(data, pos)
        if m is None:
            raise MalformedResponse(f"bad status line at {pos}: {data[pos:pos + 80]!r}")
        version, status, reason = m.group(1), int(m.group(2)), m.group(3)
        pos = m.end()
        headers: list[tuple[bytes, bytes]] = []
        while not data.startswith(b"\r\n", pos):
            fm = _FIELD_LINE.match(data, pos)
            if fm is None:
                raise MalformedResponse(f"bad field line at {pos}: {data[pos:pos + 80]!r}")
            headers.append((fm.group(1).lower(), fm.group(2)))
            pos = fm.end()
        pos += 2
        method = methods[final_index] if final_index < len(methods) else "GET"
        resp = ParsedResponse(version, status, reason, headers, b"", "none", True)
        te = resp.get_all(b"transfer-encoding")
        cl = resp.get_all(b"content-length")
        if 100 <= status < 200:
            resp.raw = data[start:pos]
            responses.append(resp)
            continue
        final_index += 1
        if te and cl:
            raise MalformedResponse("both Transfer-Encoding and Content-Length")
        if method == "HEAD" or status in (204, 304):
            resp.framing = "none"
        elif te:
            if [v.lower() for v in te] != [b"chunked"]:
                raise MalformedResponse(f"unexpected Transfer-Encoding {te!r}")
            resp.framing = "chunked"
            body = bytearray()
            while True:
                cm = _CHUNK_LINE.match(data, pos)
                if cm is None:
                    if allow_incomplete:
                        resp.complete = False
                        pos = len(data)
                        break
                    raise MalformedResponse(f"bad chunk line at {pos}: {data[pos:pos + 40]!r}")
                size = int(cm.group(1), 16)
                pos = cm.end()
                if size == 0:
                    # Trailer section, then the final CRLF.
                    while not data.startswith(b"\r\n", pos):
                        fm = _FIELD_LINE.match(data, pos)
                        if fm is None:
                            if allow_incomplete:
                                resp.complete = False
                                pos = len(data)
                                break
                            raise MalformedResponse("bad trailer section")
                        pos = fm.end()
                    else:
                        pos += 2
                    break
                if pos + size + 2 > len(data) or data[pos + size : pos + size + 2] != b"\r\n":
                    if allow_incomplete:
                        body += data[pos : pos + size]
                        resp.complete = False
                        pos = len(data)
                        break
                    raise MalformedResponse("truncated or unterminated chunk")
                body += data[pos : pos + size]
                pos += size + 2
            resp.body = bytes(body)
        elif cl:
            if len(set(cl)) != 1 or not cl[0].isdigit():
                raise MalformedResponse(f"bad Content-Length {cl!r}")
            n = int(cl[0])
            resp.framing = "length"
            resp.body = data[pos : pos + n]
            if len(resp.body) < n:
                if not allow_incomplete:
                    raise MalformedResponse(f"body shorter than Content-Length {n}")
                resp.complete = False
            pos = min(len(data), pos + n)
        else:
            resp.framing = "close"
            resp.body = data[pos:]
            pos = len(data)
        resp.raw = data[start:pos]
        responses.append(resp)
    return responses


def final_responses(
    data: bytes, methods: Sequence[str] = (), *, allow_incomplete: bool = False
) -> list[ParsedResponse]:
    return [
        r
        for r in parse_responses(data, methods, allow_incomplete=allow_incomplete)
        if not 100 <= r.status < 200
    ]


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


# --------------------------------------------------------------------------------------------
# A minimal in-test driver over wsgicore.Connection (the documented blocking loop, in memory).


@dataclass
class Run:
    output: bytes
    infos: list[Any]  # wsgicore.ResponseInfo
    problems: list[Any]  # wsgicore.Problem
    events: list[Any]
    error: Exception | None  # the RemoteProtocolError from next_event, if any
    environs: list[dict[str, Any]]
    errors_text: str


def run_connection(
    app: WSGIApp,
    pieces: bytes | Iterable[bytes],
    *,
    config: Any = None,
    peer: tuple[Any, ...] | None = PEER,
    sockname: tuple[Any, ...] | None = SOCKNAME,
    use_on_problem: bool = True,
    max_steps: int = 100_000,
) -> Run:
    """Serve one in-memory connection: feed ``pieces`` (then EOF), run ``app`` for each request."""
    from wsgicore import (
        NEED_DATA,
        PAUSED,
        Connection,
        ConnectionClosed,
        RemoteProtocolError,
        RequestReceived,
    )

    if isinstance(pieces, (bytes, bytearray)):
        pieces = [bytes(pieces)]
    chunks = iter(pieces)
    conn = Connection(config, peer=peer, sockname=sockname)
    out = bytearray()
    infos: list[Any] = []
    problems: list[Any] = []
    events: list[Any] = []
    environs: list[dict[str, Any]] = []
    errors = io.StringIO()
    eof = False

    def next_piece() -> bytes:
        nonlocal eof
        out.extend(conn.data_to_send())
        if eof:
            return b""
        piece = next(chunks, b"")
        if piece == b"":
            eof = True
        return piece

    def fetch() -> bytes:
        return next_piece()

    error: Exception | None = None
    for _ in range(max_steps):
        try:
            event = conn.next_event()
        except RemoteProtocolError as exc:
            error = exc
            out.extend(conn.data_to_send())
            out.extend(exc.response)
            break
        if event is NEED_DATA:
            if eof:
                conn.receive_data(b"")
            else:
                conn.receive_data(next_piece())
            continue
        events.append(event)
        if isinstance(event, RequestReceived):
            environ = event.environ
            environ["wsgi.input"] = conn.input_stream(fetch)
            environ["wsgi.errors"] = errors
            environs.append(environ)
            info = conn.run_app(
                app,
                environ,
                out.extend,
                on_problem=problems.append if use_on_problem else None,
            )
            infos.append(info)
        elif event is PAUSED:
            raise AssertionError("PAUSED although the app was run at RequestReceived")
        elif isinstance(event, ConnectionClosed):
            out.extend(conn.data_to_send())
            break
    else:
        raise AssertionError("the connection did not finish (next_event loop bound hit)")
    return Run(bytes(out), infos, problems, events, error, environs, errors.getvalue())


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
