"""The heartbeat rule: vouch for the worker only while no request is stuck in the application.

gunicorn's arbiter kills a worker that has not called ``notify()`` for ``--timeout`` seconds. A worker
whose loop notifies regardless of its threads would never be killed, however stuck its application
(gunicorn's own gthread worker behaves so); a worker that notified only between requests would be
killed under steady load. So each request in the application is registered here with its start
time, and the loop notifies only when none has been running longer than one heartbeat interval.
A request that runs for ``--timeout`` then gets the worker killed (as with gunicorn's sync worker),
and a healthy busy worker keeps its heartbeat.
"""

from __future__ import annotations

import itertools
import threading
import time

__all__ = ["InFlight"]


class InFlight:
    """Start times of the requests now in the application; safe to use from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started: dict[int, float] = {}
        self._tokens = itertools.count()

    def enter(self, started: float) -> int:
        """Register a request entering the application at ``started`` (``time.monotonic()``);
        returns its token for :meth:`leave`."""
        token = next(self._tokens)
        with self._lock:
            self._started[token] = started
        return token

    def leave(self, token: int) -> None:
        with self._lock:
            self._started.pop(token, None)

    def healthy(self, limit: float) -> bool:
        """True when no registered request has been running for ``limit`` seconds or more."""
        with self._lock:
            if not self._started:
                return True
            oldest = min(self._started.values())
        return time.monotonic() - oldest < limit

    def __len__(self) -> int:
        return len(self._started)
