"""Blocking byte I/O for one connection of the ``simple_server`` driver: its :class:`SocketIO` (the
asyncio driver's ``_socketio.SocketIO`` plays the same role for a worker there; the request's
``channel`` is whichever a driver's request goes through).

Reads go through the request handler's ``rfile`` and writes through its ``wfile`` (so a handler driven
by in-memory files, as CPython's own tests do, works unchanged); when a real socket is underneath,
every wait is bounded by a timeout set on that socket. Nothing here knows HTTP.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable
from typing import IO, Any

from wsgidrivers._common.filecopy import copy_blocks, sized_buffer
from wsgidrivers._common.listening import KERNEL_TIMEOUTS, set_kernel_timeout

__all__ = ["READ_SIZE", "SocketIO"]

#: Bytes asked for per read: large enough that a 1 GiB upload costs 16,384 reads, small enough that
#: a read never holds more than this in memory.
READ_SIZE = 65536


#: os.sendfile where the OS has it (socket.sendfile() is the fallback), and the most it is asked to
#: send per call (Linux sends at most 2 GiB - 4 KiB per call anyway).
_os_sendfile = getattr(os, "sendfile", None)
_SENDFILE_BLOCK = 1 << 30
#: send() flag: more data follows at once (Linux); 0 where the OS has none.
_MSG_MORE: int = getattr(socket, "MSG_MORE", 0)


def _push(sock: socket.socket) -> None:
    """Send what ``MSG_MORE`` left held in the kernel now: setting ``TCP_NODELAY`` (again) pushes
    the pending segment out (Linux tcp(7)); a socket that is no TCP one has nothing held."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _no_file(size: int) -> bytes:
    raise OSError("this SocketIO reads its socket directly and has no rfile")


#: A receive timeout already in the kernel within this many seconds of the one asked for is kept:
#: deadlines are then up to this late, and a connection's first read costs no setsockopt().
_TIMEOUT_SLACK = 0.05


class SocketIO:
    """One connection's byte stream: ``recv``/``send``/``sendfile``/``copy_file``.

    ``sock`` is the socket under ``rfile``/``wfile``, or ``None`` (in-memory files): then no timeout
    applies and ``sendfile`` is unavailable. After an ``OSError`` (including
    ``TimeoutError``) it must not be used again except for closing.
    """

    __slots__ = ("_copy_buffer", "_direct", "_read", "_send_timeout", "_sender", "_sock", "_timeout",
                 "_wfile", "recv_timeout")

    def __init__(self, rfile: IO[bytes] | Any, wfile: IO[bytes] | Any,
                 sock: socket.socket | None, *, direct: bool = False,
                 kernel_timeouts: tuple[float | None, float | None] = (-1.0, -1.0)) -> None:
        """``direct``: ``rfile``/``wfile`` are the socket's own files, so reading and writing the
        socket itself is the same I/O without the layers (and, on Linux, with kernel timeouts);
        the files may then be None (they are not used; see :data:`KERNEL_TIMEOUTS`).
        ``kernel_timeouts``: the (receive, send) timeouts the socket already has (inherited from
        the listening socket); -1 for unknown."""
        self._direct = direct and sock is not None and KERNEL_TIMEOUTS
        if not self._direct and (rfile is None or wfile is None):
            raise ValueError("a SocketIO needs rfile and wfile unless it uses the socket directly")
        # read1() returns what one read of the layer below gives (never waits for a full buffer);
        # a raw file's read() does the same. A buffered read(n) would wait for n bytes: never use it.
        self._read = _no_file if rfile is None else getattr(rfile, "read1", None) or rfile.read
        self._wfile = wfile  # None when direct: never used then
        self._copy_buffer: memoryview | None = None
        self._sender: tuple[float | None, Callable[[bytes], None]] | None = None  # see sender()
        self._sock = sock
        # What the socket has (gettimeout() is no system call); -1: unknown.
        self._timeout: float | None = sock.gettimeout() if sock is not None else -1.0
        # SO_RCVTIMEO / SO_SNDTIMEO. The first is public: see direct_recv().
        self.recv_timeout, self._send_timeout = kernel_timeouts
        if self._direct:
            self._set_timeout(None)  # blocking: no poll() before each call; the kernel times out

    def _set_timeout(self, timeout: float | None) -> None:
        # settimeout() costs a system call each time; most calls would set the same value again.
        if self._sock is not None and timeout != self._timeout:
            self._sock.settimeout(timeout)
            self._timeout = timeout

    @property
    def has_socket(self) -> bool:
        return self._sock is not None

    def recv(self, timeout: float | None, size: int = READ_SIZE) -> bytes:
        """The next bytes received (at most ``size``), ``b""`` at EOF. Waits at most ``timeout``
        seconds (``None``: no limit) when there is a socket, else raises :class:`TimeoutError`."""
        sock = self._sock
        if self._direct and sock is not None:
            current = self.recv_timeout
            if timeout != current and (timeout is None or current is None
                                       or not 0 <= current - timeout <= _TIMEOUT_SLACK):
                set_kernel_timeout(sock, socket.SO_RCVTIMEO, timeout)
                self.recv_timeout = timeout
            try:
                return sock.recv(size)
            except BlockingIOError:  # EAGAIN: SO_RCVTIMEO passed
                raise TimeoutError("timed out") from None
        self._set_timeout(timeout)
        data = self._read(size)
        # A raw file in non-blocking mode returns None; we never set one, but do not loop on it.
        return data or b""

    @property
    def direct_recv(self) -> Callable[[int], bytes] | None:
        """The socket's own ``recv`` when this reads the socket directly, else None: while
        ``recv_timeout`` is the timeout wanted, calling it is what :meth:`recv` does, without the
        layer (its ``BlockingIOError`` is that timeout passing, :meth:`recv`'s ``TimeoutError``)."""
        return self._sock.recv if self._direct and self._sock is not None else None

    def _set_send_timeout(self, sock: socket.socket, timeout: float | None) -> None:
        """Give ``sock`` the send timeout ``timeout`` (SO_SNDTIMEO) and remember it: each caller
        compares first, inline, so a write with the same timeout as the last makes no call."""
        set_kernel_timeout(sock, socket.SO_SNDTIMEO, timeout)
        self._send_timeout = timeout

    def send(self, data: bytes | memoryview, timeout: float | None) -> None:
        """Write all of ``data``; each blocking write waits at most ``timeout`` seconds."""
        if not data:
            return
        sock = self._sock
        if self._direct and sock is not None:
            if timeout != self._send_timeout:
                self._set_send_timeout(sock, timeout)
            try:
                sock.sendall(data)
            except BlockingIOError:  # EAGAIN: SO_SNDTIMEO passed with data still unsent
                raise TimeoutError("timed out") from None
            return
        self._set_timeout(timeout)
        wfile = self._wfile
        written = wfile.write(data)
        if written is not None and written < len(data):
            # Raw files (wbufsize=0 on a custom handler) may write only part of the data.
            view = memoryview(data)
            while written < len(view):
                more = wfile.write(view[written:])
                written += more or 0
        # Flushed per write, as wsgiref does: a streamed response must reach the client as the app
        # yields it (PEP 3333, "Buffering and Streaming").
        wfile.flush()

    def sender(self, timeout: float | None) -> Callable[[bytes], None]:
        """``send`` with ``timeout`` as a one-argument callable, made once per connection and
        timeout: every write of a response goes through it, and on a direct socket it is the
        ``sendall`` alone (no layer between the core and the system call)."""
        cached = self._sender
        if cached is not None and cached[0] == timeout:
            return cached[1]
        sock = self._sock
        if self._direct and sock is not None:
            sendall = sock.sendall

            def send(data: bytes) -> None:
                if not data:
                    return
                if timeout != self._send_timeout:  # another write of this connection set another
                    self._set_send_timeout(sock, timeout)
                try:
                    sendall(data)
                except BlockingIOError:  # EAGAIN: SO_SNDTIMEO passed with data still unsent
                    raise TimeoutError("timed out") from None
        else:
            def send(data: bytes) -> None:
                self.send(data, timeout)
        self._sender = (timeout, send)
        return send

    def drop_links(self) -> None:
        """Forget the sender made by :meth:`sender` (it refers back to this object): the
        connection has ended, and nothing makes a cycle of it then."""
        self._sender = None

    def sendfile(self, file: Any, offset: int, count: int | None, timeout: float | None,
                 head: bytes = b"") -> int:
        """Send ``head`` (the response head, if any), then ``count`` bytes of ``file`` from
        ``offset`` with ``sendfile`` (zero copy when the OS allows it); returns the number of the
        file's bytes sent."""
        sock = self._sock
        if sock is None:
            raise OSError("sendfile needs a socket")
        # os.sendfile() writes to the descriptor: only for a plain socket (an ssl.SSLSocket made by a
        # subclass's get_request() must encrypt; its sendfile() falls back to send()).
        if (self._direct and count is not None and _os_sendfile is not None
                and type(sock) is socket.socket):
            if head:
                # MSG_MORE: the kernel holds the head back and sends it in one segment with the
                # file's first bytes, instead of pushing it alone (TCP_NODELAY): a packet and its
                # ACK fewer per response.
                self.send_more(head, timeout)
            sent = self._sendfile_blocking(sock, file.fileno(), offset, count, timeout)
            if head and sent == 0 and _MSG_MORE:
                _push(sock)  # the file had no byte to send: the held head goes now
            return sent
        if head:
            self.send(head, timeout)
        if self._wfile is not None:
            self._wfile.flush()  # whatever was written before must go first
        # socket.sendfile() waits without a limit on a blocking socket: give it CPython's timeout.
        self._set_timeout(timeout)
        try:
            return sock.sendfile(file, offset, count)
        finally:
            if self._direct:
                self._set_timeout(None)

    def copy_file(self, file: Any, offset: int, count: int, timeout: float | None,
                  head: bytes = b"") -> int:
        """Send ``head`` (the response head, if any) and ``count`` bytes of ``file`` from
        ``offset`` by reading blocks into one buffer and sending them (no allocation per block),
        the head with the first block; returns the number of the file's bytes sent."""
        # One buffer per connection, kept for its next file.
        buffer = self._copy_buffer = sized_buffer(self._copy_buffer, count)
        return copy_blocks(file, offset, count, buffer, lambda block: self.send(block, timeout),
                           head=head,
                           send_with_head=lambda head, block: self._send_two(head, block, timeout))

    def send_more(self, data: bytes, timeout: float | None) -> None:
        """:meth:`send` with ``MSG_MORE`` where the socket is used directly (more data follows
        at once: the kernel may hold ``data`` back to send it with that)."""
        sock = self._sock
        if not (self._direct and sock is not None and _MSG_MORE):
            self.send(data, timeout)
            return
        if timeout != self._send_timeout:
            self._set_send_timeout(sock, timeout)
        try:
            sock.sendall(data, _MSG_MORE)
        except BlockingIOError:  # EAGAIN: SO_SNDTIMEO passed with data still unsent
            raise TimeoutError("timed out") from None

    def _send_two(self, first: bytes, second: memoryview, timeout: float | None) -> None:
        """Send ``first`` then ``second``: one ``sendmsg`` (no copy to join them) on a plain socket
        used directly, else one :meth:`send` each."""
        sock = self._sock
        if not (self._direct and sock is not None and type(sock) is socket.socket):
            self.send(first, timeout)  # e.g. an ssl.SSLSocket, which has no sendmsg()
            self.send(second, timeout)
            return
        if timeout != self._send_timeout:
            self._set_send_timeout(sock, timeout)
        try:
            sent = sock.sendmsg([first, second])
        except BlockingIOError:  # EAGAIN: SO_SNDTIMEO passed without room for a byte
            raise TimeoutError("timed out") from None
        # A blocking sendmsg returns early only when SO_SNDTIMEO passed (or a signal came) after
        # some bytes went: the rest goes as send() sends, each wait again within ``timeout``.
        if sent < len(first):
            self.send(memoryview(first)[sent:], timeout)
            sent = len(first)
        if sent - len(first) < len(second):
            self.send(second[sent - len(first):], timeout)

    def _sendfile_blocking(self, sock: socket.socket, fileno: int, offset: int, count: int,
                           timeout: float | None) -> int:
        # os.sendfile() on the blocking socket, bounded by SO_SNDTIMEO: one system call per block.
        # socket.sendfile() with a timeout switches the socket to non-blocking mode and back and
        # polls before each block (a selector made per call): more system calls per response.
        if timeout != self._send_timeout:
            self._set_send_timeout(sock, timeout)
        send = _os_sendfile
        if send is None:  # not reached: the caller checked (for the type checker)
            raise OSError("os.sendfile is not available")
        sock_fd = sock.fileno()
        sent = 0
        while sent < count:
            try:
                n = send(sock_fd, fileno, offset + sent, min(count - sent, _SENDFILE_BLOCK))
            except BlockingIOError:  # EAGAIN: SO_SNDTIMEO passed without room for a byte
                raise TimeoutError("timed out") from None
            if n == 0:
                break  # the file ended early (it shrank); the core reports the short body
            sent += n
        return sent
