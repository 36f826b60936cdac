"""The connection's state, as data (h11's ``ConnectionState`` is the model).

One :class:`ConnectionState` per connection holds everything its behaviour depends on: the phase of
the request cycle, the request body's sub-state, the ``100 Continue`` sub-state, and the keep-alive
flag. Every change of a (sub-)state is one lookup in its table; a pair missing there is the
connection used out of order, reported as ``LocalProtocolError``. Keep-alive is a flag that can
only be switched off, by :meth:`ConnectionState.disable_keep_alive`, for one of the
:class:`CloseReason` s (the one place where they are listed); once off, the connection ends after
the current response, so it never comes back on.

    AWAIT_HEAD --head--> REQUEST --run_app--> RESPONDING --response--> RESPONDED --next--> AWAIT_HEAD
        any phase --close--> CLOSED  (EOF, a timeout, a failed send, no keep-alive)
        AWAIT_HEAD, REQUEST --fail--> ERROR  (the peer broke HTTP; its error response is the last)

    Body:     NONE --starts--> UNREAD --ends--> NONE;  UNREAD --fails--> FAILED
              NONE --report--> REPORTED  (next_event() returned RequestComplete)
    Continue: NONE --asked--> OWED --send--> SENT;  OWED --data--> WAIVED;  NONE --send--> SENT
    Each sub-state goes back to NONE when the next request cycle starts (from a state that allows it).
"""

from __future__ import annotations

from ._errors import LocalProtocolError

__all__ = ["PHASE_MOVES", "Body", "BodyInput", "CloseReason", "ConnectionState", "Continue",
           "ContinueInput", "Input", "Phase", "move"]


class Phase:
    """Where the connection is. Plain strings, not an Enum: every event looks the phase up, and
    Enum member access is Python code on CPython 3.11+."""

    AWAIT_HEAD = "waiting for a request head"
    REQUEST = "a request head was received; its application has not run"
    RESPONDING = "the application is running"
    RESPONDED = "the response was written"
    CLOSED = "closed"
    ERROR = "ended by the peer's protocol error"


class Input:
    """What moves the connection from one phase to the next."""

    HEAD = "a request head was accepted"
    RUN_APP = "the application was started"
    RESPONSE = "the response was written"
    NEXT_REQUEST = "the unread body was drained; the connection persists (RFC 9112 §9.3)"
    CLOSE = "the connection ends"
    FAIL = "the peer broke HTTP"


class Body:
    """The request body's sub-state."""

    NONE = "no request body is left to read"  # none was sent, or it was read to its end
    UNREAD = "part of the request body has not been read"
    FAILED = "reading the request body failed"  # the RequestBodyError is kept; it is never read again
    REPORTED = "the request body is complete and RequestComplete was returned"


class BodyInput:
    STARTS = "a head announced a body"
    ENDS = "the body was read to its end"
    FAILS = "a read of the body failed"
    REPORT = "next_event() returned RequestComplete"
    NEXT_REQUEST = Input.NEXT_REQUEST


class Continue:
    """The ``Expect: 100-continue`` sub-state (RFC 9110 §10.1.1)."""

    NONE = "no 100 Continue is owed"
    OWED = "the client may be waiting for a 100 Continue before it sends the body"
    SENT = "the 100 Continue was queued"
    WAIVED = "the client sent body bytes without waiting: no 100 Continue is owed"


class ContinueInput:
    ASKED = "the head asked for a 100 Continue and no body byte has arrived"
    SEND = "the 100 Continue is queued"
    DATA = "body bytes arrived"
    NEXT_REQUEST = Input.NEXT_REQUEST


class CloseReason:
    """Every reason the connection does not persist after a response: the one list of them."""

    CONFIG = "persistent connections are off (Config.keep_alive, or the driver's setting)"
    HTTP10 = "an HTTP/1.0 request without 'Connection: keep-alive' (RFC 9112 §9.3)"
    PEER_CLOSE = "the request carried 'Connection: close' (RFC 9112 §9.6)"
    DRIVER = "the driver called close_after_response()"
    BODY_FAILED = "reading the request body failed"
    CONTINUE_OWED = ("the response went out while the client may still be waiting for a 100 Continue: "
                     "whether its body follows is unknown (RFC 9110 §10.1.1)")
    UNREAD_BODY = "the unread request body is larger than max_drain_bytes"
    READ_TO_CLOSE = "an HTTP/1.0 response without a length is delimited by the close (RFC 9112 §6.3)"
    SHORT_BODY = "the response body ended short of its Content-Length"
    LONG_BODY = "the response body was longer than its Content-Length"
    APP_FAILED = "the application failed"


_PHASES: dict[tuple[str, str], str] = {
    (Phase.AWAIT_HEAD, Input.HEAD): Phase.REQUEST,
    (Phase.REQUEST, Input.RUN_APP): Phase.RESPONDING,
    (Phase.RESPONDING, Input.RESPONSE): Phase.RESPONDED,
    (Phase.RESPONDED, Input.NEXT_REQUEST): Phase.AWAIT_HEAD,
    **{(phase, Input.CLOSE): Phase.CLOSED
       for phase in (Phase.AWAIT_HEAD, Phase.REQUEST, Phase.RESPONDING, Phase.RESPONDED, Phase.CLOSED)},
    (Phase.ERROR, Input.CLOSE): Phase.ERROR,  # closing changes nothing: it ended in an error
    (Phase.AWAIT_HEAD, Input.FAIL): Phase.ERROR,
    (Phase.REQUEST, Input.FAIL): Phase.ERROR,
}

_BODIES: dict[tuple[str, str], str] = {
    (Body.NONE, BodyInput.STARTS): Body.UNREAD,
    (Body.UNREAD, BodyInput.ENDS): Body.NONE,
    (Body.UNREAD, BodyInput.FAILS): Body.FAILED,
    (Body.NONE, BodyInput.REPORT): Body.REPORTED,
    # The next cycle starts only with nothing left of this one's body (drained, or never sent).
    (Body.NONE, BodyInput.NEXT_REQUEST): Body.NONE,
    (Body.REPORTED, BodyInput.NEXT_REQUEST): Body.NONE,
}

_CONTINUES: dict[tuple[str, str], str] = {
    (Continue.NONE, ContinueInput.ASKED): Continue.OWED,
    (Continue.NONE, ContinueInput.SEND): Continue.SENT,  # Config.expect_continue="immediate"
    (Continue.OWED, ContinueInput.SEND): Continue.SENT,
    (Continue.OWED, ContinueInput.DATA): Continue.WAIVED,
    # Not from OWED: a response sent while the 100 was owed switched keep-alive off (CONTINUE_OWED).
    **{(state, ContinueInput.NEXT_REQUEST): Continue.NONE
       for state in (Continue.NONE, Continue.SENT, Continue.WAIVED)},
}



def _by_input(table: dict[tuple[str, str], str]) -> dict[str, dict[str, str]]:
    """``table`` as ``{input: {state: next state}}``: the same pairs, looked up without making a key
    tuple (the phase moves several times per request)."""
    by_input: dict[str, dict[str, str]] = {}
    for (state, event), following in table.items():
        by_input.setdefault(event, {})[state] = following
    return by_input


_PHASES_BY_INPUT = _by_input(_PHASES)
_BODIES_BY_INPUT = _by_input(_BODIES)
_CONTINUES_BY_INPUT = _by_input(_CONTINUES)
_NEXT_PHASE = _PHASES_BY_INPUT[Input.NEXT_REQUEST]
_NEXT_BODY = _BODIES_BY_INPUT[BodyInput.NEXT_REQUEST]
_NEXT_CONTINUE = _CONTINUES_BY_INPUT[ContinueInput.NEXT_REQUEST]
_NOWHERE: dict[str, str] = {}  # an input no table knows: every state refuses it
#: The phase table by input, ``{input: {phase: next phase}}``: the connection's per-request moves look
#: it up inline, as :meth:`ConnectionState.move` does, without a method call each (and raise
#: :meth:`ConnectionState.refusal` for a pair missing there).
PHASE_MOVES = _PHASES_BY_INPUT

#: Every table, by the name of the sub-state it moves (for the tests that walk them all).
TABLES = {"phase": _PHASES, "body": _BODIES, "expect": _CONTINUES}


def move(phase: str, event: str) -> str:
    """The phase after ``event`` in ``phase``."""
    following = _PHASES_BY_INPUT.get(event, _NOWHERE).get(phase)
    if following is None:
        raise LocalProtocolError(f"{event!r} is not possible while {phase!r}")
    return following


class ConnectionState:
    """The phase, the body and ``100 Continue`` sub-states and the keep-alive flag of one connection.

    Only its methods change it, each through its table (or, for keep-alive, only from on to off),
    except the connection's per-request phase moves, which look :data:`PHASE_MOVES` up inline
    (``tests/core/test_core_inlined_paths.py`` checks that every phase it sets comes from there).
    ``close_reason`` says why keep-alive went off (the first reason; ``None`` while it is on).
    """

    __slots__ = ("body", "close_reason", "expect", "keep_alive", "phase")

    def __init__(self, keep_alive: bool) -> None:
        self.phase = Phase.AWAIT_HEAD
        self.body = Body.NONE
        self.expect = Continue.NONE
        self.keep_alive = True
        self.close_reason: str | None = None
        if not keep_alive:
            self.disable_keep_alive(CloseReason.CONFIG)

    def move(self, event: str) -> None:
        """Move the phase through its table (``event`` is one of :class:`Input`)."""
        following = _PHASES_BY_INPUT[event].get(self.phase)
        if following is None:
            raise self.refusal(event)
        self.phase = following

    def refusal(self, event: str) -> LocalProtocolError:
        """The error of a phase move that the table does not have from the current phase."""
        return LocalProtocolError(f"{event!r} is not possible while {self.phase!r}")

    def move_body(self, event: str) -> None:
        following = _BODIES_BY_INPUT.get(event, _NOWHERE).get(self.body)
        if following is None:
            raise LocalProtocolError(f"{event!r} is not possible while {self.body!r}")
        self.body = following

    def move_expect(self, event: str) -> None:
        following = _CONTINUES_BY_INPUT.get(event, _NOWHERE).get(self.expect)
        if following is None:
            raise LocalProtocolError(f"{event!r} is not possible while {self.expect!r}")
        self.expect = following

    def start_next_cycle(self) -> None:
        """The response was written and nothing of the request is left: the next request may come.
        Every sub-state goes back to its start through its table (from a state that allows it)."""
        # Subscripts, not get(): cheaper, and this runs once per request.
        try:
            phase, body, expect = (
                _NEXT_PHASE[self.phase], _NEXT_BODY[self.body], _NEXT_CONTINUE[self.expect])
        except KeyError:
            phase = ""  # raised below, outside the handler: no KeyError as its context
        if not phase:
            raise LocalProtocolError(f"the next request cannot start while {self.phase!r}, "
                                     f"{self.body!r}, {self.expect!r}")
        self.phase, self.body, self.expect = phase, body, expect

    def disable_keep_alive(self, reason: str) -> None:
        """The connection ends after the current response (the one way keep-alive changes)."""
        if self.keep_alive:
            self.keep_alive = False
            self.close_reason = reason
