"""Lingering closes finished in the background, so a server never waits for a client's FIN.

RFC 9112 §9.6: a server that closes at once risks a reset that destroys the response the client has
not read yet (when more of its input arrives after the close). The safe close stops sending, reads and
discards the client's input until its FIN, then closes. Waiting for that FIN costs a round trip per
connection, and a blocking server that serves one connection at a time would spend it idle; here one
thread does it for every connection of a server, with a selector.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time

__all__ = ["Lingerer"]

_READ_SIZE = 65536
_MAX_SOCKETS = 1024  # beyond this, close at once: memory and descriptors stay bounded under a flood


class _Linger:
    __slots__ = ("deadline", "left", "quiet_until")

    def __init__(self, deadline: float, left: int, quiet_until: float) -> None:
        self.deadline = deadline  # linger_timeout after the hand-over
        self.left = left  # bytes that may still be discarded
        self.quiet_until = quiet_until  # close when nothing arrives before this


class Lingerer:
    """Takes over sockets whose response was sent and closes them safely.

    ``quiet``: seconds without input after which a socket is closed anyway. The thread starts with
    the first socket and stops at :meth:`close`.
    """

    def __init__(self, quiet: float) -> None:
        self._quiet = quiet
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._waker_r, self._waker_w = socket.socketpair()
        self._waker_r.setblocking(False)
        self._waker_w.setblocking(False)
        self._selector.register(self._waker_r, selectors.EVENT_READ, None)
        self._thread: threading.Thread | None = None
        self._closed = False
        self._buffer = bytearray(_READ_SIZE)

    def add(self, sock: socket.socket, timeout: float, max_bytes: int) -> bool:
        """Linger on ``sock`` for at most ``timeout`` seconds and ``max_bytes`` of input, then close
        it; False (the caller closes it) when full, closed, or the socket is already broken."""
        with self._lock:
            if self._closed or len(self._selector.get_map()) > _MAX_SOCKETS:
                return False
            try:
                sock.shutdown(socket.SHUT_WR)  # our FIN goes out now; the response is complete
                sock.setblocking(False)
                now = time.monotonic()
                self._selector.register(
                    sock, selectors.EVENT_READ,
                    _Linger(now + timeout, max_bytes, now + self._quiet),
                )
            except (OSError, ValueError):
                return False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="wsgicore-linger", daemon=True)
                self._thread.start()
        with contextlib.suppress(OSError):
            self._waker_w.send(b"\0")  # recompute the wait: this deadline may be the nearest
        return True

    def close(self) -> None:
        """Close every lingering socket now and stop the thread."""
        with self._lock:
            self._closed = True
        with contextlib.suppress(OSError):
            self._waker_w.send(b"\0")
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        with self._lock:
            for key in list(self._selector.get_map().values()):
                if key.data is not None:
                    self._drop(key.fileobj)  # type: ignore[arg-type]
            self._selector.close()
            self._waker_r.close()
            self._waker_w.close()

    def _drop(self, sock: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)
        sock.close()

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                keys = [key for key in self._selector.get_map().values() if key.data is not None]
                now = time.monotonic()
                for key in keys:
                    state: _Linger = key.data
                    if now >= min(state.deadline, state.quiet_until):
                        self._drop(key.fileobj)  # type: ignore[arg-type]
                wait = min((min(k.data.deadline, k.data.quiet_until) for k in keys
                            if k.fileobj in self._selector.get_map()), default=None)
            timeout = None if wait is None else max(wait - time.monotonic(), 0.0)
            for key, _ in self._selector.select(timeout):
                if key.data is None:
                    with contextlib.suppress(OSError):
                        self._waker_r.recv(4096)
                    continue
                self._discard(key.fileobj, key.data)  # type: ignore[arg-type]

    def _discard(self, sock: socket.socket, state: _Linger) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                received = sock.recv_into(self._buffer)
            except BlockingIOError:
                return
            except OSError:
                received = 0
            state.left -= received
            if not received or state.left <= 0:
                self._drop(sock)  # EOF (the client's FIN), an error, or enough discarded
            else:
                state.quiet_until = time.monotonic() + self._quiet
