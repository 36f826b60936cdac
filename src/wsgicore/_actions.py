"""What :meth:`wsgicore.Connection.next_action` tells a driver to do next, and the deadline kinds.

The driver's loop is then one dispatch on three answers: run this request's application
(``RequestReceived``), receive bytes (:class:`Receive`: with which deadline, and whether it starts
now), or send these bytes and close (:class:`Close`: lingering or at once). Everything between them
(unread bodies drained, ``100 Continue``, which deadline applies and when it starts, the error
response, whether closing may reset the connection) is the core's, decided once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ._errors import RemoteProtocolError

__all__ = ["BODY_DEADLINE", "HEAD_DEADLINE", "IDLE_DEADLINE", "Close", "Receive"]

#: The deadline of a wait for a request head: the head must arrive whole by then (the driver's head
#: timeout; when it passes, send ``Connection.time_out()``, a 408, and close). It starts at the first
#: wait for a head: for the first request right after the accept, for a later one at its first
#: byte (or right after the previous response, when bytes of it came with that request).
HEAD_DEADLINE: Final = "head"
#: The deadline of a kept-alive connection between requests, nothing of the next one received (the
#: driver's keep-alive timeout; when it passes, close without a word). It starts after each response.
IDLE_DEADLINE: Final = "idle"
#: The deadline of one receive of a request body the core buffers before the application runs
#: (``next_action(buffer_body=True)``): the driver's I/O timeout, anew for every receive; when it
#: passes, send ``Connection.time_out()`` (a 408) and close.
BODY_DEADLINE: Final = "body"


@dataclass(frozen=True, slots=True)
class Receive:
    """Send ``send`` (a pending ``100 Continue``; usually nothing), then wait for bytes and feed them
    with ``receive_data()`` (``b""`` at EOF), within the deadline ``deadline`` (``HEAD_DEADLINE``,
    ``IDLE_DEADLINE`` or ``BODY_DEADLINE``). ``starts``: that deadline starts now; otherwise the one
    started at an earlier ``Receive`` still runs (the head deadline spans every receive of a head)."""

    deadline: str
    starts: bool
    send: bytes = b""


@dataclass(frozen=True, slots=True)
class Close:
    """The connection ends: send ``send`` (an error response, a pending ``100 Continue``; may be
    empty), then close. ``linger``: the client may still be sending (an unread body, unparsed bytes,
    an error), so half-close and read and discard for a bounded time before closing (RFC 9112 §9.6:
    otherwise the reset may destroy the response); else close at once. ``error``: the
    :class:`RemoteProtocolError` that ended it (its response is in ``send``), for the log."""

    send: bytes
    linger: bool
    error: RemoteProtocolError | None = None
