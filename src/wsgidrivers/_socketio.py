"""Blocking byte I/O for one connection of the ``simple_server`` driver.

Reads go through the request handler's ``rfile`` and writes through its ``wfile`` (so a handler driven
by in-memory files, as CPython's own tests do, works unchanged); when a real socket is underneath,
every wait is bounded by a timeout set on that socket. Nothing here knows HTTP.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import IO, Any

__all__ = ["READ_SIZE", "Channel"]

#: Bytes asked for per read: large enough that a 1 GiB upload costs ~16k reads, small enough that
#: a read never holds more than this in memory.
READ_SIZE = 65536


class Channel:
    """One connection's byte stream: ``recv``/``send``/``sendfile``/``linger``.

    ``sock`` is the socket under ``rfile``/``wfile``, or ``None`` (in-memory files): then no timeout
    applies and ``sendfile``/``linger`` are unavailable. After an ``OSError`` (including
    ``TimeoutError``) the channel must not be used again except for closing.
    """

    __slots__ = ("_read", "_sock", "_wfile")

    def __init__(self, rfile: IO[bytes] | Any, wfile: IO[bytes] | Any,
                 sock: socket.socket | None) -> None:
        # read1() returns what one read of the layer below gives (never waits for a full buffer);
        # a raw file's read() does the same. A buffered read(n) would wait for n bytes: never use it.
        self._read = getattr(rfile, "read1", None) or rfile.read
        self._wfile = wfile
        self._sock = sock

    @property
    def has_socket(self) -> bool:
        return self._sock is not None

    def recv(self, timeout: float | None) -> bytes:
        """The next bytes received, ``b""`` at EOF. Waits at most ``timeout`` seconds (``None``:
        no limit) when there is a socket, else raises :class:`TimeoutError`."""
        if self._sock is not None:
            self._sock.settimeout(timeout)
        data = self._read(READ_SIZE)
        # A raw file in non-blocking mode returns None; we never set one, but do not loop on it.
        return data or b""

    def send(self, data: bytes, timeout: float | None) -> None:
        """Write all of ``data``; each blocking write waits at most ``timeout`` seconds."""
        if not data:
            return
        if self._sock is not None:
            self._sock.settimeout(timeout)
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

    def sendfile(self, file: Any, offset: int, count: int | None, timeout: float | None) -> int:
        """Send ``count`` bytes of ``file`` from ``offset`` with ``socket.sendfile`` (zero copy when
        the OS allows it); returns the number of bytes sent."""
        if self._sock is None:
            raise OSError("sendfile needs a socket")
        self._wfile.flush()  # whatever was written before must go first
        self._sock.settimeout(timeout)
        return self._sock.sendfile(file, offset, count)

    def linger(self, timeout: float, max_bytes: int, quiet: float) -> None:
        """Lingering close, first half (RFC 9112 §9.6): stop sending, then read and discard input
        until EOF, ``max_bytes``, ``timeout`` seconds in all, or ``quiet`` seconds without input.

        Closing a socket with unread input makes the kernel send a reset, and a reset can destroy
        the response the client has not read yet (an error response to a client still uploading,
        for instance). The caller closes the socket afterwards.
        """
        sock = self._sock
        if sock is None:
            return
        with contextlib.suppress(OSError):
            self._wfile.flush()
            sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + timeout
            buffer = bytearray(min(max_bytes, READ_SIZE) or 1)
            discarded = 0
            while discarded < max_bytes:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                sock.settimeout(min(remaining, quiet))
                received = sock.recv_into(buffer)
                if not received:
                    break
                discarded += received
