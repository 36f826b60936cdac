"""Listening sockets and accepting, one way for every driver (``simple_server``, ``asyncio``, the
gunicorn workers): the backlog, the accept burst, which ``accept()`` failures are skipped and which
pause accepting, and the socket options accepted connections inherit from their listener.

Nothing here knows HTTP, threads or event loops: each driver waits for its listeners in its own way
and applies these rules when they are readable.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Final

__all__ = [
    "ACCEPT_BURST",
    "ACCEPT_PAUSE",
    "BACKLOG",
    "DEFER_ACCEPT",
    "INHERITS_NODELAY",
    "INHERITS_NONBLOCK",
    "KERNEL_TIMEOUTS",
    "AcceptPause",
    "accept_burst",
    "accept_nowait",
    "inherit_options",
    "is_transient",
    "prepare_listener",
    "set_connection_options",
    "set_defer_accept",
    "set_kernel_timeout",
]

#: The listen() backlog of the listeners the drivers make (the command line's, asyncio's):
#: connections the kernel completes while the server is busy. ``simple_server`` keeps
#: socketserver's attribute for its own (``request_queue_size``).
BACKLOG: Final = 1024

#: Connections accepted per readiness report of a listener when several may be waiting: a burst
#: of new connections then costs one poll in all instead of one each, and one busy listener
#: cannot starve the rest of the loop for longer than this.
ACCEPT_BURST: Final = 16

#: accept() failures that concern one connection only (it was reset or refused by a firewall
#: before it was taken): skipped, the next accept() may succeed at once.
_TRANSIENT: Final = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.EINTR})

#: Seconds accepting pauses after any other failure (EMFILE, ENFILE, ENOBUFS, ENOMEM: out of
#: descriptors, buffers or memory): the listener stays readable and an accept() at once would
#: fail again, so retrying without a pause spins. Short, so that a descriptor freed by a closing
#: connection is used soon; the connections waiting meanwhile stay in the listen backlog.
ACCEPT_PAUSE: Final = 0.1

#: Whether an accepted TCP socket inherits TCP_NODELAY from its listener (Linux does).
INHERITS_NODELAY: Final = sys.platform == "linux"
#: Whether an accepted socket inherits O_NONBLOCK from a non-blocking listener: not on Linux
#: (accept(2)), yes on the BSDs, macOS and Windows.
INHERITS_NONBLOCK: Final = sys.platform != "linux"
#: Whether timeouts can be left to the kernel (SO_RCVTIMEO/SO_SNDTIMEO on a blocking socket, a
#: 64-bit ``struct timeval``), and are inherited from the listener at accept() (Linux). With
#: CPython's own timeouts every recv() and send() costs a poll() besides the call itself.
KERNEL_TIMEOUTS: Final = sys.platform == "linux" and struct.calcsize("l") == 8


def accept_burst(open_connections: int) -> int:
    """How many connections to accept on one readiness report: with at most one connection open
    (a lone client) one, since a second accept() would almost always fail with EAGAIN, releasing
    and taking back the GIL the thread just woken for the first needs; else :data:`ACCEPT_BURST`."""
    return ACCEPT_BURST if open_connections > 1 else 1


def is_transient(exc: OSError) -> bool:
    """Whether an accept() failure concerns one connection only (skip it and go on)."""
    return exc.errno in _TRANSIENT


class AcceptPause:
    """The rule for an accept() that failed otherwise than for one connection (see
    :data:`ACCEPT_PAUSE`): the caller stops accepting for :attr:`delay` seconds, then tries again,
    until an accept() succeeds. ``report(line)`` is told once when a pause begins (not at every
    retry, which would flood the log while the limit lasts) and once when accepting works again.

    Each driver pauses its own way (the blocking server sleeps between polls, the event loop
    stops watching the listener); :meth:`failed` and :meth:`accepted` are thread-safe, for
    workers whose threads accept on the same listeners.
    """

    __slots__ = ("_failures", "_lock", "_report", "_since", "delay")

    def __init__(self, report: Callable[[str], object], delay: float | None = None) -> None:
        self._report = report
        self.delay: float = ACCEPT_PAUSE if delay is None else delay
        self._lock = threading.Lock()
        self._since: float | None = None  # monotonic time the current pause began
        self._failures = 0

    @property
    def paused(self) -> bool:
        """Whether accept() has failed since it last succeeded."""
        return self._since is not None

    def failed(self, exc: OSError) -> None:
        """accept() raised ``exc`` (not a transient failure): pause for :attr:`delay` seconds."""
        with self._lock:
            first = self._since is None
            if first:
                self._since = time.monotonic()
                self._failures = 0
            self._failures += 1
        if first:
            self._say(f"accept() failed: {exc}; accepting paused, retried every {self.delay:g} s "
                      f"until it succeeds (connections wait in the listen backlog)")

    def accepted(self) -> None:
        """accept() succeeded: a pause in progress is over (cheap when there is none)."""
        if self._since is not None:
            self._resume()

    def _resume(self) -> None:
        with self._lock:
            since, failures = self._since, self._failures
            self._since = None
        if since is not None:
            self._say(f"accepting again after {time.monotonic() - since:.1f} s "
                      f"({failures} failed attempt{'s' if failures != 1 else ''})")

    def _say(self, line: str) -> None:
        with contextlib.suppress(Exception):  # a broken log must not stop accepting
            self._report(line)


def set_kernel_timeout(sock: socket.socket, option: int, timeout: float | None) -> None:
    """Set SO_RCVTIMEO or SO_SNDTIMEO (None: no timeout). A listening socket's values are copied
    to the sockets it accepts (Linux), which saves two system calls per connection."""
    # A zero timeval means "no timeout" to the kernel: never let a tiny remainder become that.
    seconds = 0.0 if timeout is None else max(timeout, 1e-6)
    sock.setsockopt(socket.SOL_SOCKET, option,
                    struct.pack("ll", int(seconds), int((seconds % 1) * 1_000_000)))


def set_connection_options(sock: socket.socket, *, head_timeout: float, io_timeout: float) -> None:
    """TCP_NODELAY and the kernel timeouts of a blocking connection (or listener, whose accepted
    connections then inherit them): receive within ``head_timeout`` (the first head's deadline),
    send within ``io_timeout``. Needs :data:`KERNEL_TIMEOUTS`."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    set_kernel_timeout(sock, socket.SO_RCVTIMEO, head_timeout)
    set_kernel_timeout(sock, socket.SO_SNDTIMEO, io_timeout)


def inherit_options(listener: socket.socket, *, head_timeout: float,
                    io_timeout: float) -> tuple[float, float] | None:
    """Set on a TCP ``listener`` the options its accepted blocking connections inherit (Linux):
    see :func:`set_connection_options`. Set per connection they cost system calls on every new
    connection. Returns the inherited (receive, send) timeouts, or None when nothing is
    inherited (another OS, or a Unix socket, whose accept() passes none on)."""
    if not KERNEL_TIMEOUTS or listener.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    set_connection_options(listener, head_timeout=head_timeout, io_timeout=io_timeout)
    return (head_timeout, io_timeout)


#: Seconds TCP_DEFER_ACCEPT lets a connection wait for its first data before accept() sees it
#: anyway (Linux; the kernel rounds it to its SYN-ACK retransmissions: about one second).
DEFER_ACCEPT: Final = 1


def set_defer_accept(listener: socket.socket) -> bool:
    """Have the kernel queue a connection of the TCP ``listener`` for accept() only once its first
    data (the request head, or a TLS ClientHello: the client speaks first in HTTP) has arrived
    (``TCP_DEFER_ACCEPT``, Linux; nginx's ``listen ... deferred``). The thread that accepts it then
    reads the request at once instead of blocking for it, which with several threads costs a wait
    for the GIL and a context switch more per connection. A client that connects and stays silent
    is accepted about :data:`DEFER_ACCEPT` seconds later, without data (its head deadline starts
    then), so it holds no thread meanwhile. False where the option does not exist (or a Unix socket)."""
    option = getattr(socket, "TCP_DEFER_ACCEPT", None)
    if option is None or listener.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    try:
        listener.setsockopt(socket.IPPROTO_TCP, option, DEFER_ACCEPT)
    except OSError:
        return False
    return True


def prepare_listener(sock: socket.socket) -> Any:
    """Make ``sock`` non-blocking for accepting in bursts (and TCP_NODELAY where accepted sockets
    inherit it: one setsockopt per listener, not one per connection); return the address a
    connection to it came to when it is bound to one (its SERVER_NAME/PORT without a
    getsockname() per connection), else None (every address, or a Unix socket)."""
    sock.setblocking(False)
    bound = sock.getsockname()
    if not isinstance(bound, tuple):
        return None
    if INHERITS_NODELAY:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return tuple(bound) if bound[0] not in ("0.0.0.0", "::", "") else None


def accept_nowait(listener: socket.socket) -> tuple[socket.socket, Any] | None:
    """One waiting connection of the non-blocking ``listener`` (TCP_NODELAY set), or None when
    none waits. Transient failures are skipped (at most :data:`ACCEPT_BURST` in a row); any other
    is raised, for the caller's :class:`AcceptPause`."""
    for _ in range(ACCEPT_BURST):
        try:
            sock, address = listener.accept()
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            if is_transient(exc):
                continue
            raise
        if not INHERITS_NODELAY and sock.family != getattr(socket, "AF_UNIX", None):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, address
    return None
