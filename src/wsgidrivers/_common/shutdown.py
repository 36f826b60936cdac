"""How every runner of the command line stops: its stop signals, the requests in progress, and the report
of those a stop cut off.

The first SIGINT or SIGTERM asks for a graceful stop: no new connection is accepted, idle ones close,
and the requests in progress get ``--grace`` seconds (one line says how many it waits for, and how
long). A second one stops at once, as gunicorn and uvicorn do. Every request still running when the
stop ends is cut off and logged with its method, target, client and how long it ran; the runner
reports how many there were, which the command line turns into its exit status.

The messages go to the ``wsgicore`` logger (the command line gives it its handler and level), except
``Shutting down.``, which goes to stdout as ``http.server``'s servers print it.
"""

from __future__ import annotations

import contextlib
import logging
import select
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:  # the blocking runner must not load asyncio
    import asyncio

__all__ = ["LOGGER", "RequestsRunning", "Running", "StopSignals", "abandon_threads", "describe_running",
           "logger"]

#: The logger of the command line's own messages (not the access log, written straight to stderr).
LOGGER: Final = "wsgicore"
logger = logging.getLogger(LOGGER)


class Running:
    """One request whose application is running: its environ, when it began (``time.monotonic()``),
    and the response headers, when the access log's format asks for them."""

    __slots__ = ("environ", "response_headers", "started")

    def __init__(self, environ: dict[str, Any], started: float) -> None:
        self.environ = environ
        self.started = started
        self.response_headers: list[tuple[str, str]] | None = None


class RequestsRunning:
    """The requests whose application is running, one per thread at most (every driver runs a
    request's application, and hears of its end, in one thread). Each call is one dict operation:
    atomic, from any thread, with no lock."""

    def __init__(self) -> None:
        self._running: dict[int, Running] = {}

    def begin(self, environ: dict[str, Any]) -> Running:
        """The current thread starts running the application for ``environ``."""
        running = Running(environ, time.monotonic())
        self._running[threading.get_ident()] = running
        return running

    def end(self) -> Running | None:
        """The current thread's request is over (answered, or its client gone): what began."""
        return self._running.pop(threading.get_ident(), None)

    def __len__(self) -> int:
        return len(self._running)

    def snapshot(self) -> list[Running]:
        """The requests running now, the oldest first."""
        return sorted(self._running.copy().values(), key=lambda running: running.started)

    def cut_off(self, why: str) -> int:
        """Log every request still running as cut off (``why``: what ended the wait); how many."""
        now = time.monotonic()
        running = self.snapshot()
        for request in running:
            logger.warning("cut off (%s): %s", why, describe_running(request, now))
        return len(running)

    def announce_wait(self, grace: float) -> None:
        """The one line that says what the stop waits for, when it waits for anything."""
        count = len(self)
        if count and grace > 0:
            logger.info("waiting up to %g s (--grace) for %d request%s in progress; "
                        "Ctrl-C or SIGTERM again stops at once", grace, count, "" if count == 1 else "s")


def describe_running(running: Running, now: float) -> str:
    """``GET /path?q from 127.0.0.1, running for 10.0 s``: for a request being cut off."""
    environ = running.environ
    method = environ.get("REQUEST_METHOD", "-")
    target = environ.get("REQUEST_URI")
    if not isinstance(target, str):
        target = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    client = environ.get("REMOTE_ADDR") or "a Unix-socket client"
    text = f"{method} {target} from {client}, running for {now - running.started:.1f} s"
    # Client-chosen text: no control characters into the log (as the access log).
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def abandon_threads() -> None:
    """The threads still running requests are being abandoned (the process exits under them):
    whatever fails in them from now on is not reported (their sockets and loop are going away)."""
    threading.excepthook = lambda args: None


class StopSignals:
    """A runner's stop signals (SIGINT and SIGTERM by default): count them, and wake whoever waits.

    The handlers only count (they run between two bytecodes of the main thread, which may hold any
    lock at that moment: printing or setting an Event there can deadlock); the waiting side reads
    :attr:`stopping` and :attr:`now` and calls :meth:`report`. Blocking runners :meth:`install`
    them and :meth:`wait` (a wake-up socket, ``signal.set_wakeup_fd``); an asyncio runner uses
    :meth:`install_on` its loop.
    """

    def __init__(self, signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM)) -> None:
        self.signals = tuple(signals)
        self.received = 0
        self._reported = 0
        self._wakeup: tuple[socket.socket, socket.socket] | None = None
        self._saved_fd = -1
        self._saved: dict[int, Any] = {}

    @property
    def stopping(self) -> bool:
        """A stop was asked for."""
        return self.received >= 1

    @property
    def now(self) -> bool:
        """A second signal came: stop at once."""
        return self.received >= 2

    def _handle(self, signum: int = 0, frame: object = None) -> None:
        self.received += 1

    def report(self) -> None:
        """Say what the signals received since the last call asked for (not from a handler)."""
        if self._reported == self.received:
            return
        if self._reported == 0:
            print("\nShutting down.", flush=True)
        if self.received >= 2 > self._reported:
            logger.warning("a second signal: stopping at once")
        self._reported = self.received

    def install(self) -> None:
        """Main thread: handle the signals and let :meth:`wait` wake up for each."""
        # A socket pair, not a pipe: select() and set_wakeup_fd() take sockets on every system.
        read, write = socket.socketpair()
        read.setblocking(False)
        write.setblocking(False)
        self._wakeup = (read, write)
        for signum in self.signals:
            self._saved[signum] = signal.signal(signum, self._handle)
        self._saved_fd = signal.set_wakeup_fd(write.fileno(), warn_on_full_buffer=False)

    def wait(self, timeout: float) -> None:
        """Main thread: return after ``timeout`` seconds, or sooner when a signal arrives."""
        if self._wakeup is None:
            time.sleep(timeout)
            return
        read = self._wakeup[0]
        with contextlib.suppress(InterruptedError):
            select.select([read], [], [], max(timeout, 0.0))
        with contextlib.suppress(OSError):  # BlockingIOError: nothing to drain
            read.recv(512)

    def uninstall(self) -> None:
        """Put back what :meth:`install` replaced (the command line may run inside a test)."""
        if self._wakeup is None:
            return
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(self._saved_fd)
        for signum, handler in self._saved.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signum, handler)
        for sock in self._wakeup:
            sock.close()
        self._wakeup = None

    def install_on(self, loop: asyncio.AbstractEventLoop, wake: Callable[[], None]) -> None:
        """Handle the signals in ``loop``; ``wake()`` runs there after each (where :meth:`report`
        may be called)."""

        def handle() -> None:
            self._handle()
            wake()

        for signum in self.signals:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, handle)

