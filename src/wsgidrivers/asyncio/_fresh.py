"""A fresh connection served by a worker thread first, and given to the event loop only when it idles.

Through the loop, a connection costs a transport, a protocol, a task, and a loop -> worker -> loop round
trip for its first request: several loop iterations and epoll_waits per connection, and about twice the
ThreadWorker's server CPU (docs/performance.md). Most clients send their request with the connection (on
loopback and over a network alike the request follows the handshake at once), so the listener's accept
hands the socket straight to a worker: it reads the first request itself, serves it and those that
follow within :data:`~._worker.HOT_WAIT` (as a worker does after any response, ``_worker``), and closes
the connection itself when no input can arrive any more. A connection that has sent nothing yet, or
whose client went quiet, or that needs the loop (a lingering close, an error answer, a request queued
behind others) goes to the loop with its :class:`wsgicore.Connection` (:class:`Handover`): from then on
it costs no thread while idle, as any other.

Plain sockets only: a TLS handshake belongs to the loop's TLS transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

from wsgicore import Close, Connection, ResponseInfo

from ._bridge import SendError
from ._shared import Shared
from ._socketio import SocketIO
from ._worker import MAX_INLINE, next_request, serve_one

__all__ = ["FreshConnection", "Handover", "serve_fresh"]


class FreshConnection:
    """A connection a worker thread owns before the loop has a transport for it.

    It stands in the service's set of connections (so shutdown waits for it and the gunicorn
    worker counts it), and is the :class:`~._socketio.Guard` of the worker's socket calls: the loop
    may :meth:`abort` it, which shuts the socket down (never closes it: the worker does, under
    :attr:`lock`, so no call can reach a descriptor reused by another connection).
    """

    __slots__ = ("address", "head_deadline", "is_lost", "lock", "sock", "sockname")

    def __init__(self, sock: socket.socket, address: Any, sockname: Any, head_deadline: float) -> None:
        self.sock = sock
        #: As ``accept()`` gave it (a Unix socket's is a str or bytes) and the listener's own.
        self.address = address
        self.sockname = sockname
        #: The first request's head deadline, in loop time: counted from the accept.
        self.head_deadline = head_deadline
        self.lock = threading.Lock()
        #: Whether the connection was dropped (set under :attr:`lock`); an attribute, read before
        #: every socket call of the worker.
        self.is_lost = False

    def begin_shutdown(self) -> None:
        """Nothing to do: the worker sees ``service.closing`` and hands over what it does not serve."""

    def abort(self) -> None:
        """Loop: drop the connection; a worker blocked on it gets an error or end of file."""
        with self.lock:
            if self.is_lost:
                return
            self.is_lost = True
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Worker: close the socket (once); later socket calls see a lost connection."""
        with self.lock:
            self.is_lost = True
            self.sock.close()


class Handover(NamedTuple):
    """What the loop takes over from the worker that served a fresh connection first."""

    fresh: FreshConnection
    conn: Connection
    #: Requests served on it so far.
    served: int
    #: The Connection's next action (or the exception it raised) for the loop to handle; None:
    #: wait for bytes.
    pending: object
    #: Whether the worker read the client's end of file (already given to the Connection).
    peer_eof: bool


def serve_fresh(
    service: Shared, fresh: FreshConnection, loop: asyncio.AbstractEventLoop,
    adopt: Callable[[Handover], None],
) -> None:
    """Worker thread: serve ``fresh`` while its requests come at once; then close it, or hand it
    to the loop (``adopt``, run there)."""
    handover: Handover | None = None
    try:
        handover = _serve(service, fresh)
    except Exception:
        service.report("wsgidrivers.asyncio: error while serving a new connection")
    finally:
        if handover is None:
            fresh.close()
    if handover is None:
        service.closed_by_worker(fresh, loop)
        return
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody left to tell
        loop.call_soon_threadsafe(adopt, handover)


def _serve(service: Shared, fresh: FreshConnection) -> Handover | None:
    """Serve what comes at once; None when the connection is done (the caller closes it)."""
    sock = fresh.sock
    sock.setblocking(False)  # here, not in the loop: the loop hands over at once
    address = fresh.address
    peer = tuple(address) if isinstance(address, tuple) and len(address) >= 2 else None
    addr = str(peer[0]) if peer is not None else "-"
    buffer = service.settings.receive_buffer_for(addr) if peer is not None else None
    if buffer is not None:  # as the loop's connections (``_protocol``), before the first read
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
    sockname = None
    if peer is not None:
        sockname = fresh.sockname
        if sockname is None:  # a listener on every address: ask which one this connection came to
            with contextlib.suppress(OSError):
                sockname = tuple(sock.getsockname())
    conn = Connection(service.config, peer=peer, sockname=sockname)
    io = SocketIO(sock, fresh, service.io_timeout)
    data = io.receive_ready()  # usually the whole request is already there: one recv
    if data is not None:
        conn.receive_data(data)
    served = 0
    follow = next_request(service, conn, io, inline=True, first=True)
    while isinstance(follow, dict):
        outcome = serve_one(service, conn, io, addr, follow)
        served += 1
        if not isinstance(outcome, ResponseInfo):
            return None  # client gone, stalled, or a fault: nothing more to say on it
        follow = next_request(service, conn, io, inline=served < MAX_INLINE)
    if isinstance(follow, SendError):
        return None
    if isinstance(follow, Close) and not follow.linger and follow.error is None:
        # Nothing unread and nothing more can come (RFC 9112 §9.6): no lingering; the FIN first,
        # so the client sees the end of the response before the close. (An error's answer, and
        # a lingering close, are the loop's.)
        if follow.send:
            try:
                io.send(follow.send)
            except SendError:
                return None
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        return None
    return Handover(fresh, conn, served, follow, io.peer_eof)
