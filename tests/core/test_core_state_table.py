"""The connection's state as data (issue 26, item 3): every (state, input) pair of every table, as h2
tests its state machine; keep-alive that only ever goes from on to off; a response writer whose
state changes only through its table, with ``head_sent`` read from that state.
"""

from __future__ import annotations

import ast
import io
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsgicore import (
    NEED_DATA,
    ApplicationError,
    Config,
    Connection,
    ConnectionClosed,
    LocalProtocolError,
    RemoteProtocolError,
    RequestReceived,
    _response,
)
from wsgicore._response import _NEXT, ResponseWriter, _ResponseState, _ResponseStep
from wsgicore._state import (
    TABLES,
    Body,
    BodyInput,
    CloseReason,
    ConnectionState,
    Continue,
    ContinueInput,
    Input,
    Phase,
)

CORE = Path(__file__).resolve().parents[2] / "src" / "wsgicore"


def _members(namespace: type) -> list[str]:
    return [value for name, value in vars(namespace).items() if not name.startswith("_")]


# (table name, its states, its inputs, the ConnectionState method that moves it)
SUBSTATES = [
    ("phase", _members(Phase), _members(Input), ConnectionState.move),
    ("body", _members(Body), _members(BodyInput), ConnectionState.move_body),
    ("expect", _members(Continue), _members(ContinueInput), ConnectionState.move_expect),
]
PAIRS = [(name, state, event, method)
         for name, states, events, method in SUBSTATES for state in states for event in events]


@pytest.mark.parametrize(("name", "state", "event", "method"), PAIRS,
                         ids=[f"{name}:{state}:{event}" for name, state, event, _ in PAIRS])
def test_every_state_and_input_pair(name: str, state: str, event: str,
                                    method: Callable[[ConnectionState, str], None]) -> None:
    """A pair in the table moves to its state; any other is refused and changes nothing."""
    connection = ConnectionState(keep_alive=True)
    setattr(connection, name, state)
    expected = TABLES[name].get((state, event))
    if expected is None:
        with pytest.raises(LocalProtocolError, match="not possible"):
            method(connection, event)
        assert getattr(connection, name) == state
    else:
        method(connection, event)
        assert getattr(connection, name) == expected


def test_the_lookup_views_hold_the_same_pairs() -> None:
    from wsgicore import _state

    for name, view in (("phase", _state._PHASES_BY_INPUT), ("body", _state._BODIES_BY_INPUT),
                       ("expect", _state._CONTINUES_BY_INPUT)):
        pairs = {(state, event): to for event, moves in view.items() for state, to in moves.items()}
        assert pairs == TABLES[name]


def test_the_tables_name_only_known_states_and_inputs() -> None:
    for name, states, events, _ in SUBSTATES:
        for (state, event), following in TABLES[name].items():
            assert state in states
            assert event in events
            assert following in states


@given(st.lists(st.sampled_from(PAIRS), max_size=40))
@settings(max_examples=300, derandomize=True)
def test_random_walks_follow_the_tables(steps: list[tuple[str, str, str, Any]]) -> None:
    """Inputs in any order: the state after each is the table's answer, or unchanged on a refusal."""
    connection = ConnectionState(keep_alive=True)
    for name, _state, event, method in steps:
        before = getattr(connection, name)
        expected = TABLES[name].get((before, event), before)
        try:
            method(connection, event)
        except LocalProtocolError:
            assert (before, event) not in TABLES[name]
        assert getattr(connection, name) == expected


@pytest.mark.parametrize(("phase", "body", "expect", "allowed"), [
    (Phase.RESPONDED, Body.NONE, Continue.NONE, True),
    (Phase.RESPONDED, Body.REPORTED, Continue.WAIVED, True),
    (Phase.RESPONDED, Body.UNREAD, Continue.NONE, False),  # not drained yet
    (Phase.RESPONDED, Body.FAILED, Continue.NONE, False),
    (Phase.RESPONDED, Body.NONE, Continue.OWED, False),  # keep-alive went off for it
    (Phase.REQUEST, Body.NONE, Continue.NONE, False),
])
def test_the_next_cycle_starts_only_from_a_finished_one(phase: str, body: str, expect: str,
                                                         allowed: bool) -> None:
    connection = ConnectionState(keep_alive=True)
    connection.phase, connection.body, connection.expect = phase, body, expect
    if allowed:
        connection.start_next_cycle()
        assert (connection.phase, connection.body, connection.expect) == (
            Phase.AWAIT_HEAD, Body.NONE, Continue.NONE)
    else:
        with pytest.raises(LocalProtocolError):
            connection.start_next_cycle()


def test_keep_alive_goes_off_once_and_keeps_its_first_reason() -> None:
    connection = ConnectionState(keep_alive=True)
    assert connection.keep_alive
    assert connection.close_reason is None
    connection.disable_keep_alive(CloseReason.HTTP10)
    connection.disable_keep_alive(CloseReason.APP_FAILED)
    assert not connection.keep_alive
    assert connection.close_reason == CloseReason.HTTP10
    assert ConnectionState(keep_alive=False).close_reason == CloseReason.CONFIG


# -- the one place keep-alive is decided ---------------------------------------------------------


def _stores(tree: ast.AST, attribute: str) -> list[int]:
    """Line numbers where ``<anything>.<attribute>`` is assigned."""
    lines = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            for part in ast.walk(target):
                if isinstance(part, ast.Attribute) and part.attr == attribute:
                    lines.append(node.lineno)
    return lines


def test_keep_alive_is_switched_only_by_the_state() -> None:
    for path in sorted(CORE.glob("*.py")):
        stores = _stores(ast.parse(path.read_text(encoding="utf-8")), "keep_alive")
        if path.name == "_state.py":
            continue
        assert not stores, f"{path.name} sets keep_alive itself (lines {stores}): use disable_keep_alive()"
    source = (CORE / "_state.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    setters = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
               and _stores(node, "keep_alive")}
    assert setters == {"__init__", "disable_keep_alive"}
    disable = next(node for node in ast.walk(tree)
                   if isinstance(node, ast.FunctionDef) and node.name == "disable_keep_alive")
    assert "self.keep_alive = True" not in ast.get_source_segment(source, disable)  # type: ignore[operator]


_TABLE_VIEWS = {"_NEXT", "_AFTER_START", "_AFTER_WHOLE"}


def test_the_writer_table_views_are_the_table() -> None:
    """The per-step dicts the hot paths read are exactly the table's pairs for that step."""
    for view, step in ((_response._AFTER_START, _ResponseStep.START),
                       (_response._AFTER_WHOLE, _ResponseStep.WHOLE)):
        assert view == {state: to for (state, each), to in _NEXT.items() if each == step}


def test_the_writer_state_changes_only_through_its_table() -> None:
    """Every ``self._state = X`` in the writer is its start, or X came from a lookup in the table
    (or one of its per-step views)."""
    source = (CORE / "_response.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    writer = next(node for node in tree.body
                  if isinstance(node, ast.ClassDef) and node.name == "ResponseWriter")
    for function in (node for node in ast.walk(writer) if isinstance(node, ast.FunctionDef)):
        from_table = {target.id for node in ast.walk(function) if isinstance(node, ast.Assign)
                      and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute)
                      and isinstance(node.value.func.value, ast.Name)
                      and node.value.func.value.id in _TABLE_VIEWS
                      for target in node.targets if isinstance(target, ast.Name)}
        for node in ast.walk(function):
            if not isinstance(node, ast.Assign):
                continue
            for target in node.targets:
                if isinstance(target, ast.Attribute) and target.attr == "_state":
                    value = node.value
                    if function.name == "__init__":
                        assert ast.unparse(value) == "_S.NO_STATUS"
                    else:
                        where = f"ResponseWriter.{function.name}: {ast.unparse(node)}"
                        assert isinstance(value, ast.Name), where
                        assert value.id in from_table, f"{where} sets _state around the table"


# -- the response writer's table, pair by pair --------------------------------------------------------


WRITER_STATES = _members(_ResponseState)
WRITER_STEPS = _members(_ResponseStep)


def _writer(state: str) -> ResponseWriter:
    connection = ConnectionState(keep_alive=True)
    writer = ResponseWriter(lambda data: None, False, True, lambda: connection.keep_alive, connection,
                            None, None, lambda message: None)
    writer._state = state
    return writer


@pytest.mark.parametrize("state", WRITER_STATES)
@pytest.mark.parametrize("step", WRITER_STEPS)
def test_every_writer_state_and_step_pair(state: str, step: str) -> None:
    writer = _writer(state)
    expected = _NEXT.get((state, step))
    if expected is None:
        with pytest.raises(ApplicationError):
            writer._move(step)
        assert writer._state == state
    else:
        writer._move(step)
        assert writer._state == expected
    assert writer.head_sent == (writer._state in (_ResponseState.HEADERS_SENT, _ResponseState.FINISHED))


def test_head_sent_follows_the_state() -> None:
    sent: list[bytes] = []
    connection = ConnectionState(keep_alive=True)
    writer = ResponseWriter(sent.append, False, True, lambda: connection.keep_alive, connection,
                            None, None, lambda message: None)
    assert not writer.head_sent
    writer.start_response("200 OK", [])
    assert not writer.head_sent
    writer.write(b"x")
    assert writer.head_sent
    assert sent
    writer.write_whole(b"y")  # after write(): a last chunk and the end, not a second head
    assert b"".join(sent).count(b"HTTP/1.1 200 OK") == 1
    assert writer._state == _ResponseState.FINISHED


def test_a_refused_status_leaves_no_status_set() -> None:
    writer = _writer(_ResponseState.NO_STATUS)
    with pytest.raises(ApplicationError):
        writer.start_response("2000 OK", [])
    assert writer._state == _ResponseState.NO_STATUS
    with pytest.raises(ApplicationError, match="before start_response"):
        writer.write(b"x")


# -- keep-alive over whole request cycles: on -> off, never back -----------------------------------


@st.composite
def _cycle(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "version": draw(st.sampled_from(["HTTP/1.1", "HTTP/1.1", "HTTP/1.0"])),
        "close": draw(st.booleans()),
        "body": draw(st.sampled_from(["none", "length", "chunked", "huge"])),
        "expect": draw(st.booleans()),
        "read": draw(st.sampled_from(["all", "some", "none"])),
        "app": draw(st.sampled_from(["ok", "short", "long", "raise", "raise_late", "write", "no_length"])),
        # close_after_response(): before the head arrives, after it, or not at all.
        "driver_close": draw(st.sampled_from([None] * 8 + ["before", "after"])),
    }


def _request(cycle: dict[str, Any]) -> bytes:
    lines = [f"POST / {cycle['version']}", "Host: x"]
    body = b""
    if cycle["close"]:
        lines.append("Connection: close")
    if cycle["body"] == "length":
        body = b"abcdef"
        lines.append("Content-Length: 6")
    elif cycle["body"] == "huge":
        body = b"z" * 300
        lines.append("Content-Length: 300")  # more than max_drain_bytes below
    elif cycle["body"] == "chunked" and cycle["version"] == "HTTP/1.1":
        body = b"3\r\nabc\r\n0\r\n\r\n"
        lines.append("Transfer-Encoding: chunked")
    if cycle["expect"] and body:
        lines.append("Expect: 100-continue")
    return "\r\n".join(lines).encode() + b"\r\n\r\n" + body


def _app(cycle: dict[str, Any]) -> Callable[[dict[str, Any], Any], Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        stream = environ["wsgi.input"]
        if cycle["read"] == "all":
            stream.read()
        elif cycle["read"] == "some":
            stream.read(1)
        kind = cycle["app"]
        if kind == "raise":
            raise RuntimeError("boom")
        if kind == "short":
            start_response("200 OK", [("Content-Length", "10")])
            return [b"ab"]
        if kind == "long":
            start_response("200 OK", [("Content-Length", "1")])
            return [b"ab"]
        if kind in ("write", "raise_late", "no_length"):
            write = start_response("200 OK", [])
            write(b"w")
            if kind == "raise_late":
                raise RuntimeError("late")
            return iter([b"x", b"y"])
        start_response("200 OK", [])
        return [b"ok"]

    return app


@given(st.lists(_cycle(), min_size=1, max_size=6), st.booleans())
@settings(max_examples=400, derandomize=True, deadline=None)
def test_keep_alive_never_comes_back_on(cycles: list[dict[str, Any]], config_keep_alive: bool) -> None:
    conn = Connection(Config(clock=None, server_software=None, max_drain_bytes=100,
                             keep_alive=config_keep_alive))
    seen: list[bool] = []

    def observe() -> None:
        seen.append(conn._state.keep_alive)
        assert seen == sorted(seen, reverse=True), f"keep-alive came back on: {seen}"

    for cycle in cycles:
        if cycle["driver_close"] == "before":
            conn.close_after_response()
            observe()
        conn.receive_data(_request(cycle))
        observe()
        try:
            event = conn.next_event()
        except RemoteProtocolError:
            observe()
            return
        observe()
        if event is NEED_DATA or isinstance(event, ConnectionClosed):
            return  # the connection ended (no keep-alive) or waits for a drain that never comes
        assert isinstance(event, RequestReceived)
        if cycle["driver_close"] == "after":
            conn.close_after_response()
            observe()
        wire: list[bytes] = []
        info = conn.run_app(_app(cycle), event.environ, wire.append, fetch=lambda n: b"",
                            errors=io.StringIO())
        observe()
        head = b"".join(wire).rpartition(b"HTTP/1.1 ")[2].partition(b"\r\n\r\n")[0]
        assert info.keep_alive == conn._state.keep_alive
        if b"\r\nConnection: close" in head:
            assert not info.keep_alive  # a head that says close is never followed by another request
        if not info.keep_alive:
            assert conn._state.close_reason is not None
            assert isinstance(conn.next_event(), ConnectionClosed)
            observe()
            return
