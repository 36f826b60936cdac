"""The asyncio driver's hand-over of bytes between the event loop and the worker running the app.

One condition variable guards everything here; it is the only state both threads touch:

* Request bytes, loop -> worker. While the app runs, the loop queues what it receives
  (:meth:`Bridge.received`, which tells it to pause reading above ``IN_HIGH``); the worker's
  :meth:`Bridge.receive` takes them, waiting on the condition (never polling) at most ``io_timeout``,
  and asks the loop to resume reading once it has drained the queue.
* Response bytes, worker -> loop. :meth:`Bridge.send` appends to an outgoing list and wakes the loop
  with ``call_soon_threadsafe``; it blocks while the transport is above its high-water mark
  (``pause_writing``) or ``OUT_HIGH`` bytes already wait, so a slow reader stalls the application
  instead of growing a buffer.
* The worker's outcome travels through the same outgoing list (:meth:`Bridge.finish`), so the loop
  sees it after every byte of the response (:meth:`Bridge.flush`).

On asyncio's plain-socket transport the worker does its connection's I/O itself instead
(``_socketio.SocketIO``, given the socket by :meth:`Bridge.take_socket`); the lock and the lost flag
here still guard it, and the hand-back is the same.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from wsgicore import ResponseInfo

__all__ = ["IN_HIGH", "IN_LOW", "OUT_HIGH", "Bridge", "ClientDisconnected", "Leftover", "Outcome",
           "SendError", "SendTimeout"]

# Request bytes queued for a running app before the loop stops reading the socket (and where it
# starts again). Bounds the memory a fast uploader or a pipelining flood can make us hold.
IN_HIGH: Final = 256 * 1024
IN_LOW: Final = 64 * 1024
# Response bytes handed over by a worker but not yet written to the transport. Together with the
# transport's own high-water mark (64 KiB) this bounds what a slow reader can make us buffer.
OUT_HIGH: Final = 64 * 1024
# A native sendfile is done in pieces so that a stalled reader is noticed within ``io_timeout``.
_SENDFILE_PIECE: Final = 1024 * 1024

#: What a worker hands back: the response it sent, or the exception that ended it.
Outcome = ResponseInfo | BaseException


class SendError(ConnectionError):
    """Marker base: the exception was raised by this driver's ``send`` (client gone or stalled)."""


class ClientDisconnected(SendError, ConnectionResetError):
    """The client closed the connection (or it broke) while the response was being sent."""


class SendTimeout(SendError, TimeoutError):
    """The client did not accept response bytes for ``io_timeout`` seconds."""


class Leftover(NamedTuple):
    """What the loop takes back with the connection when the worker is done."""

    #: Request input the loop queued while the app ran, and whether an end of file followed it.
    data: list[bytes]
    eof: bool
    #: Whether reading was paused for the worker (the loop resumes it).
    reading_paused: bool
    #: An action (or exception) the worker took from the Connection's ``next_action`` and left for
    #: the loop to handle, None if none.
    pending: object
    #: Whether the worker read the client's end of file itself (already given to the Connection).
    peer_eof: bool


class Bridge:
    """The hand-over of one connection. Methods say which thread calls them.

    ``on_output`` (run in the loop) is scheduled when the worker hands over bytes or its outcome;
    ``on_drained`` (run in the loop) when the worker emptied a queue that had paused reading.
    """

    def __init__(
        self, io_timeout: float, on_output: Callable[[], None], on_drained: Callable[[], None]
    ) -> None:
        self._io_timeout = io_timeout
        self._on_output = on_output
        self._on_drained = on_drained
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: asyncio.Transport | None = None
        # The condition's own lock is :attr:`lock`: taken bare (a C call) around a worker's socket
        # calls, where the condition's __enter__/__exit__ would be two Python frames per call.
        self._mutex = threading.Lock()
        self._cond = threading.Condition(self._mutex)
        # loop -> worker
        self._in: deque[bytes] = deque()
        self._in_bytes = 0
        self._in_eof = False
        self._reading_paused = False
        self._resume_scheduled = False
        # worker -> loop
        self._out: list[bytes] = []
        self._out_bytes = 0
        self._flush_scheduled = False
        self._outcome: Outcome | None = None
        self._write_paused = False
        #: Whether ``connection_lost`` ran (set under :attr:`lock`). An attribute, not a property:
        #: a worker reads it before every send and recv on the socket.
        self.is_lost = False
        self._pending: object = None
        self._peer_eof = False

    def attach(self, loop: asyncio.AbstractEventLoop, transport: asyncio.Transport) -> None:
        """Loop: the connection is made; wake-ups go to ``loop``, ``sendfile`` uses ``transport``."""
        self._loop = loop
        self._transport = transport

    @property
    def lock(self) -> threading.Lock:
        """The one lock of this connection's shared state, the condition's (``_socketio`` sends
        and receives under it)."""
        return self._mutex

    # ---- loop thread ------------------------------------------------------------------------------

    def take_socket(self) -> socket.socket | None:
        """Loop, handing a request to a worker: the socket for the worker to do the I/O on itself
        (the caller pauses reading; the hand-back says to resume it), or None when the bytes must
        go through here: not asyncio's plain transport, or response bytes still buffered."""
        transport = self._transport
        if transport is None or self._out_bytes or transport.get_write_buffer_size():
            return None
        sock = writable_socket(transport)
        if sock is not None:
            with self._cond:
                self._reading_paused = True
        return sock

    def received(self, data: bytes) -> bool:
        """Queue request bytes for the worker; True when the caller must pause reading now."""
        with self._cond:
            self._in.append(data)
            self._in_bytes += len(data)
            self._cond.notify()
            if self._in_bytes > IN_HIGH and not self._reading_paused:
                self._reading_paused = True
                return True
        return False

    def received_eof(self) -> None:
        with self._cond:
            self._in_eof = True
            self._cond.notify()

    def lost(self) -> None:
        """The connection is gone: wake a worker blocked in ``send``/``receive``."""
        with self._cond:
            self.is_lost = True
            self._cond.notify_all()

    def pause_writing(self) -> None:
        with self._cond:
            self._write_paused = True

    def resume_writing(self) -> None:
        with self._cond:
            self._write_paused = False
            self._cond.notify_all()

    @property
    def buffered_bytes(self) -> tuple[int, int]:
        """``(request bytes queued for the app, response bytes not yet given to the transport)``."""
        with self._cond:
            return self._in_bytes, self._out_bytes

    def flush(self, write: Callable[[bytes], None]) -> Outcome | None:
        """``write`` what the worker handed over; return its outcome once it is done, else None."""
        with self._cond:
            chunks = self._out
            self._out = []
            self._flush_scheduled = False
            outcome = self._outcome
            self._outcome = None
        if chunks:
            size = sum(map(len, chunks))
            write(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            with self._cond:
                self._out_bytes -= size
                self._cond.notify_all()
        return outcome

    def take_leftover(self) -> Leftover:
        """Empty the request queue (the worker is done): what was queued, EOF, and whether reading
        was paused for it."""
        with self._cond:
            data = list(self._in)
            self._in.clear()
            self._in_bytes = 0
            leftover = Leftover(data, self._in_eof, self._reading_paused, self._pending,
                                self._peer_eof)
            self._in_eof = False
            self._reading_paused = False
            self._pending = None
            self._peer_eof = False
        return leftover

    def may_resume_reading(self) -> bool:
        """True (and reading counts as resumed) when reading was paused and the queue is low again."""
        with self._cond:
            self._resume_scheduled = False
            if not self._reading_paused or self._in_bytes > IN_LOW:
                return False
            self._reading_paused = False
        return True

    # ---- worker thread ----------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Hand response bytes to the loop; block while the client is behind (``io_timeout``)."""
        if not data:
            return
        if not isinstance(data, bytes):
            data = bytes(data)  # the core may reuse a buffer it passed as a view
        with self._cond:
            if self.is_lost or self._write_paused or self._out_bytes >= OUT_HIGH:
                self._wait_writable()
            self._out.append(data)
            self._out_bytes += len(data)
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        self._call_in_loop(self._on_output)

    def receive(self, size: int = 0) -> bytes:
        """The next request bytes, ``b""`` at EOF; waits without polling, at most ``io_timeout``.
        ``size`` (the bytes the app waits for) is only a hint: all that the loop queued is taken."""
        resume = False
        with self._cond:
            if not self._in and not self._in_eof and not self.is_lost:
                deadline = time.monotonic() + self._io_timeout
                while not self._in and not self._in_eof and not self.is_lost:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        # The core turns this into a 408 and closes the connection after the response.
                        raise TimeoutError(f"client sent no body bytes for {self._io_timeout} s")
                    self._cond.wait(remaining)
            if not self._in:
                return b""  # EOF or connection lost: the core turns a short body into its error
            data = self._in.popleft() if len(self._in) == 1 else b"".join(self._in)
            self._in.clear()
            self._in_bytes = 0
            if self._reading_paused and not self._resume_scheduled:
                self._resume_scheduled = resume = True
        if resume:
            self._call_in_loop(self._on_drained)
        return data

    def sendfile(self, file: Any, offset: int, count: int | None, head: bytes = b"") -> int:
        """``sendfile`` for ``run_app``: ``head`` (the response head, if any) handed to the loop
        as :meth:`send` does, then the loop's native sendfile, in pieces, each within
        ``io_timeout``; returns the file's bytes sent."""
        loop = self._loop
        transport = self._transport
        if loop is None or transport is None:
            raise ClientDisconnected("client disconnected")
        # Written before the file: the loop writes it first (its callbacks run in order), and its
        # sendfile waits until the transport's buffer is empty.
        self.send(head)
        sent = 0
        while count is None or sent < count:
            piece = _SENDFILE_PIECE if count is None else min(_SENDFILE_PIECE, count - sent)
            with self._cond:
                if self.is_lost:
                    raise ClientDisconnected("client disconnected")
            future = asyncio.run_coroutine_threadsafe(
                loop.sendfile(transport, file, offset + sent, piece), loop
            )
            try:
                n = future.result(self._io_timeout)
            except concurrent.futures.TimeoutError:
                future.cancel()
                raise SendTimeout(f"client took no data for {self._io_timeout} s") from None
            except (ConnectionError, RuntimeError, OSError) as exc:
                raise ClientDisconnected(f"client disconnected: {exc}") from exc
            sent += n
            if n < piece:
                break  # end of file
        return sent

    def finish(self, outcome: Outcome, pending: object = None, peer_eof: bool = False) -> None:
        """Post the worker's outcome behind its last response bytes; the loop owns the Connection
        again once it has flushed it. ``pending``: the Connection's next action (or the exception it
        raised) for the loop to handle; ``peer_eof``: the worker read the client's end of file."""
        with self._cond:
            self._outcome = outcome
            self._pending = pending
            self._peer_eof = peer_eof
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        self._call_in_loop(self._on_output)

    def _wait_writable(self) -> None:
        # Called with _cond held. The deadline restarts with each send, so any progress resets it.
        deadline = time.monotonic() + self._io_timeout
        while True:
            if self.is_lost:
                raise ClientDisconnected("client disconnected")
            if not self._write_paused and self._out_bytes < OUT_HIGH:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SendTimeout(f"client took no data for {self._io_timeout} s")
            self._cond.wait(remaining)

    def _call_in_loop(self, callback: Callable[[], None]) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody left to tell
                loop.call_soon_threadsafe(callback)


def writable_socket(transport: asyncio.Transport) -> socket.socket | None:
    """The socket of asyncio's plain selector transport, the only one whose socket a worker may
    use itself (reading paused, nothing buffered); None for any other (TLS, proactor, uvloop).
    ``_sock`` is private, hence the exact type checks."""
    if type(transport).__module__ != "asyncio.selector_events" or not hasattr(select, "poll"):
        return None
    sock = getattr(transport, "_sock", None)
    return sock if type(sock) is socket.socket else None
