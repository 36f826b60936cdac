"""Threads that accept their own connections (Linux): the threading server's connection threads.

A server that accepts in one thread and hands each connection to another pays, per connection, a
wake-up of the serving thread while the accepting one still holds the GIL (and with a thread per
connection, the thread's start as well). Here every idle thread waits on the listener itself, in an
epoll of its own where the listener is registered with ``EPOLLEXCLUSIVE`` (Linux 4.5): a new
connection wakes one waiting thread and nobody else, and that thread accepts it and serves it. No
hand-over, no thread start per connection.

The pool grows and shrinks with the load: when the last idle thread takes a connection, it starts
another (within ``limit``) before serving, so a connection that stalls holds up only its own thread
and some thread is always waiting for the next one. The kernel wakes the first waiting thread in the
order they were registered, so under a light load the first threads do the work and the later ones
stay idle: a thread idle for ``idle_timeout`` seconds leaves while another one waits. With ``limit``
threads busy nobody accepts: new connections wait in the listen backlog until a thread is free.

Nothing here knows HTTP or sockets beyond a file descriptor: ``take()`` accepts (None when another
thread was faster), ``serve(taken)`` serves what it took.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading
from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar

__all__ = ["EXCLUSIVE_WAKEUPS", "AcceptingThreads"]

_EXCLUSIVE: Final[int] = getattr(select, "EPOLLEXCLUSIVE", 0)

#: Whether this platform can wake one of several threads waiting on a listener (epoll with
#: EPOLLEXCLUSIVE). A kernel older than 4.5 refuses the flag: :meth:`AcceptingThreads.start` then
#: returns False and the caller serves its own way.
EXCLUSIVE_WAKEUPS: Final = bool(_EXCLUSIVE) and hasattr(select, "epoll") and sys.platform == "linux"

_T = TypeVar("_T")


class AcceptingThreads(Generic[_T]):
    """Up to ``limit`` threads (None: no bound) that each wait on ``listener`` (a descriptor, or
    anything with ``fileno()``), accept with ``take()`` and serve with ``serve()``.

    :meth:`start` starts the first thread; :meth:`stop` makes the idle threads leave at once and
    the busy ones after the connection they serve; :meth:`threads` are those still running (to
    join them). One instance serves one run of a server: after :meth:`stop` it is done.
    """

    def __init__(self, listener: Any, take: Callable[[], _T | None], serve: Callable[[_T], None], *,
                 limit: int | None, idle_timeout: float, daemon: bool, name: str,
                 started: Callable[[], None] | None = None) -> None:
        if limit is not None and (type(limit) is not int or limit < 1):
            raise ValueError(f"limit must be None or an int >= 1, not {limit!r}")
        self._fd = listener if isinstance(listener, int) else listener.fileno()
        self._take = take
        self._serve = serve
        self._limit = limit
        self._idle_timeout = idle_timeout
        self._daemon = daemon
        self._name = name
        self._started_hook = started
        self._lock = threading.Lock()
        self._taken = threading.Condition(self._lock)
        self._threads: set[threading.Thread] = set()
        self._idle = 0  # threads waiting on the listener (or about to)
        self._taking = 0  # threads inside take(): stop() waits for them
        self._stopped = False
        self._stop_r = self._stop_w = -1  # the stop pipe, made by start()
        self._serial = 0

    @property
    def size(self) -> int:
        """Threads running now (idle or serving)."""
        with self._lock:
            return len(self._threads)

    @property
    def idle(self) -> int:
        """Threads waiting for a connection now."""
        with self._lock:
            return self._idle

    def threads(self) -> list[threading.Thread]:
        """The threads still running (each leaves after its connection once stopped)."""
        with self._lock:
            return list(self._threads)

    def start(self) -> bool:
        """Start the first thread; False (nothing started) when the listener cannot be waited on
        with exclusive wake-ups here (or no descriptor or thread is to be had now)."""
        if not EXCLUSIVE_WAKEUPS:
            return False
        try:
            self._stop_r, self._stop_w = os.pipe()
        except OSError:
            return False
        with self._lock:
            return self._start_thread()

    def stop(self) -> None:
        """No more accepts: idle threads leave now, busy ones after their connection. Returns once
        no thread is inside ``take()`` (so the caller may change the listener's mode or close it)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            if not self._threads:
                self._close_pipe()
            else:  # under the lock: the last thread to leave closes the pipe (see _run)
                with contextlib.suppress(OSError):
                    os.write(self._stop_w, b".")  # never drained: every poll sees it from now on
        with self._taken:
            while self._taking:
                self._taken.wait()

    def close(self) -> None:
        """Release the stop pipe of a pool that did not start (a stopped one releases it itself,
        when its last thread leaves)."""
        with self._lock:
            if not self._threads:
                self._close_pipe()

    def _close_pipe(self) -> None:
        for fd in (self._stop_r, self._stop_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._stop_r = self._stop_w = -1

    def _poll(self) -> Any:
        epoll = select.epoll()
        try:
            epoll.register(self._fd, select.EPOLLIN | _EXCLUSIVE)
            epoll.register(self._stop_r, select.EPOLLIN)
        except BaseException:
            epoll.close()
            raise
        return epoll

    def _start_thread(self) -> bool:
        """Start a thread, counted idle (the lock is held). False when there is no descriptor for
        its poll (EMFILE...: then no thread is added until a connection ends and its thread waits
        again) or no thread to be had, or the kernel refuses EPOLLEXCLUSIVE."""
        epoll = None
        try:
            epoll = self._poll()
            self._serial += 1
            thread = threading.Thread(target=self._run, args=(epoll,),
                                      name=f"{self._name}-{self._serial}", daemon=self._daemon)
            self._threads.add(thread)
            try:
                thread.start()
            except BaseException:
                self._threads.discard(thread)
                raise
        except (OSError, RuntimeError):
            if epoll is not None:
                epoll.close()
            return False
        self._idle += 1
        return True

    def _run(self, epoll: Any) -> None:
        idle = True
        try:
            if self._started_hook is not None:
                self._started_hook()
            while True:
                ready = epoll.poll(self._idle_timeout)
                with self._lock:
                    if self._stopped:
                        return
                    if not ready:
                        if self._idle > 1:  # idle too long while another thread waits: leave
                            self._idle -= 1  # in this hold of the lock: two cannot both leave
                            idle = False
                            return
                        continue
                    self._taking += 1
                try:
                    taken = self._take()
                finally:
                    self._left_take()
                if taken is None:
                    continue  # another thread (or process) was faster
                idle = False
                self._busy()
                try:
                    self._serve(taken)
                except Exception:
                    _report()
                finally:
                    del taken
                with self._lock:
                    self._idle += 1
                    idle = True
        finally:
            epoll.close()
            with self._lock:
                self._threads.discard(threading.current_thread())
                if idle:
                    self._idle -= 1
                # A thread that ended abnormally (BaseException from serve) while nobody waits:
                # start another, or new connections would stay in the backlog for good.
                replace = (not self._stopped and self._idle == 0
                           and (self._limit is None or len(self._threads) < self._limit))
                if replace:
                    self._start_thread()
                elif self._stopped and not self._threads:
                    self._close_pipe()  # the last one out

    def _left_take(self) -> None:
        with self._lock:
            self._taking -= 1
            if self._stopped and not self._taking:
                self._taken.notify_all()

    def _busy(self) -> None:
        """This thread took a connection: if none is left waiting, start one (within the limit)
        before serving it."""
        with self._lock:
            self._idle -= 1
            if self._idle or self._stopped:
                return
            if self._limit is not None and len(self._threads) >= self._limit:
                return  # at the bound: new connections wait in the listen backlog
            self._start_thread()  # none to be had: this one is served all the same


def _report() -> None:
    """An exception escaped ``serve``: to ``threading.excepthook``, and the thread goes on."""
    kind, value, trace = sys.exc_info()
    threading.excepthook(threading.ExceptHookArgs([kind, value, trace, threading.current_thread()]))
    del kind, value, trace
