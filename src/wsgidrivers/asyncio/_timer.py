"""One connection's deadline for the asyncio driver, on a single loop timer that is moved lazily."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

__all__ = ["Deadline"]


class Deadline:
    """A deadline in loop time (``math.inf``: none) and the timer that enforces it.

    Moving the deadline later only updates :attr:`when`; a timer that fires early re-arms itself for
    the new time. So the hot path (a deadline per request) does not cancel and push a timer handle
    each time, which would churn the loop's heap. ``on_expiry`` runs in the loop thread once
    :attr:`when` has passed. Loop thread only.
    """

    __slots__ = ("_handle", "_loop", "_on_expiry", "when")

    def __init__(self, on_expiry: Callable[[], None]) -> None:
        self._on_expiry = on_expiry
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self.when = math.inf

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Use ``loop``'s clock and timers (the connection is made)."""
        self._loop = loop

    def set(self, when: float) -> None:
        """Expire at ``when`` (loop time) instead of the current deadline."""
        self.when = when
        loop = self._loop
        if loop is None or math.isinf(when):
            return
        handle = self._handle
        if handle is None or handle.when() > when:
            if handle is not None:
                handle.cancel()
            self._handle = loop.call_at(when, self._fire)

    def clear(self) -> None:
        """No deadline until the next :meth:`set`; a pending timer lapses when it fires."""
        self.when = math.inf

    def cancel(self) -> None:
        """Stop for good (the connection is gone): no timer fires or is armed any more."""
        self._loop = None
        self.when = math.inf
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        loop = self._loop
        if loop is None:
            return
        if loop.time() < self.when:
            self.set(self.when)  # moved later meanwhile: re-arm for the new time
            return
        self._on_expiry()
