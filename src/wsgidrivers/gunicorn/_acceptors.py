"""The ThreadWorker's connection threads: each idle one waits on the listeners itself, accepts a
connection and serves it, then waits again.

The main thread used to accept and hand each connection to a thread through a queue: waking a
Python thread while still holding the GIL, so that (on the one CPU both share) the woken thread ran,
found the GIL taken and slept again until the main thread blocked. py-spy put 9% of the main
thread's samples on that ``put``; it cost two context switches and a main-thread turn per
connection. Here the kernel wakes the thread that will serve, with nobody holding the GIL.

On Linux each idle thread has its own epoll with the listeners in it as ``EPOLLEXCLUSIVE``: a
connection wakes one idle thread (of this worker or another). Without that, idle threads take
turns: one at a time polls, under a lock.

Threads are started when none is idle (at most ``limit``, ``--worker-connections``: each holds a
thread while open, so the bound on threads is the bound on connections) and kept for reuse. All
are daemon threads: SIGQUIT must end the worker at once, even with a request in progress.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ._poll import Poller

__all__ = ["Acceptors", "Listener"]


class Listener(Protocol):
    """What the threads need of one listening socket's server."""

    socket: Any

    def accept_one(self) -> tuple[Any, Any] | None:
        """A connection accepted (the socket and the peer's address), or None (none waiting)."""

    def serve_connection(self, request: Any, client_address: Any) -> None:
        """Serve it to its end, close it, and call :meth:`Acceptors.finished`; never raises."""


class Acceptors:
    """The connection threads of one worker over ``listeners``."""

    def __init__(self, listeners: Sequence[Listener], limit: int,
                 on_finished: Callable[[], None]) -> None:
        self._listeners = list(listeners)
        self.limit = limit
        self._on_finished = on_finished
        self._lock = threading.Lock()
        self.open = 0  # connections being served
        self.idle = 0  # threads waiting for one (started or about to start)
        self.stopping = False
        # Never drained: once written, every poll sees it, and idle threads leave.
        self._stop_r, self._stop_w = os.pipe()
        probe = self._poller()
        self.exclusive = probe.exclusive
        probe.close()
        #: Without exclusive wake-ups, the one thread allowed to poll holds this.
        self._turn = None if self.exclusive else threading.Lock()

    def _poller(self) -> Poller:
        poller = Poller()
        poller.register(self._stop_r, None)
        for listener in self._listeners:
            poller.register(listener.socket, listener, shared=True)
        return poller

    def start(self) -> None:
        """Start the first idle thread."""
        with self._lock:
            self.idle += 1
        self._spawn()

    def stop(self) -> None:
        """Idle threads leave; busy ones leave after their connection."""
        self.stopping = True
        with contextlib.suppress(OSError):
            os.write(self._stop_w, b".")

    def close(self) -> None:
        for fd in (self._stop_r, self._stop_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _spawn(self) -> None:
        threading.Thread(target=self._run, name="wsgicore-conn", daemon=True).start()

    def _took(self) -> None:
        """This thread took a connection: start another to wait for the next one, unless an idle
        thread is left or the worker is full."""
        with self._lock:
            self.idle -= 1
            self.open += 1
            spawn = self.idle == 0 and self.open < self.limit
            if spawn:
                self.idle += 1
        if spawn:
            self._spawn()

    def finished(self) -> None:
        """A connection ended: its thread is idle again (called by ``serve_connection``)."""
        with self._lock:
            self.open -= 1
            self.idle += 1
        self._on_finished()

    def _run(self) -> None:
        try:
            poller = self._poller()
        except OSError:  # out of descriptors: this thread cannot wait; the others still do
            with self._lock:
                self.idle -= 1
            return
        try:
            taken = None
            while not self.stopping:
                # Under load (other connections open), first take a connection already waiting: the
                # wake-ups then go to few threads, which keep the GIL among fewer hands.
                if taken is None or not self.open:
                    taken = self._wait(poller)
                else:
                    taken = self._take_waiting()
                    if taken is None:
                        taken = self._wait(poller)
                if taken is not None:
                    self._took()
                    listener, request, client_address = taken
                    listener.serve_connection(request, client_address)
        finally:
            poller.close()
            if self.stopping:
                with self._lock:
                    self.idle -= 1

    def _take_waiting(self) -> tuple[Listener, Any, Any] | None:
        for listener in self._listeners:
            accepted = listener.accept_one()
            if accepted is not None:
                return listener, accepted[0], accepted[1]
        return None

    def _wait(self, poller: Poller) -> tuple[Listener, Any, Any] | None:
        """Wait for a connection and accept it. One this thread was woken for is accepted even
        when the worker is stopping: with exclusive wake-ups no other thread was woken for it."""
        turn = self._turn
        if turn is not None:
            turn.acquire()
        try:
            if self.stopping:
                return None
            for listener in poller.select(None):
                if listener is not None:
                    accepted = listener.accept_one()
                    if accepted is not None:
                        return listener, accepted[0], accepted[1]
            return None
        finally:
            if turn is not None:
                turn.release()
