"""Faulty WSGI applications and what the server must do with each (plain data plus small app
factories; used by ``test_faulty_apps.py`` in memory and over sockets).

``kind``:
* ``"500"``: the fault is known before any header was sent: a complete ``500`` response.
* ``"abort"``: the headers were already sent: the response is cut off (body shorter than its
  framing says) and the connection is closed; nothing the app sent later reaches the wire.
* ``"ok"``: the app's own response is sent (``status``), complete (a tolerated misuse, or a
  server-side correction such as dropping a HEAD body).
* ``"ok_or_500"``: either the app's status without a body (e.g. a body on 204) or a 500.

``reports``: problem reports (one ``Problem`` / one traceback in ``wsgi.errors``) the fault causes;
``None`` = not checked. ``closes``: how many closable iterables the app returns, each of which must
be closed exactly once (``None``: it depends on whether ``start_response`` raises at once, as PEP 3333
recommends, or the check comes later; every iterable created is still closed exactly once).
``forbidden``: bytes that must never appear on the wire (header injection, response splitting).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

__all__ = ["FAULTY_APPS", "FaultyApp", "Tracker"]

StartResponse = Callable[..., Any]
App = Callable[[dict[str, Any], StartResponse], Any]

_H = b"Host: example.com\r\n"
GET = b"GET /faulty HTTP/1.1\r\n" + _H + b"\r\n"
HEAD = b"HEAD /faulty HTTP/1.1\r\n" + _H + b"\r\n"
POST5 = b"POST /faulty HTTP/1.1\r\n" + _H + b"Content-Length: 5\r\n\r\nhello"
_SPLIT = b"HTTP/1.1 200 OK\r\nX-Split: 1\r\nContent-Length: 7\r\n\r\nsmuggle"


class Tracker:
    """Counts ``close()`` calls on the bodies an app returned, and what the app saw."""

    def __init__(self) -> None:
        self.closes = 0
        self.created = 0
        self.seen: list[Any] = []


class Body:
    """A closable body iterable; ``fail_at`` raises while producing that chunk."""

    def __init__(self, tracker: Tracker, chunks: Iterable[Any], *, fail_at: int | None = None,
                 close_raises: bool = False, iter_raises: bool = False) -> None:
        self.tracker = tracker
        tracker.created += 1
        self.chunks = chunks  # kept lazy: a generator must only run when the server iterates
        self.fail_at = fail_at
        self.close_raises = close_raises
        self.iter_raises = iter_raises

    def __iter__(self) -> Iterator[Any]:
        if self.iter_raises:
            raise RuntimeError("boom in __iter__")
        return self._gen()

    def _gen(self) -> Iterator[Any]:
        for i, chunk in enumerate(self.chunks):
            if i == self.fail_at:
                raise RuntimeError("boom mid-iteration")
            yield chunk

    def close(self) -> None:
        self.tracker.closes += 1
        if self.close_raises:
            raise RuntimeError("boom in close")


class FaultyApp(NamedTuple):
    name: str
    make: Callable[[Tracker], App]
    request: bytes
    kind: str
    status: int
    reports: int | None
    closes: int | None
    forbidden: tuple[bytes, ...] = ()
    note: str = ""
    responses: int = 1


def _headers(length: int | None = None, extra: Iterable[tuple[Any, Any]] = ()) -> list[Any]:
    out: list[Any] = [("Content-Type", "text/plain")]
    if length is not None:
        out.append(("Content-Length", str(length)))
    out.extend(extra)
    return out


def _raise_before(t: Tracker) -> App:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
        raise ValueError("boom before start_response")
    return app


def _raise_after_sr(t: Tracker) -> App:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
        start_response("200 OK", _headers(5))
        raise ValueError("boom after start_response")
    return app


def _body(chunks: list[Any], length: int | None, **kw: Any) -> Callable[[Tracker], App]:
    def make(t: Tracker) -> App:
        def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
            start_response("200 OK", _headers(length))
            return Body(t, chunks, **kw)
        return app
    return make


def _returns(value: Any) -> Callable[[Tracker], App]:
    def make(t: Tracker) -> App:
        def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
            start_response("200 OK", _headers(5))
            return value
        return app
    return make


def _status(status: Any) -> Callable[[Tracker], App]:
    def make(t: Tracker) -> App:
        def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
            start_response(status, _headers(2))
            return Body(t, [b"ok"])
        return app
    return make


def _header(name: Any, value: Any) -> Callable[[Tracker], App]:
    def make(t: Tracker) -> App:
        def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
            start_response("200 OK", _headers(2, [(name, value)]))
            return Body(t, [b"ok"])
        return app
    return make


def _raw_headers(headers: Any) -> Callable[[Tracker], App]:
    def make(t: Tracker) -> App:
        def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
            start_response("200 OK", headers)
            return Body(t, [b"ok"])
        return app
    return make


def _start_response_twice(t: Tracker) -> App:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
        start_response("200 OK", _headers(2))
        start_response("201 Created", _headers(2))
        return Body(t, [b"ok"])
    return app


def _exc_info_after_headers(t: Tracker) -> App:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
        start_response("200 OK", _headers(20))

        def gen() -> Iterator[bytes]:
            yield b"partial..."
            try:
                raise KeyError("late failure")
            except KeyError:
                start_response("500 Internal Server Error", _headers(5), sys.exc_info())
            yield b"never"
        return Body(t, gen())
    return app


def _exc_info_before_headers(t: Tracker) -> App:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
        start_response("200 OK", _headers(2))
        try:
            raise KeyError("early failure, handled by the app")
        except KeyError:
            start_response("503 Service Unavailable", _headers(4), sys.exc_info())
        return Body(t, [b"oops"])
    return app


def _length(declared: int, body: bytes) -> Callable[[Tracker], App]:
    def make(t: Tracker) -> App:
        def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
            start_response("200 OK", _headers(declared))
            return Body(t, [body[:3], body[3:]])
        return app
    return make


def _status_with_body(status: str) -> Callable[[Tracker], App]:
    def make(t: Tracker) -> App:
        def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
            start_response(status, [("Content-Type", "text/plain")])
            return Body(t, [b"body that must not be sent"])
        return app
    return make


def _head_body(t: Tracker) -> App:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
        start_response("200 OK", _headers(11))
        return Body(t, [b"hello", b" world"])
    return app


def _read_past_end(t: Tracker) -> App:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
        stream = environ["wsgi.input"]
        parts = [stream.read(100), stream.read(100), stream.read(), stream.readline(),
                 stream.read(-1), stream.readline(7), b"".join(stream.readlines()),
                 b"".join(iter(stream))]
        t.seen.append(parts)
        body = b"|".join(parts)
        start_response("200 OK", _headers(len(body)))
        return Body(t, [body])
    return app


def _ignore_body(t: Tracker) -> App:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
        t.seen.append(environ["PATH_INFO"])
        body = b"ok " + environ["PATH_INFO"].encode()
        start_response("200 OK", _headers(len(body)))
        return Body(t, [body])
    return app


def _write_then_iterable(t: Tracker) -> App:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
        write = start_response("200 OK", _headers(6))
        write(b"abc")
        return Body(t, [b"def"])
    return app


def _write_str(t: Tracker) -> App:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
        write = start_response("200 OK", _headers(6))
        write("abc")
        return Body(t, [b"def"])
    return app


def _mid_iteration_then_close_raises(t: Tracker) -> App:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
        start_response("200 OK", _headers(20))
        return Body(t, [b"0123456789", b"x"], fail_at=1, close_raises=True)
    return app


_INJECT = (b"X-Injected",)

FAULTY_APPS: tuple[FaultyApp, ...] = (
    FaultyApp("raise_before_start_response", _raise_before, GET, "500", 500, 1, None),
    FaultyApp("raise_before_start_response_head", _raise_before, HEAD, "500", 500, 1, None,
              note="the 500 answering a HEAD request has no content (RFC 9110 9.3.2)"),
    FaultyApp("raise_after_start_response", _raise_after_sr, GET, "500", 500, 1, None),
    FaultyApp("raise_in___iter__", _body([b"x"], 1, iter_raises=True), GET, "500", 500, 1, 1),
    FaultyApp("raise_before_first_chunk", _body([b"x"], 1, fail_at=0), GET, "500", 500, 1, 1),
    FaultyApp("raise_mid_iteration_cl", _body([b"0123456789", b"x"], 20, fail_at=1), GET, "abort",
              200, 1, 1),
    FaultyApp("raise_mid_iteration_chunked", _body([b"0123456789", b"x"], None, fail_at=1), GET,
              "abort", 200, 1, 1),
    FaultyApp("raise_in_close", _body([b"hello"], 5, close_raises=True), GET, "ok", 200, 1, 1),
    FaultyApp("raise_mid_iteration_and_in_close", _mid_iteration_then_close_raises, GET, "abort",
              200, None, 1, note="two faults: at least one report"),
    FaultyApp("return_none", _returns(None), GET, "500", 500, 1, None),
    FaultyApp("return_int", _returns(42), GET, "500", 500, 1, None),
    FaultyApp("return_bytes_not_list", _returns(b"hello"), GET, "500", 500, 1, None,
              note="iterating bytes gives ints"),
    FaultyApp("str_chunks", _body(["hello"], 5), GET, "500", 500, 1, 1),
    FaultyApp("str_chunk_after_bytes", _body([b"hello", " world"], 11), GET, "abort", 200, 1, 1),
    FaultyApp("write_str", _write_str, GET, "500", 500, 1, None),
    FaultyApp("start_response_twice", _start_response_twice, GET, "500", 500, 1, None),
    FaultyApp("exc_info_after_headers", _exc_info_after_headers, GET, "abort", 200, 1, 1,
              forbidden=(b"never",)),
    FaultyApp("exc_info_before_headers", _exc_info_before_headers, GET, "ok", 503, None, 1,
              note="legal PEP 3333 use: the app's 503 replaces the 200"),
    FaultyApp("status_no_reason", _status("200"), GET, "500", 500, 1, None),
    FaultyApp("status_no_space", _status("200OK"), GET, "500", 500, 1, None),
    FaultyApp("status_four_digits", _status("2000 OK"), GET, "500", 500, 1, None),
    FaultyApp("status_reversed", _status("OK 200"), GET, "500", 500, 1, None),
    FaultyApp("status_empty", _status(""), GET, "500", 500, 1, None),
    FaultyApp("status_bytes", _status(b"200 OK"), GET, "500", 500, 1, None),
    FaultyApp("status_int", _status(200), GET, "500", 500, 1, None),
    FaultyApp("status_crlf_injection", _status("200 OK\r\nX-Injected: 1"), GET, "500", 500, 1, None,
              forbidden=_INJECT),
    FaultyApp("status_nul", _status("200 O\x00K"), GET, "500", 500, 1, None),
    FaultyApp("status_non_latin1", _status("200 \u20ac"), GET, "500", 500, 1, None),
    FaultyApp("header_value_crlf", _header("X-A", "a\r\nX-Injected: 1"), GET, "500", 500, 1, None,
              forbidden=_INJECT),
    FaultyApp("header_value_lf", _header("X-A", "a\nX-Injected: 1"), GET, "500", 500, 1, None,
              forbidden=_INJECT),
    FaultyApp("header_value_cr", _header("X-A", "a\rX-Injected: 1"), GET, "500", 500, 1, None,
              forbidden=_INJECT),
    FaultyApp("header_name_crlf", _header("X-A\r\nX-Injected", "1"), GET, "500", 500, 1, None,
              forbidden=_INJECT),
    FaultyApp("header_value_nul", _header("X-A", "a\x00b"), GET, "500", 500, 1, None),
    FaultyApp("header_name_nul", _header("X-\x00A", "b"), GET, "500", 500, 1, None),
    FaultyApp("header_name_space", _header("X A", "b"), GET, "500", 500, 1, None),
    FaultyApp("header_name_colon", _header("X-A:", "b"), GET, "500", 500, 1, None),
    FaultyApp("header_name_empty", _header("", "b"), GET, "500", 500, 1, None),
    FaultyApp("header_value_non_latin1", _header("X-A", "\u20ac"), GET, "500", 500, 1, None),
    FaultyApp("header_name_non_ascii", _header("X-\u00e9", "a"), GET, "500", 500, 1, None),
    FaultyApp("header_value_bytes", _header("X-A", b"a"), GET, "500", 500, 1, None),
    FaultyApp("header_value_int", _header("X-A", 1), GET, "500", 500, 1, None),
    FaultyApp("header_not_a_pair", _raw_headers([("X-A", "a", "b"), ("Content-Length", "2")]),
              GET, "500", 500, 1, None),
    FaultyApp("headers_not_a_list", _raw_headers("Content-Length: 2"), GET, "500", 500, 1, None),
    FaultyApp("hop_by_hop_connection", _header("Connection", "close"), GET, "500", 500, 1, None),
    FaultyApp("hop_by_hop_transfer_encoding", _header("Transfer-Encoding", "chunked"), GET, "500",
              500, 1, None),
    FaultyApp("hop_by_hop_keep_alive", _header("Keep-Alive", "timeout=5"), GET, "500", 500, 1, None),
    FaultyApp("hop_by_hop_upgrade", _header("Upgrade", "h2c"), GET, "500", 500, 1, None),
    FaultyApp("content_length_larger", _length(100, b"0123456789"), GET, "abort", 200, 1, 1),
    FaultyApp("content_length_smaller", _length(5, b"hello" + _SPLIT), GET, "ok", 200, 1, 1,
              forbidden=(b"smuggle", b"X-Split"),
              note="extra bytes would be a second response on the same connection"),
    FaultyApp("body_on_head", _head_body, HEAD + GET, "ok", 200, 0, 2,
              note="the HEAD body is dropped; the next request is served", responses=2),
    FaultyApp("body_on_204", _status_with_body("204 No Content"), GET, "ok_or_500", 204,
              None, 1, forbidden=(b"must not be sent",)),
    FaultyApp("body_on_304", _status_with_body("304 Not Modified"), GET, "ok_or_500", 304,
              None, 1, forbidden=(b"must not be sent",)),
    FaultyApp("read_input_past_end", _read_past_end, POST5, "ok", 200, 0, 1),
    FaultyApp("read_input_past_end_no_body", _read_past_end, GET, "ok", 200, 0, 1),
    FaultyApp("never_read_body_keep_alive", _ignore_body,
              b"POST /first HTTP/1.1\r\n" + _H + b"Content-Length: 10\r\n\r\n0123456789"
              + b"GET /second HTTP/1.1\r\n" + _H + b"\r\n", "ok", 200, 0, 2,
              note="the unread body is drained, the next request is served", responses=2),
    FaultyApp("never_read_chunked_body", _ignore_body,
              b"POST /first HTTP/1.1\r\n" + _H + b"Transfer-Encoding: chunked\r\n\r\n"
              + b"%x\r\n" % len(GET) + GET + b"\r\n0\r\n\r\n" + b"GET /second HTTP/1.1\r\n" + _H
              + b"\r\n", "ok", 200, 0, 2, note="a request-looking chunk is never parsed",
              responses=2),
    FaultyApp("never_read_body_over_drain_limit", _ignore_body,
              b"POST /first HTTP/1.1\r\n" + _H + b"Content-Length: 100000\r\n\r\n"
              + (b"GET /smuggled HTTP/1.1\r\n" + _H + b"\r\n") * 2000 + b"x" * 10000
              + b"GET /second HTTP/1.1\r\n" + _H + b"\r\n", "ok", 200, 0, 1,
              note="over max_drain_bytes: close after the response, never parse the body"),
    FaultyApp("write_then_iterable", _write_then_iterable, GET, "ok", 200, 0, 1),
)
