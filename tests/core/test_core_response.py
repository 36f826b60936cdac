"""App behaviour -> response bytes: framing, PEP 3333 start_response rules, errors, keep-alive."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from core_support import (
    PEER,
    SOCKNAME,
    ParsedResponse,
    WSGIApp,
    body_error_app,
    echo_app,
    final_responses,
    parse_responses,
    run_connection,
    simple_app,
)

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
GET11 = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
GET10 = b"GET / HTTP/1.0\r\n\r\n"
HEAD11 = b"HEAD / HTTP/1.1\r\nHost: example.com\r\n\r\n"
SECRET = "s3cr3t-exception-text"


def plain(**kw: Any) -> Any:
    from wsgicore import Config

    kw.setdefault("clock", None)
    kw.setdefault("server_software", None)
    return Config(**kw)


def gen_app(
    chunks: Sequence[bytes],
    status: str = "200 OK",
    headers: Sequence[tuple[str, str]] = (("Content-Type", "text/plain"),),
) -> WSGIApp:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response(status, list(headers))
        yield from chunks

    return app


def write_app(
    written: Sequence[bytes], returned: Sequence[bytes], as_generator: bool = False
) -> WSGIApp:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        for chunk in written:
            write(chunk)
        if as_generator:
            return iter(list(returned))
        return list(returned)

    return app


def one(run_output: bytes, methods: Sequence[str] = ()) -> ParsedResponse:
    responses = final_responses(run_output, methods)
    assert len(responses) == 1, responses
    return responses[0]


# ------------------------------------------------------------------ framing table


@dataclass
class Framing:
    id: str
    request: bytes
    app: WSGIApp
    status: int
    body: bytes
    framing: str
    keep_alive: bool
    content_length: bytes | None = None  # exact value when the framing is "length"
    method: str = "GET"
    no_headers: Sequence[bytes] = field(default_factory=tuple)


FRAMING = [
    Framing("list-1.1", GET11, simple_app([b"hello"]), 200, b"hello", "length", True, b"5"),
    Framing("list-1.0", GET10, simple_app([b"hello"]), 200, b"hello", "length", False, b"5"),
    Framing("generator-1.1", GET11, gen_app([b"ab", b"", b"cd"]), 200, b"abcd", "chunked", True),
    Framing(
        "generator-1.0",
        GET10,
        gen_app([b"ab", b"cd"]),
        200,
        b"abcd",
        "close",
        False,
        no_headers=(b"content-length", b"transfer-encoding"),
    ),
    Framing("empty-list", GET11, simple_app([]), 200, b"", "length", True, b"0"),
    Framing("list-of-empty", GET11, simple_app([b""]), 200, b"", "length", True, b"0"),
    Framing("empty-generator", GET11, gen_app([]), 200, b"", "length", True, b"0"),
    Framing("multi-item-list", GET11, simple_app([b"a", b"bc", b"d"]), 200, b"abcd", "", True),
    Framing(
        "app-content-length-generator",
        GET11,
        gen_app([b"abc", b"de"], headers=[("Content-Length", "5")]),
        200,
        b"abcde",
        "length",
        True,
        b"5",
    ),
    Framing("write-then-list", GET11, write_app([b"w1", b"w2"], [b"r"]), 200, b"w1w2r", "", True),
    Framing(
        "write-then-generator",
        GET11,
        write_app([b"w"], [b"x", b"y"], as_generator=True),
        200,
        b"wxy",
        "",
        True,
    ),
    Framing("write-only", GET11, write_app([b"only"], []), 200, b"only", "", True),
    Framing("head-list", HEAD11, simple_app([b"hello"]), 200, b"", "none", True, method="HEAD"),
    Framing("head-generator", HEAD11, gen_app([b"x", b"y"]), 200, b"", "none", True, method="HEAD"),
    Framing(
        "204-generator",
        GET11,
        gen_app([b"", b""], status="204 No Content", headers=[]),
        204,
        b"",
        "none",
        True,
        # RFC 9110 section 8.6: no Content-Length in a 204; RFC 9112 section 6.1: no TE either.
        no_headers=(b"content-length", b"transfer-encoding"),
    ),
    Framing(
        "304-generator",
        GET11,
        gen_app([b""], status="304 Not Modified", headers=[("ETag", '"x"')]),
        304,
        b"",
        "none",
        True,
        no_headers=(b"transfer-encoding",),
    ),
    Framing(
        "custom-reason",
        GET11,
        simple_app([b"z"], status="299 Very Custom Reason"),
        299,
        b"z",
        "length",
        True,
        b"1",
    ),
]


@pytest.mark.parametrize("case", FRAMING, ids=lambda c: c.id)
def test_response_framing(case: Framing) -> None:
    # A second, pipelined request shows whether the framing left the connection usable.
    follow = b"GET /next HTTP/1.1\r\nHost: example.com\r\n\r\n"
    run = run_connection(case.app, case.request + follow, config=plain())
    methods = [case.method, "GET"]
    responses = final_responses(run.output, methods)
    first = responses[0]
    assert first.version == b"1.1"
    assert first.status == case.status
    assert first.body == case.body
    if case.framing:
        assert first.framing == case.framing
    if case.content_length is not None:
        assert first.get(b"content-length") == case.content_length
        assert first.get(b"transfer-encoding") is None
    for name in case.no_headers:
        assert first.get(name) is None, name
    assert run.infos[0].status == case.status
    assert run.infos[0].body_bytes == len(case.body)
    assert run.infos[0].aborted is False
    assert run.infos[0].keep_alive is case.keep_alive
    if case.keep_alive:
        assert len(responses) == 2
        assert len(run.infos) == 2
    else:
        # HTTP/1.0 (and close-delimited bodies) end the connection after the first response.
        assert len(responses) == 1
        assert len(run.infos) == 1
    from wsgicore import ConnectionClosed

    assert isinstance(run.events[-1], ConnectionClosed)
    assert run.problems == []


def test_headers_wait_for_first_nonempty_chunk() -> None:
    """PEP 3333: headers go out with the first non-empty body chunk, not at start_response."""
    from wsgicore import Connection, RequestReceived

    sent: list[bytes] = []
    observed: list[int] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        observed.append(len(sent))
        yield b""
        observed.append(len(sent))
        yield b""
        observed.append(len(sent))
        yield b"first"
        observed.append(len(sent))  # headers and "first" must be out by now (streaming)
        yield b"second"

    conn = Connection(plain(), peer=PEER, sockname=SOCKNAME)
    conn.receive_data(GET11)
    event = conn.next_event()
    assert isinstance(event, RequestReceived)
    event.environ["wsgi.input"] = conn.input_stream(lambda size: b"")
    event.environ["wsgi.errors"] = io.StringIO()
    conn.run_app(app, event.environ, sent.append)
    assert observed[:3] == [0, 0, 0]
    assert observed[3] > 0
    joined = b"".join(sent)
    assert b"first" in b"".join(sent[: observed[3]])
    resp = one(joined)
    assert resp.body == b"firstsecond"


def test_headers_not_sent_before_app_returns_for_list() -> None:
    """Headers from start_response alone are not sent; an app may still fail and get a 500."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("X-Before", "1")])
        raise RuntimeError(SECRET)

    run = run_connection(app, GET11, config=plain())
    resp = one(run.output)
    assert resp.status == 500
    assert resp.get(b"x-before") is None


# ------------------------------------------------------------------ Date / Server


def test_date_and_server_added() -> None:
    run = run_connection(
        simple_app([b"x"]),
        GET11,
        config=plain(clock=lambda: 784111777.0, server_software="unit-test/1.0"),
    )
    resp = one(run.output)
    # RFC 9110 section 5.6.7 IMF-fixdate, computed from the injected clock.
    assert resp.get_all(b"date") == [b"Sun, 06 Nov 1994 08:49:37 GMT"]
    assert resp.get_all(b"server") == [b"unit-test/1.0"]


def test_date_and_server_from_app_win() -> None:
    app = simple_app(
        [b"x"], headers=[("date", "Mon, 01 Jan 2001 00:00:00 GMT"), ("SERVER", "app/2")]
    )
    run = run_connection(
        app, GET11, config=plain(clock=lambda: 784111777.0, server_software="unit-test/1.0")
    )
    resp = one(run.output)
    assert resp.get_all(b"date") == [b"Mon, 01 Jan 2001 00:00:00 GMT"]
    assert resp.get_all(b"server") == [b"app/2"]


def test_no_date_no_server_when_disabled(plain_config: Any) -> None:
    run = run_connection(simple_app([b"x"]), GET11, config=plain_config)
    resp = one(run.output)
    assert resp.get_all(b"date") == []
    assert resp.get_all(b"server") == []


def test_default_server_software() -> None:
    from wsgicore import Config

    run = run_connection(simple_app([b"x"]), GET11, config=Config(clock=None))
    resp = one(run.output)
    server = resp.get(b"server")
    assert server is not None
    assert server.startswith(b"wsgicore/")


def test_app_headers_kept_in_order() -> None:
    headers = [("X-B", "2"), ("Set-Cookie", "a=1"), ("X-A", "1"), ("Set-Cookie", "b=2")]
    run = run_connection(simple_app([b"x"], headers=headers), GET11, config=plain())
    resp = one(run.output)
    app_part = [(n, v) for n, v in resp.headers if n in (b"x-a", b"x-b", b"set-cookie")]
    assert app_part == [(b"x-b", b"2"), (b"set-cookie", b"a=1"), (b"x-a", b"1"),
                        (b"set-cookie", b"b=2")]


# ------------------------------------------------------------------ app errors


def failing_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    raise ValueError(SECRET)


def test_exception_before_headers_gives_500_and_reports() -> None:
    run = run_connection(failing_app, GET11, config=plain())
    resp = one(run.output)
    assert resp.status == 500
    assert b"Traceback" not in resp.body
    assert SECRET.encode() not in resp.body
    assert b"ValueError" not in resp.body
    ctype = resp.get(b"content-type")
    assert ctype is None or ctype.startswith(b"text/plain")
    assert run.infos[0].status == 500
    assert run.infos[0].aborted is False
    assert len(run.problems) == 1
    problem = run.problems[0]
    assert isinstance(problem.message, str)
    assert problem.exc_info is not None
    assert isinstance(problem.exc_info[1], ValueError)
    assert str(problem.exc_info[1]) == SECRET


def test_exception_reported_to_wsgi_errors_without_on_problem(
    plain_config: Any, errors_stream: io.StringIO
) -> None:
    from wsgidrivers.memory import exchange

    run = run_connection(failing_app, GET11, config=plain_config, use_on_problem=False)
    assert one(run.output).status == 500
    assert "Traceback" in run.errors_text
    assert SECRET in run.errors_text
    assert "ValueError" in run.errors_text
    # The memory driver passes no on_problem: the report lands in its wsgi.errors.
    out = exchange(failing_app, GET11, config=plain_config, errors=errors_stream)
    assert one(out).status == 500
    assert SECRET not in out.decode("latin-1")
    assert "Traceback" in errors_stream.getvalue()
    assert SECRET in errors_stream.getvalue()


def test_exception_while_iterating_before_any_body() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b""
        raise KeyError(SECRET)

    run = run_connection(app, GET11, config=plain())
    resp = one(run.output)
    assert resp.status == 500
    assert SECRET.encode() not in resp.body
    assert len(run.problems) == 1


@pytest.mark.parametrize("request_bytes", [GET11, GET10], ids=["1.1", "1.0"])
def test_exception_after_headers_aborts(request_bytes: bytes) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"partial"
        raise RuntimeError(SECRET)

    follow = b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
    run = run_connection(app, request_bytes + follow, config=plain())
    info = run.infos[0]
    assert info.aborted is True
    assert info.status == 200
    assert info.keep_alive is False
    assert len(run.infos) == 1  # the connection is not reused after an aborted response
    assert SECRET.encode() not in run.output
    responses = parse_responses(run.output, allow_incomplete=True)
    assert len(responses) == 1
    resp = responses[0]
    assert resp.status == 200
    if resp.framing == "chunked":
        assert resp.complete is False  # no terminating zero-size chunk
        assert not run.output.endswith(b"0\r\n\r\n")
    elif resp.framing == "length":
        assert resp.complete is False
    assert resp.body == b"partial"
    assert len(run.problems) == 1
    assert isinstance(run.problems[0].exc_info[1], RuntimeError)


def test_start_response_twice_raises() -> None:
    from wsgicore import ApplicationError

    caught: list[BaseException] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("X-First", "1")])
        try:
            start_response("404 Not Found", [("X-Second", "1")])
        except ApplicationError as exc:
            caught.append(exc)
        return [b"body"]

    run = run_connection(app, GET11, config=plain())
    assert len(caught) == 1
    resp = one(run.output)
    assert resp.status == 200
    assert resp.get(b"x-first") == b"1"
    assert resp.get(b"x-second") is None
    assert resp.body == b"body"


def test_start_response_twice_propagating_gives_500() -> None:
    from wsgicore import ApplicationError

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [])
        start_response("200 OK", [])
        return [b"never"]

    run = run_connection(app, GET11, config=plain())
    resp = one(run.output)
    assert resp.status == 500
    assert isinstance(run.problems[0].exc_info[1], ApplicationError)


def test_start_response_that_raised_anything_set_no_status() -> None:
    """A header list whose iteration raises (not an ApplicationError) leaves no half-set status:
    a body after it is the app's error (500), never a head with an empty status line."""

    class Exploding(list[tuple[str, str]]):
        def __iter__(self) -> Iterator[tuple[str, str]]:
            raise ValueError("no headers today")

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with pytest.raises(ValueError):
            start_response("200 OK", Exploding([("A", "b")]))
        return [b"body"]

    run = run_connection(app, GET11, config=plain())
    assert run.output.startswith(b"HTTP/1.1 500 ")
    assert one(run.output).status == 500


def test_exc_info_before_headers_replaces_status() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("X-First", "1"), ("Content-Type", "text/html")])
        try:
            raise ValueError("boom")
        except ValueError:
            start_response(
                "503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info()
            )
        return [b"replaced"]

    run = run_connection(app, GET11, config=plain())
    resp = one(run.output)
    assert resp.status == 503
    assert resp.reason == b"Service Unavailable"
    assert resp.get(b"x-first") is None
    assert resp.get_all(b"content-type") == [b"text/plain"]
    assert resp.body == b"replaced"
    assert run.infos[0].status == 503


def test_exc_info_after_headers_reraises_original() -> None:
    original = LookupError("original")
    reraised: list[BaseException] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"sent"
        try:
            raise original
        except LookupError:
            try:
                start_response("500 Oops", [], sys.exc_info())
            except BaseException as exc:
                reraised.append(exc)
                raise

    run = run_connection(app, GET11, config=plain())
    assert len(reraised) == 1
    assert reraised[0] is original
    assert run.infos[0].aborted is True
    assert b"500 Oops" not in run.output


def test_str_body_chunk_is_500() -> None:
    from wsgicore import ApplicationError

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[Any]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["text body"]

    run = run_connection(app, GET11, config=plain())
    # A str body chunk breaks PEP 3333; no headers were sent yet, so it becomes a 500.
    resp = one(run.output)
    assert resp.status == 500
    assert b"text body" not in run.output
    assert isinstance(run.problems[0].exc_info[1], ApplicationError)


def test_write_str_raises_application_error() -> None:
    from wsgicore import ApplicationError

    caught: list[BaseException] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            write("text")
        except ApplicationError as exc:
            caught.append(exc)
        return [b"bytes"]

    run = run_connection(app, GET11, config=plain())
    assert len(caught) == 1
    assert b"text" not in run.output.replace(b"text/plain", b"")
    assert one(run.output).body == b"bytes"


def test_returning_without_start_response_is_500() -> None:
    from wsgicore import ApplicationError

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return [b"body without status"]

    run = run_connection(app, GET11, config=plain())
    resp = one(run.output)
    assert resp.status == 500
    assert b"body without status" not in run.output
    assert isinstance(run.problems[0].exc_info[1], ApplicationError)


BAD_STATUS = [
    "",
    "OK",
    "200",
    "20 OK",
    "2000 OK",
    "abc OK",
    "200OK",
    " 200 OK",
    "200 OK\r\nX-Injected: 1",
    "200 OK\n",
    "200 O\x00K",
    "200 \u20ac",  # not latin-1
    b"200 OK",  # bytes, not a native str
    # RFC 9110 section 15.2: a 1xx is interim; it cannot be the final response of a request.
    "100 Continue",
    "101 Switching Protocols",
    "103 Early Hints",
]

BAD_HEADERS: list[Any] = [
    [("X Space", "v")],
    [("X:Colon", "v")],
    [("", "v")],
    [("X-\u00e9", "v")],
    [("X-Ok", "a\r\nX-Injected: 1")],
    [("X-Ok", "a\nb")],
    [("X-Ok", "a\rb")],
    [("X-Ok", "a\x00b")],
    [("X-Ok", "\u20ac")],
    [(b"X-Bytes", "v")],
    [("X-Bytes", b"v")],
    [("X-Ok", 5)],
    [("X-Ok", "v", "extra")],
    [(["X-List"], "v")],  # unhashable name
    ("X-Ok", "v"),  # not a list of tuples
    [("Connection", "close")],
    [("Keep-Alive", "timeout=5")],
    [("Transfer-Encoding", "chunked")],
    [("Upgrade", "websocket")],
    [("TE", "trailers")],
    [("Proxy-Authenticate", "Basic")],
    [("CONNECTION", "keep-alive")],
]


def _start_and_record(
    status: Any, headers: Any, caught: list[BaseException]
) -> WSGIApp:
    from wsgicore import ApplicationError

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            start_response(status, headers)
        except ApplicationError as exc:
            caught.append(exc)
            raise
        return [b"body"]

    return app


@pytest.mark.parametrize("status", BAD_STATUS, ids=repr)
def test_bad_status_raises_application_error(status: Any) -> None:
    from wsgicore import ApplicationError

    caught: list[BaseException] = []
    run = run_connection(
        _start_and_record(status, [("Content-Type", "text/plain")], caught), GET11, config=plain()
    )
    assert len(caught) == 1, "start_response must raise ApplicationError"
    resp = one(run.output)
    assert resp.status == 500
    assert b"X-Injected" not in run.output
    assert isinstance(run.problems[0].exc_info[1], ApplicationError)


@pytest.mark.parametrize("headers", BAD_HEADERS, ids=repr)
def test_bad_headers_raise_application_error(headers: Any) -> None:
    from wsgicore import ApplicationError

    caught: list[BaseException] = []
    run = run_connection(_start_and_record("200 OK", headers, caught), GET11, config=plain())
    assert len(caught) == 1, "start_response must raise ApplicationError"
    resp = one(run.output)
    assert resp.status == 500
    assert b"X-Injected" not in run.output
    assert isinstance(run.problems[0].exc_info[1], ApplicationError)


# ------------------------------------------------------------------ Content-Length mismatch


def test_declared_length_larger_than_body_closes() -> None:
    app = gen_app([b"abc"], headers=[("Content-Length", "10")])
    follow = b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
    run = run_connection(app, GET11 + follow, config=plain())
    assert len(run.infos) == 1, "the connection must close after a short body"
    assert run.infos[0].keep_alive is False
    responses = parse_responses(run.output, allow_incomplete=True)
    assert len(responses) == 1
    assert responses[0].get(b"content-length") == b"10"
    assert responses[0].body == b"abc"
    assert responses[0].complete is False
    assert len(run.problems) == 1


def test_declared_length_smaller_than_body_truncates_and_closes() -> None:
    app = gen_app([b"abc", b"defgh"], headers=[("Content-Length", "4")])
    follow = b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
    run = run_connection(app, GET11 + follow, config=plain())
    assert len(run.infos) == 1
    assert run.infos[0].keep_alive is False
    assert run.infos[0].body_bytes == 4
    resp = one(run.output)
    assert resp.body == b"abcd"
    assert b"efgh" not in run.output
    assert len(run.problems) == 1


def test_declared_length_list_smaller_truncates() -> None:
    app = simple_app([b"0123456789"], headers=[("Content-Length", "3")])
    run = run_connection(app, GET11, config=plain())
    resp = one(run.output)
    assert resp.get(b"content-length") == b"3"
    assert resp.body == b"012"
    assert run.output.endswith(b"\r\n\r\n012")
    assert run.infos[0].keep_alive is False


# ------------------------------------------------------------------ close() exactly once


class TrackedBody:
    """An iterable with close() that counts calls; may fail while iterating or closing."""

    def __init__(
        self,
        items: Sequence[Any],
        fail_at: int | None = None,
        close_raises: bool = False,
    ) -> None:
        self.items = list(items)
        self.fail_at = fail_at
        self.close_raises = close_raises
        self.closed = 0
        self.consumed = 0

    def __iter__(self) -> Iterator[Any]:
        for index, item in enumerate(self.items):
            if index == self.fail_at:
                raise RuntimeError("iteration failed")
            self.consumed += 1
            yield item
        if self.fail_at == len(self.items):
            raise RuntimeError("iteration failed at the end")

    def close(self) -> None:
        self.closed += 1
        if self.close_raises:
            raise OSError("close failed")


@dataclass
class ClosePath:
    id: str
    body: TrackedBody
    request: bytes = GET11
    status: str = "200 OK"
    headers: list[tuple[str, str]] = field(default_factory=lambda: [("Content-Type", "a/b")])
    fully_consumed: bool = False


CLOSE_PATHS = [
    ClosePath("normal", TrackedBody([b"a", b"b"]), fully_consumed=True),
    ClosePath("head", TrackedBody([b"a", b"b"]), request=HEAD11, fully_consumed=True),
    ClosePath("204", TrackedBody([b"", b""]), status="204 No Content", headers=[],
              fully_consumed=True),
    ClosePath("fail-first", TrackedBody([b"a"], fail_at=0)),
    ClosePath("fail-after-headers", TrackedBody([b"a", b"b"], fail_at=1)),
    ClosePath("fail-at-end", TrackedBody([b"a"], fail_at=1)),
    ClosePath("str-chunk", TrackedBody(["text"])),
    ClosePath("str-chunk-after-bytes", TrackedBody([b"a", "text"])),
    ClosePath("too-long", TrackedBody([b"abc", b"def"]), headers=[("Content-Length", "2")]),
    ClosePath("too-short", TrackedBody([b"a"]), headers=[("Content-Length", "9")]),
    ClosePath("close-raises", TrackedBody([b"a"], close_raises=True), fully_consumed=True),
    ClosePath("http10", TrackedBody([b"a", b"b"]), request=GET10, fully_consumed=True),
]


@pytest.mark.parametrize("path", CLOSE_PATHS, ids=lambda p: p.id)
def test_close_called_exactly_once(path: ClosePath) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response(path.status, path.headers)
        return path.body

    run = run_connection(app, path.request, config=plain())
    assert path.body.closed == 1
    if path.fully_consumed:
        assert path.body.consumed == len(path.body.items)
    assert len(run.infos) == 1
    if path.id == "close-raises":
        assert one(run.output).status == 200
        assert len(run.problems) == 1


@pytest.mark.parametrize("length", [None, "40"], ids=["chunked", "content-length"])
@pytest.mark.parametrize("fail_on_call", [1, 2, 3])
def test_send_raising_broken_pipe_propagates_after_close(fail_on_call: int, length: str | None) -> None:
    from wsgicore import Connection, ConnectionClosed, RequestReceived

    body = TrackedBody([b"a" * 10, b"b" * 10, b"c" * 10, b"d" * 10])
    calls = 0

    def send(data: bytes) -> None:
        nonlocal calls
        calls += 1
        if calls >= fail_on_call:
            raise BrokenPipeError("client gone")

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "a/b")]
                       + ([] if length is None else [("Content-Length", length)]))
        return body

    conn = Connection(plain(), peer=PEER, sockname=SOCKNAME)
    conn.receive_data(GET11 + GET11)
    event = conn.next_event()
    assert isinstance(event, RequestReceived)
    event.environ["wsgi.input"] = conn.input_stream(lambda size: b"")
    event.environ["wsgi.errors"] = io.StringIO()
    with pytest.raises(BrokenPipeError, match="client gone"):
        conn.run_app(app, event.environ, send)
    assert body.closed == 1
    conn.send_failed()
    assert isinstance(conn.next_event(), ConnectionClosed)


def test_send_raising_with_list_body_closes_once() -> None:
    from wsgicore import Connection, RequestReceived

    body = TrackedBody([b"only"])

    def send(data: bytes) -> None:
        raise ConnectionResetError("reset")

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [])
        return body

    conn = Connection(plain(), peer=PEER, sockname=SOCKNAME)
    conn.receive_data(GET11)
    event = conn.next_event()
    assert isinstance(event, RequestReceived)
    event.environ["wsgi.input"] = conn.input_stream(lambda size: b"")
    event.environ["wsgi.errors"] = io.StringIO()
    with pytest.raises(ConnectionResetError):
        conn.run_app(app, event.environ, send)
    assert body.closed == 1


# ------------------------------------------------------------------ keep-alive


def test_two_pipelined_requests_in_one_chunk() -> None:
    from wsgidrivers.memory import exchange

    data = (
        b"GET /first?a=1 HTTP/1.1\r\nHost: h\r\n\r\n"
        b"POST /second HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz"
    )
    for out in (
        exchange(echo_app, data, config=plain()),
        run_connection(echo_app, data, config=plain()).output,
    ):
        responses = final_responses(out)
        assert [r.body for r in responses] == [b"GET /first?a=1\n", b"POST /second?\nxyz"]
        assert all(r.status == 200 for r in responses)


@pytest.mark.parametrize(
    "unread",
    [
        b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789",
        b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nabcd\r\n3;x=y\r\nefg\r\n0\r\nTrailer: t\r\n\r\n",
    ],
    ids=["content-length", "chunked"],
)
def test_unread_small_body_is_drained(unread: bytes) -> None:
    follow = b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
    run = run_connection(simple_app([b"x"]), unread + follow, config=plain())
    assert [e["PATH_INFO"] for e in run.environs] == ["/a", "/b"]
    assert len(final_responses(run.output)) == 2
    # Byte by byte too: the drain must not depend on how the body arrives.
    data = unread + follow
    run2 = run_connection(
        simple_app([b"x"]), [data[i : i + 1] for i in range(len(data))], config=plain()
    )
    assert [e["PATH_INFO"] for e in run2.environs] == ["/a", "/b"]
    assert run2.output == run.output


def test_unread_body_over_max_drain_closes() -> None:
    body = b"z" * 100
    data = (
        b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n"
        + body
        + b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    run = run_connection(simple_app([b"x"]), data, config=plain(max_drain_bytes=16))
    assert [e["PATH_INFO"] for e in run.environs] == ["/a"]
    assert len(final_responses(run.output)) == 1
    from wsgicore import ConnectionClosed

    assert isinstance(run.events[-1], ConnectionClosed)


# ------------------------------------------------------------------ Expect: 100-continue


def _expect_run(
    mode: str, head: bytes, body_pieces: Sequence[bytes], read: bool
) -> tuple[bytes, list[bytes], bytes]:
    """Feed ``head`` only, run the app; returns (data_to_send right after the head,
    the output seen at each fetch, the full output)."""
    from wsgicore import Connection, RequestReceived

    conn = Connection(plain(expect_continue=mode), peer=PEER, sockname=SOCKNAME)
    conn.receive_data(head)
    event = conn.next_event()
    assert isinstance(event, RequestReceived)
    after_head = conn.data_to_send()
    out = bytearray(after_head)
    at_fetch: list[bytes] = []
    pieces = iter(body_pieces)

    def fetch(size: int) -> bytes:
        out.extend(conn.data_to_send())
        at_fetch.append(bytes(out))
        return next(pieces, b"")

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        got = environ["wsgi.input"].read(5) if read else b""
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"got:" + got]

    event.environ["wsgi.input"] = conn.input_stream(fetch)
    event.environ["wsgi.errors"] = io.StringIO()
    conn.run_app(app, event.environ, out.extend)
    out.extend(conn.data_to_send())
    return after_head, at_fetch, bytes(out)


EXPECT_HEAD = b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"


def test_expect_on_read_sends_continue_when_app_reads() -> None:
    after_head, at_fetch, out = _expect_run("on_read", EXPECT_HEAD, [b"hello"], read=True)
    assert after_head == b""
    assert at_fetch[0] == CONTINUE
    assert out.startswith(CONTINUE)
    assert out.count(b"100 Continue") == 1
    final = final_responses(out)
    assert final[0].status == 200
    assert final[0].body == b"got:hello"


def test_expect_on_read_no_continue_without_read() -> None:
    after_head, _at_fetch, out = _expect_run("on_read", EXPECT_HEAD, [], read=False)
    assert after_head == b""
    assert b"100 Continue" not in out
    assert final_responses(out)[0].status == 200


def test_expect_on_read_no_continue_when_body_already_there() -> None:
    from wsgidrivers.memory import exchange

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        got = environ["wsgi.input"].read(5)
        start_response("200 OK", [])
        return [got]

    out = exchange(app, EXPECT_HEAD + b"hello", config=plain(expect_continue="on_read"))
    assert b"100 Continue" not in out
    assert final_responses(out)[0].body == b"hello"


def test_expect_immediate_sends_continue_at_once() -> None:
    after_head, _at_fetch, out = _expect_run("immediate", EXPECT_HEAD, [b"hello"], read=True)
    assert after_head == CONTINUE
    assert out.count(b"100 Continue") == 1
    assert final_responses(out)[0].body == b"got:hello"


def test_expect_immediate_via_exchange() -> None:
    from wsgidrivers.memory import exchange

    out = exchange(echo_app, EXPECT_HEAD + b"hello", config=plain(expect_continue="immediate"))
    assert out.startswith(CONTINUE)
    responses = parse_responses(out)
    assert [r.status for r in responses] == [100, 200]


@pytest.mark.parametrize("mode", ["on_read", "immediate"])
def test_expect_ignored_on_http10(mode: str) -> None:
    # RFC 9110 section 10.1.1: a 100-continue expectation in an HTTP/1.0 request is ignored.
    head = b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
    after_head, _at_fetch, out = _expect_run(mode, head, [b"hello"], read=True)
    assert after_head == b""
    assert b"100 Continue" not in out
    assert final_responses(out)[0].body == b"got:hello"


# ------------------------------------------------------------------ max_body_bytes


def test_declared_length_over_max_body_is_413_before_app() -> None:
    from wsgicore import Connection, RemoteProtocolError
    from wsgidrivers.memory import exchange

    data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n01234567890"
    called: list[int] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        called.append(1)
        start_response("200 OK", [])
        return []

    out = exchange(app, data, config=plain(max_body_bytes=10))
    assert called == []
    resp = one(out)
    assert resp.status == 413
    assert resp.connection_close

    conn = Connection(plain(max_body_bytes=10), peer=PEER, sockname=SOCKNAME)
    conn.receive_data(data)
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.status_code == 413
    assert info.value.response.startswith(b"HTTP/1.1 413 ")


def test_declared_length_at_max_body_is_fine() -> None:
    from wsgidrivers.memory import exchange

    data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789"
    out = exchange(echo_app, data, config=plain(max_body_bytes=10))
    assert one(out).body == b"POST /?\n0123456789"


CHUNKED_OVER = (
    b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n"
)


def test_chunked_over_max_body_during_read_is_413() -> None:
    from wsgicore import RequestBodyError
    from wsgidrivers.memory import exchange

    caught: list[RequestBodyError] = []

    app = body_error_app(caught, b"not reached")

    out = exchange(app, CHUNKED_OVER, config=plain(max_body_bytes=10), stream_chunked_body=True)
    assert len(caught) == 1
    assert isinstance(caught[0], OSError)
    assert caught[0].status_code == 413
    resp = one(out)
    assert resp.status == 413
    assert b"not reached" not in out


def test_chunked_over_max_body_after_headers_aborts() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"streaming"
        environ["wsgi.input"].read()
        yield b"never"

    run = run_connection(app, CHUNKED_OVER, config=plain(max_body_bytes=10))
    assert run.infos[0].aborted is True
    assert b"never" not in run.output
    assert run.infos[0].keep_alive is False
    resp = parse_responses(run.output, allow_incomplete=True)[0]
    assert resp.body == b"streaming"
    assert resp.complete is False  # no terminating chunk after a cut-off response
