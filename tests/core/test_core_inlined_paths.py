"""Rules that the per-request path has inline, for speed, and states once elsewhere: the inline copy
must give what the one statement gives, on every connection the loop tests walk."""

from __future__ import annotations

import ast
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from core_support import echo_app, split_at
from hypothesis import given, settings
from hypothesis import strategies as st
from test_core_next_action import SEEDS_FOR_LOOPS

from wsgicore import (
    BODY_DEADLINE,
    HEAD_DEADLINE,
    ApplicationError,
    Config,
    Connection,
    LocalProtocolError,
    Receive,
    RequestReceived,
    _connection,
)
from wsgicore._abnf import CONTENT_LENGTH_TEXT, FORBIDDEN_IN_FIELD_VALUE_TEXT
from wsgicore._head_scanner import HeadScanner, RequestLine
from wsgicore._response import ResponseWriter
from wsgicore._response_heads import serialize_head
from wsgicore._state import PHASE_MOVES, ConnectionState, Input

PLAIN = Config(clock=None, server_software=None)
_REQUEST_FIELDS = ("_body", "_body_error", "_peer_said_close", "_replay", "_drained", "_method",
                   "_http11")


def _request_fields(conn: Connection) -> dict[str, object]:
    return {name: getattr(conn, name) for name in _REQUEST_FIELDS}


@given(st.sampled_from(SEEDS_FOR_LOOPS), st.lists(st.integers(0, 4000), max_size=8),
       st.booleans())
@settings(max_examples=300, derandomize=True, deadline=None)
def test_next_action_waits_under_the_deadline_the_rule_gives(data: bytes, cuts: list[int],
                                                            buffer_body: bool) -> None:
    """``next_action()`` has ``_wait_kind`` inline: every ``Receive`` names the deadline the
    ``deadline`` property (which calls it) names, a body's being the head's there."""
    conn = Connection(Config(clock=None, server_software=None, max_body_bytes=1 << 20))
    chunks = iter(split_at(data, cuts))
    for _ in range(100_000):
        action = conn.next_action(buffer_body=buffer_body)
        if isinstance(action, RequestReceived):
            conn.run_app(echo_app, action.environ, lambda data: None,
                         fetch=None if buffer_body else (lambda size: next(chunks, b"")),
                         errors=io.StringIO())
        elif isinstance(action, Receive):
            kind = conn._wait_kind()
            assert action.deadline == kind
            assert conn.deadline == (HEAD_DEADLINE if kind == BODY_DEADLINE else kind)
            conn.receive_data(next(chunks, b""))
        else:
            return
    raise AssertionError("the loop did not end")


@given(st.sampled_from(SEEDS_FOR_LOOPS), st.lists(st.integers(0, 4000), max_size=8))
@settings(max_examples=200, derandomize=True, deadline=None)
def test_each_cycle_starts_with_the_request_data_of_a_new_connection(data: bytes,
                                                                     cuts: list[int]) -> None:
    """``_end_cycle`` has ``_new_request_state`` inline: when a head arrives, the data of the
    request before it is reset to exactly what ``_new_request_state`` sets."""
    conn = Connection(PLAIN)
    fresh = _request_fields(conn)
    chunks = iter(split_at(data, cuts))
    for _ in range(100_000):
        before = _request_fields(conn)
        action = conn.next_action()
        if isinstance(action, RequestReceived):
            conn.run_app(echo_app, action.environ, lambda data: None,
                         fetch=lambda size: next(chunks, b""), errors=io.StringIO())
        elif isinstance(action, Receive):
            conn.receive_data(next(chunks, b""))
        else:
            return
        if conn._requests and conn._state.phase == "waiting for a request head":
            # A cycle ended (or none began): what is reset is exactly a new connection's.
            current = _request_fields(conn)
            assert current == fresh, (before, current)
    raise AssertionError("the loop did not end")


def test_the_connection_sets_the_phase_only_from_the_phase_table() -> None:
    """``Connection`` moves the phase of every request inline: each ``<state>.phase = X`` in it takes
    X from a lookup in one of the :data:`PHASE_MOVES` views (``_AFTER_*``), as ``move()`` would."""
    source = (Path(_connection.__file__)).read_text(encoding="utf-8")
    tree = ast.parse(source)
    views = {name for name in vars(_connection) if name.startswith("_AFTER_")}
    assert views == {"_AFTER_HEAD", "_AFTER_RUN_APP", "_AFTER_RESPONSE"}
    for view, event in (("_AFTER_HEAD", Input.HEAD), ("_AFTER_RUN_APP", Input.RUN_APP),
                        ("_AFTER_RESPONSE", Input.RESPONSE)):
        assert getattr(_connection, view) is PHASE_MOVES[event]
    stores = 0
    for function in (node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)):
        from_table = {target.id for node in ast.walk(function) if isinstance(node, ast.Assign)
                      and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute)
                      and isinstance(node.value.func.value, ast.Name)
                      and node.value.func.value.id in views and node.value.func.attr == "get"
                      for target in node.targets if isinstance(target, ast.Name)}
        for node in ast.walk(function):
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr == "phase":
                    where = f"Connection.{function.name}: {ast.unparse(node)}"
                    assert isinstance(node, ast.Assign), where
                    assert isinstance(node.value, ast.Name), where
                    assert node.value.id in from_table, f"{where} sets the phase around the table"
                    stores += 1
    assert stores == 3


def test_a_response_move_refused_inline_raises_what_move_raises() -> None:
    """The transport failed while the app ran (the driver called ``send_failed()``): the connection
    is closed, and the end of the response is refused with ``move()``'s error."""
    conn = Connection(PLAIN)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    action = conn.next_action()
    assert isinstance(action, RequestReceived)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        conn.send_failed()
        start_response("200 OK", [])
        return [b"ok"]

    expected = ConnectionState(True)
    expected.move(Input.CLOSE)
    with pytest.raises(LocalProtocolError) as refused:
        expected.move(Input.RESPONSE)
    with pytest.raises(LocalProtocolError) as raised:
        conn.run_app(app, action.environ, lambda data: None, errors=io.StringIO())
    assert str(raised.value) == str(refused.value)
    assert "closed" in str(raised.value)


@pytest.mark.parametrize(("fields", "added"), [
    ([("Content-Type", "text/plain")], "Content-Length: 2\r\nDate: D\r\nServer: S\r\n"),
    ([("Date", "mine")], "Content-Length: 2\r\nServer: S\r\n"),
    ([("Server", "mine"), ("Content-Length", "2")], "Date: D\r\n"),
    ([("server", "mine"), ("date", "mine")], "Content-Length: 2\r\n"),
])
@pytest.mark.parametrize("server", ["Server: S\r\n", None])
def test_the_writer_writes_the_head_serialize_head_writes(fields: list[tuple[str, str]], added: str,
                                                          server: str | None) -> None:
    """``ResponseWriter._emit_head`` has ``serialize_head`` inline, with the ``Date`` and ``Server``
    lines as pieces: the same bytes, the server's lines after the application's."""
    wire: list[bytes] = []
    writer = ResponseWriter(wire.append, False, True, None, ConnectionState(True), lambda: "Date: D\r\n",
                            server, lambda problem: None)
    writer.start_response("200 OK", fields)
    writer.write_whole(b"ok")
    if server is None:
        added = added.replace("Server: S\r\n", "")
    app_lines = "".join(f"{name}: {value}\r\n" for name, value in fields)
    assert wire == [serialize_head("200 OK", app_lines + added) + b"ok"]


class _Text(str):
    pass


@pytest.mark.parametrize("item", [
    ("A", "1", "extra"), ("A",), (), ["A", "1"], "AB", ("A", "1", _Text("x")),
    (_Text("A"), "1", "2"), (b"A", b"1", b"2"),
])
@pytest.mark.parametrize("cached_first", [False, True])
def test_a_header_that_is_no_pair_is_refused_as_before(item: Any, cached_first: bool) -> None:
    """The pair is checked by unpacking it: one of another length (or no tuple) is refused with
    the same error, and the error has no ``ValueError`` of the unpacking as its context."""
    headers = [("Content-Type", "text/plain"), item] if cached_first else [item]
    writer = ResponseWriter(lambda data: None, False, True, None, ConnectionState(True), None, None,
                            lambda problem: None)
    with pytest.raises(ApplicationError) as raised:
        writer.start_response("200 OK", headers)
    assert str(raised.value) == f"each header must be a (name, value) tuple, not {item!r}"
    assert raised.value.__context__ is None
    assert not writer.head_sent
    writer.start_response("200 OK", [("A", "1")])  # no status was set: a new call is the first
    writer.write_whole(b"")


def test_a_pair_refused_while_the_app_handles_an_error_has_that_error_as_its_context() -> None:
    writer = ResponseWriter(lambda data: None, False, True, None, ConnectionState(True), None, None,
                            lambda problem: None)
    handled = KeyError("the app's")

    def app_error_handler() -> None:
        try:
            raise handled
        except KeyError:
            writer.start_response("500 Oops", [("A", "1", "2")])

    with pytest.raises(ApplicationError) as raised:
        app_error_handler()
    assert raised.value.__context__ is handled


# -- field values and Content-Length checked with str methods, the grammar's regexes the reference ----

_VALUES = ["", "text/plain", " lead and trail ", "a\tb", "\t", "caf\xe9", "\x80\xff", "\x85", "\xa0",
           "\x7f", "a\x00b", "a\rb", "a\nb", "\x1f", "\u0100", "\u2028", "\U0001f600", "~", " "]
_LENGTHS = ["0", "13", " 13\t", "\t7 ", "0" * 18, "9" * 18, "1" * 19, "", " ", "+1", "-1", "1_0",
            "1 2", "\xb2", "1\xb2", "\u0661", "\uff11", "0x1", "1.0", "\x0b1"]


def _accepts(name: str, value: str) -> bool:
    writer = ResponseWriter(lambda data: None, False, True, None, ConnectionState(True), None, None,
                            lambda problem: None)
    try:
        writer.start_response("200 OK", [(name, value)])
    except ApplicationError:
        return False
    return True


@given(st.one_of(st.sampled_from(_VALUES), st.text(st.characters(max_codepoint=0x17F), max_size=6)))
@settings(max_examples=400, derandomize=True, deadline=None)
def test_a_field_value_is_accepted_exactly_when_the_grammar_says(value: str) -> None:
    assert _accepts("X-Test", value) == (FORBIDDEN_IN_FIELD_VALUE_TEXT.search(value) is None)


@given(st.one_of(st.sampled_from(_LENGTHS),
                 st.text(st.characters(max_codepoint=0x17F), max_size=4),
                 st.text(st.sampled_from("0123456789 \t\xb2\u0661"), max_size=21)))
@settings(max_examples=400, derandomize=True, deadline=None)
def test_a_content_length_is_accepted_exactly_when_the_grammar_says(value: str) -> None:
    valid = (FORBIDDEN_IN_FIELD_VALUE_TEXT.search(value) is None
             and CONTENT_LENGTH_TEXT.fullmatch(value.strip(" \t")) is not None)
    assert _accepts("Content-Length", value) == valid


@pytest.mark.parametrize(("length", "date", "server"), [
    ("Content-Length", "Date", "Server"), ("content-length", "date", "server"),
    ("CONTENT-LENGTH", "DATE", "SERVER"), ("cOnTeNt-LeNgTh", "dAtE", "sErVeR"),
])
def test_a_field_name_has_its_kind_in_any_case(length: str, date: str, server: str) -> None:
    """The names memo keeps each name's kind (``Content-Length``, ``Date``, ``Server``, other), from
    its lower case, whatever the spelling and whichever spelling came first."""
    wire: list[bytes] = []
    writer = ResponseWriter(wire.append, False, True, None, ConnectionState(True), lambda: "Date: D\r\n",
                            "Server: S\r\n", lambda problem: None)
    with pytest.raises(ApplicationError, match="repeated Content-Length"):
        writer.start_response("200 OK", [("Content-Length", "2"), (length, "2")])
    writer.start_response("200 OK", [(length, "2"), (date, "d"), (server, "s")])
    writer.write_whole(b"ok")
    assert wire == [f"HTTP/1.1 200 OK\r\n{length}: 2\r\n{date}: d\r\n{server}: s\r\n\r\nok".encode()]


@pytest.mark.parametrize("head", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /a/b?c=d HTTP/1.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET http://x/y HTTP/1.1\r\nHost: x\r\n\r\n",
    b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n",
])
def test_the_fast_path_makes_the_request_line_the_class_makes(head: bytes) -> None:
    """``HeadScanner.scan`` makes the ``RequestLine`` of a head in one piece without ``__init__``:
    the same type and slots as the line-by-line path, which calls the class, gives."""
    whole = HeadScanner(PLAIN)
    assert whole.scan(bytearray(head), False) == len(head)
    assert whole.fast
    split = HeadScanner(PLAIN)
    buf = bytearray()
    for byte in head:
        buf.append(byte)
        end = split.scan(buf, False)
    assert end == len(head)
    assert not split.fast
    fast, slow = whole.request_line, split.request_line
    assert type(fast) is type(slow) is RequestLine
    assert [getattr(fast, name) for name in RequestLine.__slots__] == [
        getattr(slow, name) for name in RequestLine.__slots__]
    assert all(type(getattr(fast, name)) is type(getattr(slow, name)) for name in RequestLine.__slots__)
