"""The driver-facing loop (issue 26, item 2): ``Connection.next_action()`` says what to do next, and
what every driver used to write around ``next_event()`` (draining, the deadline's start, errors, the
unexpected PAUSED, lingering) is the core's, once."""

from __future__ import annotations

import ast
import io
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from core_support import echo_app, run_connection, split_at
from hypothesis import given, settings
from hypothesis import strategies as st

from wsgicore import (
    BODY_DEADLINE,
    HEAD_DEADLINE,
    IDLE_DEADLINE,
    Close,
    Config,
    Connection,
    LocalProtocolError,
    Receive,
    RemoteProtocolError,
    RequestReceived,
)

PLAIN = Config(clock=None, server_software=None)
GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
SRC = Path(__file__).resolve().parents[2] / "src"
# Connections for the loop comparisons: keep-alive, pipelining, bodies of both framings, 100-continue,
# HTTP/1.0, Connection: close, bad requests, a body cut by EOF.
SEEDS_FOR_LOOPS = [
    GET + GET,
    b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" + GET,
    b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3;e=1\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\nGET /n HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"PUT /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    b"GET /old HTTP/1.0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    GET + b"GET /bad HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
    b"\r\n\r\nGET /lead HTTP/1.1\r\nHost: x\r\n\r\n",
]


def ok(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [])
    return [b"ok"]


def respond(conn: Connection, action: object, app: Any = ok) -> bytes:
    assert isinstance(action, RequestReceived)
    wire: list[bytes] = []
    conn.run_app(app, action.environ, wire.append, fetch=lambda n: b"", errors=io.StringIO())
    return b"".join(wire)


def test_the_head_deadline_starts_once_per_head_and_the_idle_one_after_each_response() -> None:
    conn = Connection(PLAIN)
    assert conn.next_action() == Receive(HEAD_DEADLINE, starts=True)  # the first head: at the accept
    conn.receive_data(b"GET / HT")
    assert conn.next_action() == Receive(HEAD_DEADLINE, starts=False)  # the same head: it runs on
    conn.receive_data(b"TP/1.1\r\nHost: x\r\n\r\n")
    respond(conn, conn.next_action())
    assert conn.next_action() == Receive(IDLE_DEADLINE, starts=True)
    assert conn.next_action() == Receive(IDLE_DEADLINE, starts=False)
    conn.receive_data(b"GET /2 HTTP/1.1\r\n")  # the next head's first bytes: its deadline starts
    assert conn.next_action() == Receive(HEAD_DEADLINE, starts=True)
    assert conn.next_action() == Receive(HEAD_DEADLINE, starts=False)
    conn.receive_data(b"Host: x\r\n\r\nGET /3 HTTP/1.1\r\n")
    respond(conn, conn.next_action())
    # Part of the next head came with this request: its deadline starts after the response.
    assert conn.next_action() == Receive(HEAD_DEADLINE, starts=True)


def test_pipelined_requests_come_one_by_one_without_a_wait() -> None:
    conn = Connection(PLAIN)
    conn.receive_data(GET * 3)
    for _ in range(3):
        assert respond(conn, conn.next_action()).startswith(b"HTTP/1.1 200 OK\r\n")
    assert conn.next_action() == Receive(IDLE_DEADLINE, starts=True)


def test_an_unread_body_is_drained_inside_the_core() -> None:
    conn = Connection(PLAIN)
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    respond(conn, conn.next_action())  # the app never reads the body
    action = conn.next_action()
    assert isinstance(action, Receive)  # the rest of the body is still coming: no event for it
    conn.receive_data(b"defghij" + GET)
    action = conn.next_action()
    assert isinstance(action, RequestReceived)  # the next request, the body discarded
    assert action.environ["REQUEST_METHOD"] == "GET"


def test_an_undrainable_body_ends_the_connection_with_a_lingering_close() -> None:
    conn = Connection(Config(clock=None, server_software=None, max_drain_bytes=4))
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
    assert b"Connection: close" in respond(conn, conn.next_action())
    assert conn.next_action() == Close(b"", linger=True)  # the client is still sending


def test_a_bad_request_is_its_close_with_the_error_response() -> None:
    conn = Connection(PLAIN)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    action = conn.next_action()
    assert isinstance(action, Close)
    assert action.send.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert action.linger
    assert isinstance(action.error, RemoteProtocolError)
    assert action.error.status_code == 400
    assert conn.next_action() == Close(b"", linger=False)  # asked again: it has ended


def test_eof_and_connection_close_need_no_lingering() -> None:
    conn = Connection(PLAIN)
    conn.receive_data(b"")
    assert conn.next_action() == Close(b"", linger=False)
    conn = Connection(PLAIN)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    respond(conn, conn.next_action())
    assert conn.next_action() == Close(b"", linger=False)  # all it sent was read (RFC 9112 §9.6)


def test_asking_again_before_run_app_is_one_clear_error() -> None:
    conn = Connection(PLAIN)
    conn.receive_data(GET)
    assert isinstance(conn.next_action(), RequestReceived)
    with pytest.raises(LocalProtocolError, match="run_app"):
        conn.next_action()


def test_after_a_time_out_or_a_failed_send_the_connection_has_ended() -> None:
    conn = Connection(PLAIN)
    conn.receive_data(b"GET / HT")
    assert isinstance(conn.next_action(), Receive)
    assert conn.time_out().startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert conn.next_action() == Close(b"", linger=False)
    conn = Connection(PLAIN)
    conn.receive_data(GET)
    action = conn.next_action()
    assert isinstance(action, RequestReceived)

    def broken(data: bytes) -> None:
        raise ConnectionResetError

    with pytest.raises(ConnectionResetError):
        conn.run_app(ok, action.environ, broken, fetch=lambda n: b"")
    assert conn.next_action() == Close(b"", linger=False)


# -- buffer_body: the whole body before the application ---------------------------------------------


def test_buffer_body_waits_for_the_whole_body_with_a_deadline_per_receive() -> None:
    conn = Connection(Config(clock=None, server_software=None, max_body_bytes=100))
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
    first = conn.next_action(buffer_body=True)
    assert first == Receive(BODY_DEADLINE, starts=True, send=b"HTTP/1.1 100 Continue\r\n\r\n")
    conn.receive_data(b"3\r\nabc\r\n")
    assert conn.next_action(buffer_body=True) == Receive(BODY_DEADLINE, starts=True)
    conn.receive_data(b"2\r\nde\r\n0\r\n\r\n")
    action = conn.next_action(buffer_body=True)
    assert isinstance(action, RequestReceived)
    wire: list[bytes] = []
    conn.run_app(echo_app, action.environ, wire.append, errors=io.StringIO())  # no fetch
    assert b"".join(wire).endswith(b"POST /?\nabcde")


def test_buffer_body_over_the_limit_is_a_413_close() -> None:
    conn = Connection(Config(clock=None, server_software=None, max_body_bytes=4))
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n")
    action = conn.next_action(buffer_body=True)
    assert isinstance(action, Close)
    assert action.send.startswith(b"HTTP/1.1 413 Content Too Large\r\n")


def test_a_body_deadline_passing_is_a_408() -> None:
    conn = Connection(Config(clock=None, server_software=None, max_body_bytes=100))
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab")
    assert conn.next_action(buffer_body=True) == Receive(BODY_DEADLINE, starts=True)
    assert conn.time_out().startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert conn.next_action(buffer_body=True) == Close(b"", linger=False)


# -- the same wire bytes as the event loop -----------------------------------------------------------


def action_loop(app: Any, pieces: list[bytes], *, buffer_body: bool = False,
                config: Config | None = None) -> bytes:
    """A driver on next_action(): feed ``pieces`` (then EOF) as the core asks for bytes."""
    conn = Connection(config or PLAIN)
    chunks = iter(pieces)
    out = bytearray()

    def fetch(size: int) -> bytes:
        return next(chunks, b"")

    for _ in range(100_000):
        action = conn.next_action(buffer_body=buffer_body)
        if isinstance(action, RequestReceived):
            conn.run_app(app, action.environ, out.extend, fetch=None if buffer_body else fetch,
                         errors=io.StringIO())
        elif isinstance(action, Receive):
            out += action.send
            conn.receive_data(next(chunks, b""))
        else:
            out += action.send
            return bytes(out)
    raise AssertionError("the loop did not end")


@given(st.sampled_from(SEEDS_FOR_LOOPS), st.lists(st.integers(0, 4000), max_size=8))
@settings(max_examples=300, derandomize=True, deadline=None)
def test_the_action_loop_sends_what_the_event_loop_sends(data: bytes, cuts: list[int]) -> None:
    pieces = split_at(data, cuts)
    expected = run_connection(echo_app, pieces, config=PLAIN, peer=None, sockname=None).output
    assert action_loop(echo_app, pieces) == expected


@given(st.sampled_from(SEEDS_FOR_LOOPS), st.lists(st.integers(0, 4000), max_size=8))
@settings(max_examples=200, derandomize=True, deadline=None)
def test_buffering_the_body_changes_nothing_for_an_app_that_reads_it(data: bytes,
                                                                     cuts: list[int]) -> None:
    config = Config(clock=None, server_software=None, max_body_bytes=1 << 20)
    pieces = split_at(data, cuts)
    streamed = action_loop(echo_app, pieces, config=config)
    buffered = action_loop(echo_app, pieces, config=config, buffer_body=True)
    # The wire is the same except that a 100 Continue is sent as soon as the body is wanted.
    assert buffered.replace(b"HTTP/1.1 100 Continue\r\n\r\n", b"") == streamed.replace(
        b"HTTP/1.1 100 Continue\r\n\r\n", b"")


# -- no driver hand-writes the loop any more ----------------------------------------------------------


def test_every_driver_uses_next_action() -> None:
    """The drivers' loops are the core's: none calls next_event() or handles NEED_DATA/PAUSED."""
    offenders = []
    for path in sorted((SRC / "wsgidrivers").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(
                node, ast.Name) else None
            if name in ("next_event", "NEED_DATA", "PAUSED"):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno} {name}")  # type: ignore[attr-defined]
    assert not offenders, offenders
