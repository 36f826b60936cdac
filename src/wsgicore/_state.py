"""The connection's state machine, as data (h11's ``_state.py`` is the model).

Every phase change of :class:`wsgicore.Connection` is one lookup in ``_TRANSITIONS``; a pair that is
missing there is a driver using the connection out of order, reported as ``LocalProtocolError``.

    AWAIT_HEAD --head--> REQUEST --response--> RESPONDED --next request--> AWAIT_HEAD
        any phase --close--> CLOSED  (EOF, an error, a timeout, a failed send, no keep-alive)
"""

from __future__ import annotations

from ._errors import LocalProtocolError

__all__ = ["Input", "Phase", "move"]


class Phase:
    """Where the connection is. Plain strings, not an Enum: every event looks the phase up, and
    Enum member access is Python code on CPython 3.11+."""

    AWAIT_HEAD = "waiting for a request head"
    REQUEST = "a request is in progress"
    RESPONDED = "the response was written"
    CLOSED = "closed"


class Input:
    """What moves the connection from one phase to the next."""

    HEAD = "a request head was accepted"
    RESPONSE = "the response was written"
    NEXT_REQUEST = "the unread body was drained; the connection persists (RFC 9112 §9.3)"
    CLOSE = "the connection ends"


_TRANSITIONS: dict[tuple[str, str], str] = {
    (Phase.AWAIT_HEAD, Input.HEAD): Phase.REQUEST,
    (Phase.REQUEST, Input.RESPONSE): Phase.RESPONDED,
    (Phase.RESPONDED, Input.NEXT_REQUEST): Phase.AWAIT_HEAD,
    **{(phase, Input.CLOSE): Phase.CLOSED
       for phase in (Phase.AWAIT_HEAD, Phase.REQUEST, Phase.RESPONDED, Phase.CLOSED)},
}


def move(phase: str, event: str) -> str:
    """The phase after ``event`` in ``phase``."""
    following = _TRANSITIONS.get((phase, event))
    if following is None:
        raise LocalProtocolError(f"{event!r} is not possible while {phase!r}")
    return following
