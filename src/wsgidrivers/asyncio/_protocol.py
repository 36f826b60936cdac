"""One client connection of the asyncio driver, on the event loop: parsing, hand-over, closing, deadlines.

While no application runs, the loop owns the :class:`wsgicore.Connection`: ``data_received`` feeds it
and ``next_action`` says what to do (wait within a deadline, close, or run a request's application).
On ``RequestReceived`` a worker takes it (:func:`serve_request`) until it posts its outcome through the
:class:`Bridge`; then the loop feeds it the bytes queued meanwhile and owns it again, so pipelined
requests are answered in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import time
from typing import Any, Final

from wsgicore import (
    IDLE_DEADLINE,
    Close,
    Connection,
    Receive,
    RequestReceived,
    ResponseInfo,
)

from ._bridge import Bridge, Outcome
from ._fresh import Handover
from ._shared import Shared
from ._socketio import READ_SIZE, SocketIO
from ._timer import Deadline
from ._worker import serve_request

__all__ = ["WSGIProtocol"]

# Connection states (loop thread only).
_IDLE: Final = 0  # between requests, nothing of the next received: the idle deadline
_HEAD: Final = 1  # waiting for a request head: the head deadline
_APP: Final = 2  # a worker owns the Connection
_CLOSING: Final = 3  # response sent, FIN sent, waiting for the client's FIN (or a deadline)
_CLOSED: Final = 4


def _address(info: Any) -> tuple[Any, ...] | None:
    # TCP gives (host, port[, flowinfo, scope_id]); a Unix socket gives a str (or b"" / "").
    return tuple(info) if isinstance(info, tuple) and len(info) >= 2 else None


class WSGIProtocol(asyncio.Protocol):
    """One client connection. Every method runs in the loop thread; the worker's side of the
    connection is the :class:`Bridge` (the only state both threads touch)."""

    def __init__(self, service: Shared, handover: Handover | None = None) -> None:
        """``handover``: a connection a worker served first (``_fresh``), with its Connection."""
        self._service = service
        self._handover = handover
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: asyncio.Transport | None = None
        self._conn: Connection | None = None
        self._addr = "-"
        self._state = _IDLE
        self._peer_eof = False
        self._close_after_app = False
        # Shared.serve_waiting_on_shutdown: stopping, but this connection's next request is still
        # waited for (and answered with Connection: close).
        self._one_more = False
        self._served = 0  # requests handed to the app on this connection
        self._discarded = 0
        self._deadline = Deadline(self._deadline_passed)
        self._hard_deadline = math.inf
        self._bridge = Bridge(service.io_timeout, on_output=self._flush, on_drained=self._resume_reading)
        self._socket_io: SocketIO[Bridge] | None = None

    # ---- asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, asyncio.Transport):
            raise TypeError(f"WSGIProtocol needs a stream transport, not {transport!r}")
        service = self._service
        self._loop = loop = asyncio.get_running_loop()
        self._transport = transport
        if type(getattr(transport, "max_size", None)) is int:
            # asyncio's selector transport reads 256 KiB at a time: CPython allocates that first,
            # an mmap + mremap + munmap per read above glibc's mmap threshold (128 KiB).
            transport.max_size = READ_SIZE  # type: ignore[attr-defined]
        self._bridge.attach(loop, transport)
        self._deadline.attach(loop)
        peer = _address(transport.get_extra_info("peername"))
        self._addr = str(peer[0]) if peer is not None else "-"
        buffer = service.settings.receive_buffer_for(self._addr) if peer is not None else None
        if buffer is not None:
            # As simple_server: a loopback upload on a new connection would otherwise stall for a
            # window update every 128 KiB (see the README's receive_buffer).
            sock = transport.get_extra_info("socket")
            with contextlib.suppress(AttributeError, OSError):  # an optimisation, never a failure
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
        handover = self._handover
        if handover is not None:
            self._adopt(handover, transport)
            return
        self._conn = Connection(
            service.config, peer=peer, sockname=_address(transport.get_extra_info("sockname"))
        )
        service.add_connection(self)
        if service.closing:
            if not service.serve_waiting_on_shutdown:
                self._state = _CLOSING
                transport.close()
                return
            self._one_more = True
        # The first request's head deadline starts now, at the accept: a silent client is a slow one.
        self._advance()

    def _adopt(self, handover: Handover, transport: asyncio.Transport) -> None:
        """Take over a connection a worker served first: its Connection, its state, and what the
        worker left for the loop to handle, as after any hand-back (:meth:`_app_finished`)."""
        self._handover = None
        service = self._service
        self._conn = handover.conn
        self._served = handover.served
        self._peer_eof = handover.peer_eof
        service.add_connection(self)
        service.remove_connection(handover.fresh)  # after the add: the count never dips to zero
        if handover.peer_eof:
            transport.pause_reading()  # the worker read the end of file: nothing more to read
        if service.closing:
            if service.serve_waiting_on_shutdown:
                self._one_more = True
            elif not handover.served and handover.pending is None:
                self._state = _CLOSING
                transport.close()
                return
        self._take_back(handover.pending, first_head_deadline=handover.fresh.head_deadline)

    def data_received(self, data: bytes) -> None:
        state = self._state
        if state == _APP:
            if self._bridge.received(data) and self._transport is not None:
                self._transport.pause_reading()
        elif state in (_IDLE, _HEAD):
            self._require_conn().receive_data(data)
            self._advance()  # the core says whether a head deadline starts with these bytes
        elif state == _CLOSING:
            self._discarded += len(data)
            if self._discarded > self._service.linger_bytes and self._transport is not None:
                self._transport.close()

    def eof_received(self) -> bool | None:
        self._peer_eof = True
        # asyncio's TLS transport cannot stay half-open: it closes after this whatever we return,
        # and logs a warning for True.
        keep_open = not self._service.tls
        state = self._state
        if state == _APP:
            self._bridge.received_eof()
            return keep_open  # keep the write side open: the response is still coming
        if state in (_IDLE, _HEAD):
            self._require_conn().receive_data(b"")
            self._advance()
            return keep_open
        return False  # closing: the transport closes once its buffer is flushed

    def connection_lost(self, exc: Exception | None) -> None:
        self._state = _CLOSED
        self._deadline.cancel()
        self._bridge.lost()
        self._service.remove_connection(self)

    def pause_writing(self) -> None:
        self._bridge.pause_writing()

    def resume_writing(self) -> None:
        self._bridge.resume_writing()

    @property
    def buffered_bytes(self) -> tuple[int, int]:
        """``(request bytes queued for the app, response bytes not yet given to the transport)``."""
        return self._bridge.buffered_bytes

    # ---- control from the service -----------------------------------------------------------------

    def begin_shutdown(self) -> None:
        """Close now if no request is in an application (or stop lingering); otherwise close after
        the response of the request in progress, and of those already received behind it.
        With ``serve_waiting_on_shutdown``, the next request is waited for and answered instead
        (within the idle or head deadline already running), then the connection closes."""
        waiting = self._service.serve_waiting_on_shutdown
        if self._state in (_IDLE, _HEAD):
            if waiting:
                self._one_more = True
            else:
                self._close(linger=False)
        elif self._state == _APP:
            if waiting:
                # The response in progress may not say "close" (the worker owns the Connection
                # now): its client may send the next request at once, so that one is answered too.
                self._one_more = True
            else:
                self._close_after_app = True
        elif self._state == _CLOSING and self._transport is not None:
            self._transport.close()  # stop lingering; what is buffered is still sent

    def abort(self) -> None:
        """Drop the connection now (RST); a worker blocked on it is woken by ``connection_lost``."""
        if self._transport is not None and self._state != _CLOSED:
            self._transport.abort()

    # ---- parsing while the loop owns the Connection -----------------------------------------------

    def _advance(self, pending: object = None, *, restart: bool = False,
                 first_deadline: float | None = None) -> None:
        """Do what the Connection says next: wait for bytes, hand a request over, or close.
        ``pending``: what a worker already took from it (``next_action``'s answer, or the exception
        it raised). ``restart``: the connection comes back from a worker, which keeps no deadline,
        so a wait's deadline starts now (or at ``first_deadline``, the first request's)."""
        conn = self._require_conn()
        try:
            if pending is None:
                action = conn.next_action()
            elif isinstance(pending, (Receive, RequestReceived, Close)):
                action = pending
            else:
                raise pending if isinstance(pending, BaseException) else TypeError(repr(pending))
        except Exception:
            self._service.report("wsgidrivers.asyncio: Connection.next_action failed")
            self._require_transport().abort()
            return
        if isinstance(action, Receive):
            self._write(action.send)
            if self._stopping():
                self._close()  # shutting down: no request is waited for
                return
            self._wait(action, restart, first_deadline)
        elif isinstance(action, RequestReceived):
            if self._close_after_app or self._service.closing:
                # Shutting down: a request already received is still answered, and its response
                # says Connection: close (the core's close_after_response), as simple_server does:
                # a client never has to guess whether it was served. With
                # serve_waiting_on_shutdown this is the one more request.
                conn.close_after_response()
                self._one_more = False
            self._dispatch(conn, action.environ)
        else:
            # Close: the last response went out, or the head (or a body being drained) broke HTTP
            # and the core's ready-made answer is in ``send``.
            self._write(action.send)
            error = action.error
            if error is not None:  # as the blocking driver (and http.server's send_error)
                self._service.log(self._addr, f"code {error.status_code or '-'}, message {error.reason}")
            self._close(linger=action.linger)

    def _wait(self, action: Receive, restart: bool, first_deadline: float | None) -> None:
        """Wait for bytes under the deadline the core names, started when the core says so (or
        when the loop takes the connection back from a worker, which keeps no deadline)."""
        idle = action.deadline is IDLE_DEADLINE
        self._state = _IDLE if idle else _HEAD
        if first_deadline is not None and not self._served:
            self._deadline.set(first_deadline)  # the first request's, counted from the accept
        elif action.starts or restart:
            service = self._service
            self._deadline.set(self._now() + (service.keep_alive_timeout if idle else service.head_timeout))

    def _dispatch(self, conn: Connection, environ: dict[str, Any]) -> None:
        self._state = _APP
        self._served += 1
        self._deadline.clear()  # the worker applies io_timeout to its own reads and writes
        service = self._service
        # On a plain socket the worker does the I/O itself (see ``_socketio``): the loop stops
        # reading until it has the connection back.
        sock = self._bridge.take_socket() if service.socket_io else None
        channel: Bridge | SocketIO[Bridge] = self._bridge
        if sock is not None:
            self._require_transport().pause_reading()
            if self._socket_io is None:  # one per connection: it keeps a poll object
                self._socket_io = SocketIO(sock, self._bridge, service.io_timeout)
            channel = self._socket_io
        try:
            service.run_job(serve_request, service, conn, channel, self._addr, environ)
        except RuntimeError:  # the pool is shut down
            self.abort()

    # ---- back from the worker ---------------------------------------------------------------------

    def _flush(self) -> None:
        """Write what the worker handed over; once it is done, take the Connection back."""
        outcome = self._bridge.flush(self._write)
        if outcome is not None:
            self._app_finished(outcome)

    def _app_finished(self, outcome: Outcome) -> None:
        if self._state == _CLOSED:
            return
        conn = self._require_conn()
        leftover = self._bridge.take_leftover()
        if not isinstance(outcome, ResponseInfo):
            self.abort()  # client gone, stalled, or a fault: nothing more to say on this connection
            return
        for data in leftover.data:
            conn.receive_data(data)
        if leftover.eof:
            conn.receive_data(b"")
        if leftover.peer_eof:
            self._peer_eof = True  # the worker read it (and gave it to the Connection)
        if (leftover.reading_paused and not self._peer_eof
                and not isinstance(leftover.pending, Close)):
            # Not for a connection that closes now (``_close`` reads again if it lingers): two
            # epoll_ctl calls fewer per "Connection: close" request.
            self._require_transport().resume_reading()
        self._take_back(leftover.pending)

    def _take_back(self, pending: object, first_head_deadline: float | None = None) -> None:
        """The loop owns the Connection again: what is pending (a worker's last ``next_action``),
        else the core's next action: pipelined requests, a wait (its deadline starts now), or the
        core's Close (after a failed body read, say); while shutting down, only requests already
        received. ``first_head_deadline``: the first request's, counted from the accept, if none
        was served."""
        self._state = _HEAD  # not _APP: until _advance decides, bytes go to the Connection
        self._advance(pending, restart=True, first_deadline=first_head_deadline)

    def _stopping(self) -> bool:
        """Whether no further request is waited for on this connection."""
        return (self._close_after_app or self._service.closing) and not self._one_more

    def _resume_reading(self) -> None:
        if self._bridge.may_resume_reading() and self._state == _APP and self._transport is not None:
            self._transport.resume_reading()

    # ---- closing and deadlines --------------------------------------------------------------------

    def _close(self, *, linger: bool = True) -> None:
        """Finish the connection: half-close, discard input until the client's EOF, then close.

        ``linger=False`` when no response was just sent (idle, timed-out head, shutdown): then
        there is nothing for a RST to destroy, and the connection is closed at once.
        """
        if self._state in (_CLOSING, _CLOSED):
            return
        self._state = _CLOSING
        transport = self._require_transport()
        now = self._now()
        # Whatever is still buffered gets io_timeout to leave; then the connection is aborted.
        self._hard_deadline = now + self._service.io_timeout
        self._deadline.set(now + self._service.linger_timeout)
        conn = self._conn
        if (not linger or self._peer_eof or not transport.can_write_eof()
                or (conn is not None and conn.can_close_at_once)):
            transport.close()
            return
        # RFC 9112 §9.6: close the write side first and read until the client closes, so the
        # response is not destroyed by a RST caused by request bytes we never read.
        try:
            transport.write_eof()
        except OSError:  # the client reset the connection meanwhile: nothing to linger for
            transport.abort()
            return
        with contextlib.suppress(Exception):
            transport.resume_reading()

    def _deadline_passed(self) -> None:
        if self._state == _CLOSED:
            return
        transport = self._require_transport()
        if self._state in (_IDLE, _HEAD):
            # Idle keep-alive timeout, or head deadline (slowloris). The core says what to send:
            # a 408 when part of a head had arrived (RFC 9110 §15.5.9), else nothing.
            if self._state == _HEAD or not self._served:
                self._service.log(self._addr, f"request head not received within "
                                              f"{self._service.head_timeout} s; closing")
            self._write(self._require_conn().time_out())
            self._close(linger=False)
        elif self._state == _CLOSING:
            now = self._now()
            if transport.get_write_buffer_size() == 0:
                transport.close()
            elif now >= self._hard_deadline:
                transport.abort()
            else:
                self._deadline.set(min(self._hard_deadline, now + self._service.linger_timeout))

    def _now(self) -> float:
        loop = self._loop
        return loop.time() if loop is not None else time.monotonic()

    def _write(self, data: bytes) -> None:
        transport = self._transport
        if data and transport is not None and not transport.is_closing():
            transport.write(data)

    def _require_conn(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("connection_made has not been called")
        return self._conn

    def _require_transport(self) -> asyncio.Transport:
        if self._transport is None:
            raise RuntimeError("connection_made has not been called")
        return self._transport
