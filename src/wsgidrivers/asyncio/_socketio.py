"""A worker's own I/O on its connection's socket, while the loop does not read it (asyncio driver):
its :class:`SocketIO` (the blocking driver's ``_socketio.SocketIO`` plays the same role there).

Handing every request, body piece and response piece between the loop thread and a worker costs several
thread switches each, a large share of the server's CPU where the blocking driver has none
(docs/performance.md). So on asyncio's own plain-socket transport the loop pauses reading when it hands
a request to a worker, and the worker reads the body and writes the response on the socket itself, as
the blocking driver does, until it hands the connection back; the loop resumes reading then. TLS and
other transports (proactor, uvloop) go through the :class:`~._bridge.Bridge` instead.

The socket is non-blocking (the transport's); a wait is a ``poll`` bounded by ``io_timeout``, cut
into slices so that a connection the loop dropped (shutdown) is noticed. Every send and recv runs
under the Bridge's lock after checking that the connection is not lost: ``connection_lost`` (which
takes that lock) runs before the transport closes the socket, so the descriptor is never closed,
or reused by another connection, under a worker's call.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
from contextlib import AbstractContextManager
from typing import Any, Final, Generic, Protocol, TypeVar

from wsgidrivers._common.filecopy import copy_blocks, sized_buffer

from ._bridge import ClientDisconnected, SendTimeout

__all__ = ["READ_SIZE", "Guard", "SocketIO"]

#: Bytes asked of one recv, as the blocking driver. Not more: CPython allocates the whole buffer
#: first, and above glibc's mmap threshold (128 KiB) that is an mmap, an mremap and a munmap for
#: every recv.
READ_SIZE: Final = 64 * 1024
# Longest single poll: how soon a worker notices that the loop dropped its connection.
_SLICE: Final = 0.25
# A native sendfile is done in pieces so that a stalled reader is noticed within ``io_timeout``.
_SENDFILE_PIECE: Final = 1024 * 1024
#: send() flag: more data follows at once (Linux); 0 where the OS has none.
_MSG_MORE: Final[int] = getattr(socket, "MSG_MORE", 0)
#: The copy path's buffer, one per worker thread (a SocketIO lives for one turn of a connection):
#: read into and sent from, sized for the largest file the thread has copied, up to 1 MiB.
_copy_buffers = threading.local()


class Guard(Protocol):
    """What makes a worker's socket calls safe against the loop closing the connection: the
    connection's :class:`~._bridge.Bridge`, or a fresh connection's ``_fresh.FreshConnection``."""

    @property
    def lock(self) -> AbstractContextManager[Any]:
        """Held around every send and recv (and by whoever marks the connection lost)."""

    @property
    def is_lost(self) -> bool:
        """Whether the connection was dropped from outside (checked under :attr:`lock`)."""


G = TypeVar("G", bound=Guard)


class SocketIO(Generic[G]):
    """``send``, ``receive`` and ``sendfile`` for ``Connection.run_app``, on the socket itself.

    Worker thread only. :attr:`peer_eof` becomes True once a recv returned end of file.
    """

    def __init__(self, sock: socket.socket, guard: G, io_timeout: float) -> None:
        self._sock = sock
        self._fd = sock.fileno()
        #: Its lock and lost flag guard every call here.
        self.guard = guard
        # Read once: the guard's lock never changes, and a property call per socket call would
        # be a Python frame each (16 per 1 MiB response of 64 KiB blocks).
        self._lock = guard.lock
        self._io_timeout = io_timeout
        self._poll = select.poll()
        self.peer_eof = False

    def send(self, data: bytes | memoryview, flags: int = 0) -> None:
        """Send all of ``data``; a stalled client gets ``io_timeout`` per step of progress.
        ``flags``: ``send()``'s (``MSG_MORE`` for a head the file follows)."""
        sent = self._send_some(data, flags)
        if sent == len(data):
            return
        view = memoryview(data)[sent:]
        deadline = time.monotonic() + self._io_timeout
        while view:
            if not self._wait(select.POLLOUT, deadline):
                raise SendTimeout(f"client took no data for {self._io_timeout} s")
            sent = self._send_some(view, flags)
            if sent:
                view = view[sent:]
                deadline = time.monotonic() + self._io_timeout

    def receive(self, size: int = 0) -> bytes:
        """Request bytes, at most ``size`` (up to :data:`READ_SIZE`; 0: that much), ``b""`` at end
        of file or when the connection is gone; TimeoutError after ``io_timeout`` without a byte
        (the core answers 408). ``size`` is what ``wsgi.input``'s reader waits for: pieces of the
        size the application reads are handed to it as they came, where larger ones would be cut
        and joined for every read (two copies of each piece)."""
        size = size if 0 < size < READ_SIZE else READ_SIZE
        data = self._recv_some(size)
        if data is not None:
            return data
        deadline = time.monotonic() + self._io_timeout
        while True:
            if not self._wait(select.POLLIN, deadline):
                raise TimeoutError(f"client sent no body bytes for {self._io_timeout} s")
            data = self._recv_some(size)
            if data is not None:
                return data

    def receive_ready(self) -> bytes | None:
        """What one recv gives now (``b""``: end of file), None when nothing is there yet."""
        return self._recv_some()

    def wait_request(self, window: float) -> bytes | None:
        """Bytes of a next request if any arrive within ``window`` seconds (``b""``: end of file);
        None when none did."""
        # Poll first: after a response the next request is rarely there yet, and a recv that
        # fails with EAGAIN would be one more system call per request.
        if not self._wait(select.POLLIN, time.monotonic() + window):
            return None
        return self._recv_some()

    def sendfile(self, file: Any, offset: int, count: int | None, head: bytes = b"") -> int:
        """``head`` (the response head, if any), then ``os.sendfile`` from ``file`` at ``offset``
        (``count`` bytes, None: to its end); returns the file's bytes sent."""
        in_fd = file.fileno()
        if head:
            # MSG_MORE: the kernel holds the head back and sends it in one segment with the file's
            # first bytes, instead of pushing it alone (TCP_NODELAY): a packet fewer per response.
            self.send(head, _MSG_MORE)
            sent = self._sendfile(in_fd, offset, count)
            if sent == 0 and _MSG_MORE:
                self._push()  # the file had no byte to send: the held head goes now
            return sent
        return self._sendfile(in_fd, offset, count)

    def _sendfile(self, in_fd: int, offset: int, count: int | None) -> int:
        sent = 0
        deadline = time.monotonic() + self._io_timeout
        while count is None or sent < count:
            piece = _SENDFILE_PIECE if count is None else min(_SENDFILE_PIECE, count - sent)
            with self.guard.lock:
                if self.guard.is_lost:
                    raise ClientDisconnected("client disconnected")
                try:
                    n = os.sendfile(self._fd, in_fd, offset + sent, piece)
                except (BlockingIOError, InterruptedError):
                    n = -1
                except OSError as exc:
                    raise ClientDisconnected(f"client disconnected: {exc}") from exc
            if n == 0:
                break  # end of file
            if n > 0:
                sent += n
                deadline = time.monotonic() + self._io_timeout
            elif not self._wait(select.POLLOUT, deadline):
                raise SendTimeout(f"client took no data for {self._io_timeout} s")
        return sent

    def copy_file(self, file: Any, offset: int, count: int, head: bytes = b"") -> int:
        """Send ``head`` (the response head, if any) and ``count`` bytes of ``file`` from
        ``offset`` in blocks of up to 1 MiB read into this thread's buffer (``use_sendfile`` off
        for this client), the head with the first block in one ``sendmsg``; returns the file's
        bytes sent (fewer when the file ended early: the core reports the short body). Without
        it the core would iterate the file in the application's blocks, a read and a send per
        block."""
        buffer = _copy_buffers.buffer = sized_buffer(getattr(_copy_buffers, "buffer", None), count)
        return copy_blocks(file, offset, count, buffer, self.send, head=head,
                           send_with_head=self._send_two)

    def _send_two(self, first: bytes, second: memoryview) -> None:
        """Send ``first`` then ``second`` with one ``sendmsg`` (no copy to join them) when the
        socket takes both at once, the rest as :meth:`send` does."""
        with self._lock:
            if self.guard.is_lost:
                raise ClientDisconnected("client disconnected")
            try:
                sent = self._sock.sendmsg([first, second])
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                raise ClientDisconnected(f"client disconnected: {exc}") from exc
        if sent < len(first):
            self.send(memoryview(first)[sent:])
            sent = len(first)
        if sent - len(first) < len(second):
            self.send(second[sent - len(first):])

    def _push(self) -> None:
        """Send what ``MSG_MORE`` left held in the kernel now: setting ``TCP_NODELAY`` (again)
        pushes the pending segment out (Linux tcp(7)); a socket that is no TCP one holds nothing."""
        with self._lock:
            if self.guard.is_lost:
                return
            with contextlib.suppress(OSError):
                self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send_some(self, data: bytes | memoryview, flags: int = 0) -> int:
        with self._lock:
            if self.guard.is_lost:
                raise ClientDisconnected("client disconnected")
            try:
                return self._sock.send(data, flags)
            except (BlockingIOError, InterruptedError):
                return 0
            except OSError as exc:
                raise ClientDisconnected(f"client disconnected: {exc}") from exc

    def _recv_some(self, size: int = READ_SIZE) -> bytes | None:
        """What one recv of at most ``size`` bytes gives, ``b""`` at end of file (or once the
        connection is gone, or broke), None when nothing is there yet."""
        with self._lock:
            if self.guard.is_lost:
                return b""
            try:
                data = self._sock.recv(size)
            except (BlockingIOError, InterruptedError):
                return None
            except OSError:
                data = b""  # reset: as an end of file (the core judges a short body)
        if not data:
            self.peer_eof = True
        return data

    def _wait(self, events: int, deadline: float) -> bool:
        """Poll for ``events`` until ``deadline``: True when ready (or the connection is lost, which
        the next step reports), False when the deadline passed."""
        poll = self._poll
        poll.register(self._fd, events)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if poll.poll(min(remaining, _SLICE) * 1000.0) or self.guard.is_lost:
                return True
