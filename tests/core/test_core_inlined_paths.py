"""Rules that the per-request path has inline, for speed, and states once elsewhere: the inline copy
must give what the one statement gives, on every connection the loop tests walk."""

from __future__ import annotations

import io

from core_support import echo_app, split_at
from hypothesis import given, settings
from hypothesis import strategies as st
from test_core_next_action import SEEDS_FOR_LOOPS

from wsgicore import BODY_DEADLINE, HEAD_DEADLINE, Config, Connection, Receive, RequestReceived

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
