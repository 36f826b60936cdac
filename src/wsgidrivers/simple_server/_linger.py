"""Lingering closes finished between connections, so a server never waits for a client's FIN.

RFC 9112 §9.6: a server that closes at once risks a reset that destroys the response the client has
not read yet (when more of its input arrives after the close). The safe close stops sending, reads and
discards the client's input until its FIN, then closes. Waiting for that FIN costs a round trip per
connection, and a blocking server that serves one connection at a time would spend it idle. So the
sockets are kept here and looked at without waiting by the serving thread: each time a connection
ends and each time ``serve_forever`` goes round its loop. A helper thread would cost more in GIL
hand-overs than the round trip it saves (docs/performance.md).

Most clients close as soon as they have read the response, so a socket is first tried with a plain
non-blocking ``recv`` (which finds the FIN, one system call) on the next two passes; only a client
that is still silent then is watched through a selector (two ``epoll_ctl`` calls more). Watching
every socket that way from the start cost a noticeable share of each connection (docs/performance.md).
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
_RECV_FLAGS = getattr(socket, "MSG_DONTWAIT", 0)  # 0 where absent: the socket is non-blocking then


class _Linger:
    __slots__ = ("deadline", "left", "quiet_until", "tried")

    def __init__(self, deadline: float, left: int, quiet_until: float) -> None:
        self.deadline = deadline  # linger_timeout after the hand-over
        self.left = left  # bytes that may still be discarded
        self.quiet_until = quiet_until  # close when nothing arrives before this
        self.tried = False  # one pass found nothing yet; the next one hands it to the selector


class Lingerer:
    """Holds sockets whose response was sent until the client has closed (or a limit passed).

    ``quiet``: seconds without input after which a socket is closed anyway. Thread-safe, for the
    threading server, whose handler threads hand sockets over while the main thread services them.
    """

    def __init__(self, quiet: float) -> None:
        self._quiet = quiet
        self._selector = selectors.DefaultSelector()
        self._fresh: list[tuple[socket.socket, _Linger]] = []  # not in the selector yet
        self._closing: list[socket.socket] = []  # close_soon(): closed by the next pass
        self._closing_next: list[socket.socket] = []  # close_soon(): closed by the pass after
        self._lock = threading.Lock()
        self._closed = False
        self._buffer = bytearray(_READ_SIZE)

    def __len__(self) -> int:
        """Sockets held for a lingering close (not those waiting for close_soon's close)."""
        return len(self._fresh) + len(self._selector.get_map()) if not self._closed else 0

    def close_soon(self, sock: socket.socket) -> bool:
        """Shut ``sock`` down for sending now (the client sees the end of the response at once) and
        close it on the second pass from now, for a socket that needs no lingering. close() costs
        kernel time: done later it overlaps the client's next request instead of delaying its
        accept (more connections per second for one client: docs/performance.md).
        False (the caller closes it) when closed, too many are waiting, or the socket is broken."""
        with self._lock:
            if self._closed or len(self._closing) + len(self._closing_next) >= _MAX_SOCKETS:
                return False
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                return False
            self._closing_next.append(sock)
            return True

    def add(self, sock: socket.socket, timeout: float, max_bytes: int) -> bool:
        """Linger on ``sock`` for at most ``timeout`` seconds and ``max_bytes`` of input, then close
        it; False (the caller closes it) when full, closed, or the socket is already broken."""
        with self._lock:
            if self._closed or len(self) >= _MAX_SOCKETS:
                return False
            try:
                sock.shutdown(socket.SHUT_WR)  # our FIN goes out now; the response is complete
                if sock.gettimeout() is not None or not _RECV_FLAGS:
                    # With a timeout, CPython polls before each recv(): make each one return at once.
                    sock.setblocking(False)
            except OSError:
                return False
            now = time.monotonic()
            self._fresh.append((sock, _Linger(now + timeout, max_bytes, now + self._quiet)))
            return True

    def service(self) -> None:
        """Discard what arrived, close the sockets that are done or past their time; never waits."""
        with self._lock:
            if self._closed:
                return
            if self._closing or self._closing_next:
                for sock in self._closing:
                    sock.close()
                self._closing, self._closing_next = self._closing_next, []
            if self._fresh:
                self._service_fresh()
            if not self._selector.get_map():
                return
            for key, _ in self._selector.select(0):
                self._discard(key.fileobj, key.data)  # type: ignore[arg-type]
            now = time.monotonic()
            for key in list(self._selector.get_map().values()):
                state: _Linger = key.data
                if now >= state.deadline or now >= state.quiet_until:
                    self._drop(key.fileobj)  # type: ignore[arg-type]

    def _service_fresh(self) -> None:
        fresh, self._fresh = self._fresh, []
        now = time.monotonic()
        for sock, state in fresh:
            if not self._discard(sock, state):
                continue  # closed
            if now >= state.deadline or now >= state.quiet_until:
                self._drop(sock)
            elif not state.tried:
                state.tried = True
                self._fresh.append((sock, state))
            else:
                try:
                    self._selector.register(sock, selectors.EVENT_READ, state)
                except (OSError, ValueError):
                    sock.close()

    def close(self) -> None:
        """Close every lingering socket now; later ``add`` calls return False."""
        with self._lock:
            self._closed = True
            for sock, _ in self._fresh:
                sock.close()
            for sock in self._closing + self._closing_next:
                sock.close()
            self._fresh = []
            self._closing = []
            self._closing_next = []
            for key in list(self._selector.get_map().values()):
                self._drop(key.fileobj)  # type: ignore[arg-type]
            self._selector.close()

    def _drop(self, sock: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)
        sock.close()

    def _discard(self, sock: socket.socket, state: _Linger) -> bool:
        """Read and drop what has arrived; False when the socket was closed (EOF, error, or
        ``max_bytes`` discarded)."""
        while True:
            try:
                received = sock.recv_into(self._buffer, _READ_SIZE, _RECV_FLAGS)
            except BlockingIOError:
                return True
            except OSError:
                received = 0
            if not received or received >= state.left:
                self._drop(sock)  # EOF (the client's FIN), an error, or enough discarded
                return False
            state.left -= received
            state.quiet_until = time.monotonic() + self._quiet  # still sending: not quiet
