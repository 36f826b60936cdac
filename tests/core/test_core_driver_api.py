"""The Connection calls drivers need beyond the basic loop, and the settings added for them."""

from __future__ import annotations

import io
from typing import Any

import pytest

from wsgicore import (
    NEED_DATA,
    PAUSED,
    BodyReceived,
    Config,
    Connection,
    ConnectionClosed,
    RemoteProtocolError,
    RequestComplete,
    RequestReceived,
)
from wsgidrivers.memory import exchange

PLAIN = Config(server_software=None)
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def ok_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return [b"ok"]


def _request(conn: Connection, data: bytes) -> RequestReceived:
    conn.receive_data(data)
    event = conn.next_event()
    assert isinstance(event, RequestReceived)
    return event


def test_body_events_trigger_100_continue_and_replay_into_wsgi_input() -> None:
    conn = Connection(PLAIN)
    event = _request(conn, b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
    assert conn.data_to_send() == b""  # "on_read": nothing until somebody wants the body
    assert conn.next_event() is NEED_DATA
    assert conn.data_to_send() == CONTINUE
    conn.receive_data(b"abc")
    assert conn.next_event() == BodyReceived(b"abc")
    assert conn.next_event() == RequestComplete()
    assert conn.next_event() is PAUSED
    stream = conn.input_stream(lambda size: pytest.fail("the body is complete; no fetch"))  # type: ignore[no-any-return]
    assert stream.read() == b"abc"
    assert stream.read() == b""
    out: list[bytes] = []
    info = conn.run_app(ok_app, event.environ | {"wsgi.errors": io.StringIO()}, out.append)
    assert info.keep_alive  # the body was read, so the connection can stay open


def test_close_after_response_marks_the_response_and_ends_the_connection() -> None:
    conn = Connection(PLAIN)
    event = _request(conn, b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n")
    conn.close_after_response()
    out: list[bytes] = []
    info = conn.run_app(ok_app, event.environ, out.append)
    assert b"".join(out) == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    assert not info.keep_alive
    assert isinstance(conn.next_event(), ConnectionClosed)  # the pipelined request is never parsed


def test_time_out_answers_408_for_a_partial_head_and_nothing_when_idle() -> None:
    partial = Connection(PLAIN)
    partial.receive_data(b"GET / HTTP/1.1\r\nHo")
    assert partial.next_event() is NEED_DATA
    response = partial.time_out()
    assert response.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"Connection: close\r\n" in response
    assert isinstance(partial.next_event(), ConnectionClosed)
    idle = Connection(PLAIN)
    assert idle.time_out() == b""
    assert isinstance(idle.next_event(), ConnectionClosed)


@pytest.mark.parametrize(
    ("status", "phrase"),
    [(413, b"Content Too Large"), (414, b"URI Too Long"), (431, b"Request Header Fields Too Large")],
)
def test_error_responses_use_rfc9110_reason_phrases(status: int, phrase: bytes) -> None:
    requests = {
        413: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n",
        414: b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        431: b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 9000 + b"\r\n\r\n",
    }
    out = exchange(ok_app, requests[status], config=Config(max_body_bytes=5))
    assert out.startswith(b"HTTP/1.1 %d %s\r\n" % (status, phrase))


def test_server_software_reaches_the_environ_and_the_server_header() -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        return ok_app(environ, start_response)

    out = exchange(app, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", config=Config(server_software="Demo/1"))
    assert seen["SERVER_SOFTWARE"] == "Demo/1"
    assert b"\r\nServer: Demo/1\r\n" in out
    seen.clear()
    exchange(app, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", config=PLAIN)
    assert "SERVER_SOFTWARE" not in seen


@pytest.mark.parametrize(("separator", "joined"), [(", ", "a, b"), (",", "a,b")])
def test_field_separator(separator: str, joined: str) -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        return ok_app(environ, start_response)

    request = b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\nX: b\r\nCookie: c=1\r\nCookie: d=2\r\n\r\n"
    exchange(app, request, config=Config(field_separator=separator))
    assert seen["HTTP_X"] == joined
    assert seen["HTTP_COOKIE"] == "c=1; d=2"


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="field_separator"):
        Config(field_separator=";")
    with pytest.raises(ValueError, match="server_error_body"):
        Config(server_error_body="text")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_request_line"):
        Config(max_request_line=0)


def test_server_error_body_is_configurable_and_wsgiref_compatible_uses_wsgirefs() -> None:
    def failing(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise RuntimeError("secret detail")

    out = exchange(failing, b"GET / HTTP/1.0\n\n", config=Config.wsgiref_compatible(), errors=io.StringIO())
    assert out.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert out.endswith(b"\r\n\r\nA server error occurred.  Please contact the administrator.")
    assert b"secret" not in out


@pytest.mark.parametrize(
    "target", [b'/a"b', b"/<x>", b"/?q=<b>", b"/a\\b", b"/..\\..\\etc", b"/{a}", b"/a`b",
               b"http://h/a\\b"]
)
def test_target_characters_that_clients_always_encode_are_refused(target: bytes) -> None:
    out = exchange(ok_app, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n", config=PLAIN)
    assert out.startswith(b"HTTP/1.1 400 ")


@pytest.mark.parametrize(
    "target", [b"/?a[b]=1", b"/x|y", b"/a^b", b"/[x]", b"/?q={a}", b"/?q=a\\b", b"/?q=`", b"/?q=|^"]
)
def test_target_characters_browsers_send_raw_are_accepted(target: bytes) -> None:
    out = exchange(ok_app, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n", config=PLAIN)
    assert out.startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 501),
        (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", 501),
        (b"Content-Length: 0\r\nContent-Length: 0\r\n", 400),
        (b"Host: y\r\n", 400),
    ],
)
def test_adjacent_repeated_framing_fields_are_all_seen(fields: bytes, status: int) -> None:
    request = b"POST / HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n0\r\n\r\n"
    out = exchange(ok_app, request, config=PLAIN)
    assert out.startswith(b"HTTP/1.1 %d " % status)


def test_500_for_a_head_request_has_no_body() -> None:
    def failing(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise RuntimeError("boom")

    out = exchange(failing, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", config=PLAIN, errors=io.StringIO())
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500 ")
    assert b"Content-Length: " in head
    assert body == b""


def _read_body_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    environ["wsgi.input"].read()
    start_response("200 OK", [])
    return [b"never"]


@pytest.mark.parametrize(
    ("failure", "status", "starts"),
    [(TimeoutError("timed out"), 408, b"HTTP/1.1 408 Request Timeout\r\n"), (ConnectionResetError(), 0, b"")],
)
def test_a_failed_body_read_is_not_the_apps_fault(failure: Exception, status: int, starts: bytes) -> None:
    conn = Connection(PLAIN)
    event = _request(conn, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab")

    def fetch(size: int) -> bytes:
        raise failure

    problems: list[Any] = []
    environ = event.environ | {"wsgi.input": conn.input_stream(fetch), "wsgi.errors": io.StringIO()}
    out: list[bytes] = []
    info = conn.run_app(_read_body_app, environ, out.append, on_problem=problems.append)
    sent = b"".join(out)
    assert info.status == status
    assert sent.startswith(starts)
    assert b"never" not in sent
    assert b"timed out" not in sent  # the exception text is for the log, not the client
    assert [p.exc_info for p in problems] == [None]  # one line, no traceback
    assert not info.keep_alive
    assert isinstance(conn.next_event(), ConnectionClosed)


@pytest.mark.parametrize(
    ("request_bytes", "config", "status"),
    [
        (b"HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", Config(max_body_bytes=10), 413),
        (b"HEAD / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", PLAIN, 400),
    ],
)
def test_protocol_error_responses_to_head_have_no_body(
    request_bytes: bytes, config: Config, status: int
) -> None:
    out = exchange(_read_body_app, request_bytes, config=config, errors=io.StringIO())
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status)
    assert body == b""


def test_peer_may_still_send() -> None:
    # A complete exchange: nothing the client may still be sending.
    done = Connection(PLAIN)
    event = _request(done, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    done.run_app(ok_app, event.environ, [].append)
    assert isinstance(done.next_event(), ConnectionClosed)
    assert not done.peer_may_still_send
    # Unread body: the client may still be uploading.
    unread = Connection(PLAIN)
    event = _request(unread, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nab")
    unread.run_app(ok_app, event.environ, [].append)
    assert isinstance(unread.next_event(), ConnectionClosed)  # more than max_drain_bytes left
    assert unread.peer_may_still_send
    # Bytes after the request that will never be parsed (HTTP/1.0 closes after one response).
    trailing = Connection(PLAIN)
    event = _request(trailing, b"GET / HTTP/1.0\r\n\r\nGET /next HTTP/1.0\r\n\r\n")
    trailing.run_app(ok_app, event.environ, [].append)
    assert isinstance(trailing.next_event(), ConnectionClosed)
    assert trailing.peer_may_still_send
    # A protocol error: framing is in doubt.
    failed = Connection(PLAIN)
    failed.receive_data(b"GET / HTTP/1.1\r\n\r\n")  # no Host
    with pytest.raises(RemoteProtocolError):
        failed.next_event()
    assert failed.peer_may_still_send
    # After EOF nothing more can come.
    failed.receive_data(b"")
    assert not failed.peer_may_still_send


@pytest.mark.parametrize(("request_bytes", "expected"), [
    # The client said it sends nothing more (RFC 9112 §9.6) and all of it was read: close at once.
    (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", True),
    (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: TE, Close\r\n\r\n", True),
    (b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n\r\nab", True),
    # The server closes but the client did not promise anything: it may pipeline: linger.
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", False),
    (b"GET / HTTP/1.0\r\n\r\n", False),
    (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: closed\r\n\r\n", False),
    # It said close, but sent more than was read (an unread body, bytes after the request).
    (b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 100000\r\n\r\nab",
     False),
    (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n", False),
])
def test_can_close_at_once(request_bytes: bytes, expected: bool) -> None:
    conn = Connection(PLAIN.replace(keep_alive=False))  # as simple_server: one request each
    event = _request(conn, request_bytes)
    environ = dict(event.environ, **{"wsgi.input": conn.input_stream(lambda size: b"")})
    conn.run_app(_read_body_app if b"Length: 2\r" in request_bytes else ok_app, environ, [].append)
    assert isinstance(conn.next_event(), ConnectionClosed)
    assert conn.can_close_at_once is expected
    conn.receive_data(b"")  # after the client's EOF nothing more can come, whatever it said
    assert conn.can_close_at_once


def test_body_pieces_received_after_the_head_pass_through_and_keep_the_next_request() -> None:
    # Head alone, then one piece holding the rest of the body *and* a pipelined request, then a piece
    # of body for that second request: the pass-through must cut at the body's end and keep order.
    seen: list[tuple[str, bytes]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append((environ["PATH_INFO"], environ["wsgi.input"].read()))
        start_response("200 OK", [])
        return [b"ok"]

    pieces = [
        b"POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n",
        b"hel",
        b"loPOST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nab",
        b"c",
    ]
    out = exchange(app, pieces, config=PLAIN)
    assert seen == [("/one", b"hello"), ("/two", b"abc")]
    assert out.count(b"HTTP/1.1 200 OK") == 2
