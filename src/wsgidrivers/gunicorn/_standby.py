"""The AsyncioWorker's stand-by threads: idle pool threads that wait on the listeners themselves (Linux).

Through the event loop a new connection wakes two threads on this worker's one CPU share: the loop
(which accepts) and then a pool thread (which serves), and every other worker's loop too, whose
accept fails: several accept calls and context switches per connection where the ThreadWorker has
about one each (docs/performance.md). So while the worker
is quiet, up to :data:`POSTS` idle threads of the application pool wait on the listeners, each in
an epoll of its own registered with ``EPOLLEXCLUSIVE`` before the loop's: a new connection wakes
one waiting thread and nobody else, and that thread accepts it and serves it (``Service.fresh_job``),
within the pool's ``--threads`` like any request. When no thread stands by (busy, or all serving),
the kernel wakes the loop's own exclusive poll instead (an epoll that waits in the loop's epoll is
never counted as the woken waiter, so it is reached whenever no stand-by thread waits), and the
loop accepts as before.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable
from typing import Any, Final

from wsgidrivers._common.listening import AcceptPause, is_transient

from ._poll import Poller

__all__ = ["POSTS", "ListenerStandby"]

#: Threads that stand by at once: two, so that a lone client's next connection finds one waiting
#: while the other finishes the previous connection (as the ThreadWorker's stand-by threads).
POSTS: Final = 2
_STOP: Final = "stop"
_WAKE: Final = "wake"

_Job = tuple[Callable[..., Any], tuple[Any, ...]]


class _Post:
    """One place to stand by: an epoll on the listeners (exclusive), the stop pipe and a wake pipe."""

    def __init__(self, standby: ListenerStandby, index: int, listeners: list[socket.socket]) -> None:
        self.standby = standby
        self.index = index
        self.poller = Poller()
        self._wake_r, self._wake_w = os.pipe()
        self._woken = False
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.poller.register(standby.stop_r, _STOP)
        self.poller.register(self._wake_r, _WAKE)
        for listener in listeners:
            self.poller.register(listener, listener, shared=True)

    def wait(self) -> _Job | None:
        standby = self.standby
        while True:
            ready = self.poller.select(None)
            # A connection first, even when stopping or woken for a job: the kernel woke this
            # waiter alone for it, and tells nobody else (a job queued for this thread waits
            # until it is served, as for any busy thread).
            for listener in ready:
                if listener is _STOP or listener is _WAKE:
                    continue
                if not standby.may_accept():
                    # Full: this thread leaves (it would only be woken again at once), and the
                    # loop hears of the connection, which no other waiter was woken for.
                    standby.declined()
                    return None
                job = standby.accept(listener)
                if job is not None:
                    return job
            if _STOP in ready or _WAKE in ready:
                return None  # stopping, or a job is queued for this thread
            # Taken by another thread or worker meanwhile (EAGAIN): wait again.

    def wake(self) -> None:
        self._woken = True
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b".")

    def drain(self) -> None:
        """Empty the wake pipe if it was written (the pool's lock is held, as in :meth:`wake`'s
        caller): a post is left ready for its next thread."""
        if self._woken:
            self._woken = False
            with contextlib.suppress(BlockingIOError):
                while os.read(self._wake_r, 64):
                    pass

    def close(self) -> None:
        self.poller.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)


class ListenerStandby:
    """The :class:`wsgidrivers._common.workerpool.Standby` of an AsyncioWorker (see the module's docstring).

    ``accept_fresh(listener)`` accepts one connection and returns the job that serves it (None:
    nothing there); ``quiet()`` says whether threads should stand by (the worker accepts and is not
    busy); ``may_accept()`` whether a thread may take a connection (the worker is not full);
    ``declined()`` is called when a woken thread did not, for want of room (the loop must look for
    it once there is room: the kernel woke no one else).
    Build it before the loop registers its own poll of the listeners: the kernel wakes exclusive
    waiters in the order they were registered.
    """

    posts = POSTS

    def __init__(
        self,
        listeners: list[socket.socket],
        *,
        accept_fresh: Callable[[socket.socket], _Job | None],
        quiet: Callable[[], bool],
        may_accept: Callable[[], bool],
        declined: Callable[[], None],
    ) -> None:
        self.stop_r, self.stop_w = os.pipe()
        self.accept = accept_fresh
        self._quiet = quiet
        self.may_accept = may_accept
        self.declined = declined
        self._posts = [_Post(self, index, listeners) for index in range(POSTS)]
        self._free = list(self._posts)
        #: Whether every post's poll is exclusive (else the stand-by threads must not be used).
        self.exclusive = all(post.poller.exclusive for post in self._posts)

    def claim(self) -> _Post | None:
        if not self._free or not self._quiet() or not self.may_accept():
            return None
        return self._free.pop(0)  # the first registered first: the kernel wakes it first

    def release(self, post: Any) -> None:
        post.drain()
        self._free.append(post)
        self._free.sort(key=lambda free: free.index)

    def stop(self) -> None:
        """Every stand-by thread leaves its post for good (the stop pipe is never drained)."""
        with contextlib.suppress(OSError):
            os.write(self.stop_w, b".")

    def close(self) -> None:
        """After the pool's threads are done with the posts (or abandoned at exit)."""
        for post in self._posts:
            post.close()
        for fd in (self.stop_r, self.stop_w):
            with contextlib.suppress(OSError):
                os.close(fd)


def accept_one(listener: socket.socket, pause: AcceptPause) -> tuple[socket.socket, Any] | None:
    """One waiting connection, or None: EAGAIN (another thread or worker took it), or a failure
    (after ``pause``'s delay for one that would repeat at once: EMFILE and the like leave the
    listener readable, and this thread polls it again)."""
    try:
        accepted = listener.accept()
    except (BlockingIOError, InterruptedError):
        return None
    except OSError as exc:
        failure = exc
    else:
        pause.accepted()
        return accepted
    if not is_transient(failure):
        pause.failed(failure)
        time.sleep(pause.delay)
    return None
