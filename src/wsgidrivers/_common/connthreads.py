"""Threads that accept their own connections (Linux): the threading server's connection threads.

A server that accepts in one thread and hands each connection to another pays, per connection, a
wake-up of the serving thread while the accepting one still holds the GIL (and with a thread per
connection, the thread's start as well). Here every idle thread waits on the listener itself, in an
epoll of its own where the listener is registered with ``EPOLLEXCLUSIVE`` (Linux 4.5): a new
connection wakes one waiting thread and nobody else, and that thread accepts it and serves it. No
hand-over, no thread start per connection.

The pool grows and shrinks with the load. When the last idle thread takes a connection, the pool
grows (within ``limit``) only if no busy thread comes back within ``spare_delay`` seconds: a thread
of its own (the spares thread, asleep while some thread waits) starts one then, and from then on
at once each time none waits, until a busy thread comes back. So a connection that stalls holds
up the next ones for ``spare_delay`` at most, once, and a burst of clients that stay (kept-alive
connections) gets its threads as fast as they start. Starting a thread as soon as none waited
made the pool run away under a steady load of short connections on a busy CPU: threads that had
sent their response but waited for the GIL to finish counted as busy, each new connection started
another thread, and each added thread made the wait for the GIL longer (many times more threads
than clients, and thread starts and GIL hand-overs on most requests: docs/performance.md).

The kernel wakes the first waiting thread in the order they were registered, so under a light load
the first threads do the work and the later ones stay idle: a thread idle for ``idle_timeout``
seconds leaves while another one waits. With ``limit`` threads busy nobody accepts: new
connections wait in the listen backlog until a thread is free.

A server that shares its listener with other processes (gunicorn's workers) may :meth:`pause`
the pool: the listener leaves every thread's poll at once (``epoll_ctl`` from the pausing thread,
so no wake-up reaches this pool from then on, whatever its threads are doing) until
:meth:`resume`, and the next connections wake another process's waiters instead. A thread the
kernel woke for a connection before the pause takes it all the same (the exclusive wake-up was
told to nobody else).

Processes that share a listener also share its exclusive wake-ups, handed out in the order their
waiters registered: every idle thread of one process on the listener would take a burst of
connections before the next process got one (each thread woken takes its connection before any
can pause the pool). So such a pool may keep at most ``waiters`` of its idle threads on the
listener; the others wait their turn off it, and one is called up when the last waiter takes a
connection (a thread coming back from a connection takes a free place itself, with no wake-up).

A thread back from a connection calls ``take()`` at once, before it polls: while every thread was
busy, new connections queued in the listen backlog with no wake-up told to anyone, and accept()
finds the next one without an ``epoll_wait`` per connection (the one-at-a-time server's loop does the
same; only when nothing waits any more does the thread poll, after an accept() that found nothing).

Nothing here knows HTTP or sockets beyond a file descriptor: ``take()`` accepts (None when nothing
waits or another thread was faster), ``serve(taken)`` serves what it took.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, Final, Generic, TypeVar

__all__ = ["EXCLUSIVE_WAKEUPS", "SPARE_DELAY", "AcceptingThreads"]

_EXCLUSIVE: Final[int] = getattr(select, "EPOLLEXCLUSIVE", 0)

#: Whether this platform can wake one of several threads waiting on a listener (epoll with
#: EPOLLEXCLUSIVE). A kernel older than 4.5 refuses the flag: :meth:`AcceptingThreads.start` then
#: returns False and the caller serves its own way.
EXCLUSIVE_WAKEUPS: Final = bool(_EXCLUSIVE) and hasattr(select, "epoll") and sys.platform == "linux"

#: Seconds every thread may be busy, with none coming back, before the pool starts another: a few
#: times the GIL's switch interval (``sys.getswitchinterval()``), which a short connection's tail
#: may wait for the GIL, and short enough that a stalled client holding the last thread goes
#: unnoticed by the others (figures: docs/performance.md).
SPARE_DELAY: Final = 0.02

_T = TypeVar("_T")


class AcceptingThreads(Generic[_T]):
    """Up to ``limit`` threads (None: no bound) that each wait on ``listener`` (a descriptor, or
    anything with ``fileno()``, or a sequence of them: ``take()`` then finds which one is ready),
    accept with ``take()`` and serve with ``serve()``.

    :meth:`start` starts the first thread (and the spares thread, unless ``spare_delay`` is 0: then
    the last idle thread to take a connection starts another at once); :meth:`stop` makes the idle
    threads leave at once and the busy ones after the connection they serve; :meth:`threads` are
    those still running (to join them). One instance serves one run of a server: after
    :meth:`stop` it is done.
    """

    def __init__(self, listener: Any, take: Callable[[], _T | None], serve: Callable[[_T], None], *,
                 limit: int | None, idle_timeout: float, daemon: bool, name: str,
                 started: Callable[[], None] | None = None,
                 spare_delay: float = SPARE_DELAY, take_when_stopped: bool = False,
                 waiters: int | None = None) -> None:
        if limit is not None and (type(limit) is not int or limit < 1):
            raise ValueError(f"limit must be None or an int >= 1, not {limit!r}")
        if waiters is not None and (type(waiters) is not int or waiters < 1):
            raise ValueError(f"waiters must be None or an int >= 1, not {waiters!r}")
        listeners = listener if isinstance(listener, Sequence) else [listener]
        self._fds = [fd if isinstance(fd, int) else fd.fileno() for fd in listeners]
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
        self._epolls: dict[Any, None] = {}  # each thread's poll, in the threads' order (see pause)
        self._idle = 0  # threads waiting on the listener (or about to)
        self._taking = 0  # threads inside take(): stop() waits for them
        self._stopped = False
        self._stop_r = self._stop_w = -1  # the stop pipe, made by start()
        self._paused = False
        self._serial = 0
        self._spare_delay = spare_delay
        #: A thread woken for a connection as the pool stopped takes it, then leaves (for a
        #: listener other processes share: the exclusive wake-up was told to nobody else).
        self._take_when_stopped = take_when_stopped
        self._max_waiters = waiters  # idle threads on the listeners at once (None: every one)
        self._waiting = 0  # threads in (or on their way into) their poll, with waiters set
        self._following = 0  # idle threads waiting their turn off the listeners
        self._turn = threading.Condition(self._lock)
        self._spares: threading.Thread | None = None  # the spares thread (see the module)
        self._spares_asleep = False  # it waits for _short without a timeout: _left_take wakes it
        self._short = threading.Condition(self._lock)  # notified when no thread waits any more
        self._returns = 0  # connections served: the spares thread's measure of progress

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
        """The threads still running (each leaves after its connection once stopped), the spares
        thread too."""
        with self._lock:
            spares = [self._spares] if self._spares is not None and self._spares.is_alive() else []
            return [*self._threads, *spares]

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
            if not self._start_thread():
                return False
            if self._spare_delay > 0:
                spares = threading.Thread(target=self._start_spares, name=f"spares-of-{self._name}",
                                          daemon=self._daemon)
                try:
                    spares.start()
                except RuntimeError:  # no thread to be had: the busy threads start spares themselves
                    self._spare_delay = 0
                else:
                    self._spares = spares
            return True

    def stop(self) -> None:
        """No more accepts: idle threads leave now, busy ones after their connection. Returns once
        no thread is inside ``take()`` (so the caller may change the listener's mode or close it)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._short.notify_all()  # the spares thread leaves
            self._turn.notify_all()  # so do the threads waiting their turn
            # Off the listeners at once: from now on a new connection wakes another process's
            # waiter, not a thread of this pool on its way out (only a wake-up already given
            # counts, see take_when_stopped).
            if not self._paused:
                self._off_listeners()
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

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Take the listeners out of every thread's poll (from any thread) until :meth:`resume`:
        no new connection wakes this pool meanwhile. Cheap when already paused."""
        if self._paused:
            return
        with self._lock:
            if self._paused or self._stopped:
                return
            self._paused = True
            self._off_listeners()

    def resume(self) -> None:
        """Put the listeners back in every thread's poll (a connection waiting meanwhile wakes a
        thread at once). Cheap when not paused."""
        if not self._paused:
            return
        with self._lock:
            if not self._paused:
                return
            self._paused = False
            if self._stopped:
                return
            for epoll in self._epolls:
                self._on_listeners(epoll)
            if not self._idle and self._spares_asleep:  # every thread busy meanwhile
                self._spares_asleep = False
                self._short.notify()

    def _off_listeners(self) -> None:
        for epoll in self._epolls:
            for fd in self._fds:
                with contextlib.suppress(OSError, ValueError):  # closed, or off already
                    epoll.unregister(fd)

    def _on_listeners(self, epoll: Any) -> None:
        for fd in self._fds:
            with contextlib.suppress(FileExistsError):
                epoll.register(fd, select.EPOLLIN | _EXCLUSIVE)

    def _close_pipe(self) -> None:
        for fd in (self._stop_r, self._stop_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._stop_r = self._stop_w = -1

    def _poll(self) -> Any:
        epoll = select.epoll()  # the lock is held
        try:
            if not self._paused and not self._stopped:
                self._on_listeners(epoll)
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
        self._epolls[epoll] = None
        return True

    def _run(self, epoll: Any) -> None:
        idle = True
        last = False
        again = False  # take() before polling: back from a connection (see _takes_again)
        try:
            if self._started_hook is not None:
                self._started_hook()
            while not last:
                if not again:
                    waiters = self._max_waiters
                    if waiters is not None:
                        with self._lock:
                            if not self._wait_turn(waiters):
                                idle = self._stopped  # (else counted out by _wait_turn)
                                return
                    ready = epoll.poll(self._idle_timeout)
                    with self._lock:
                        if self._max_waiters is not None:
                            self._waiting -= 1
                            if not self._waiting and self._following:
                                self._turn.notify()  # the last waiter is off: call up the next
                        if self._stopped:
                            if not (self._take_when_stopped and self._woken_for_connection(ready)):
                                return
                            last = True
                        elif not ready:
                            if self._idle > 1:  # idle too long while another thread waits: leave
                                self._idle -= 1  # in this hold of the lock: two cannot both leave
                                idle = False
                                return
                            continue
                        self._taking += 1
                try:
                    taken = self._take()
                except BaseException:
                    self._left_take(False)
                    raise
                self._left_take(taken is not None)
                if taken is None:
                    again = False
                    continue  # nothing waits any more, or another thread (or process) was faster
                idle = False
                try:
                    self._serve(taken)
                except Exception:
                    _report()
                finally:
                    del taken
                with self._lock:
                    self._idle += 1
                    self._returns += 1
                    idle = True
                    again = self._takes_again()
                    if again:
                        self._taking += 1
        finally:
            with self._lock:
                self._epolls.pop(epoll, None)
                epoll.close()
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

    def _takes_again(self) -> bool:
        """Whether a thread back from a connection calls ``take()`` before it polls (the lock is
        held): the connections that arrived meanwhile wait in the backlog, no wake-up told anyone
        of them while every thread was busy, and an accept() finds the next one without an
        ``epoll_wait`` per connection (the one-at-a-time server's loop does the same). Not while
        paused or stopped (no connection for this pool then), nor with ``waiters`` set and every
        place on the listeners taken: a thread that would wait its turn does not take one either."""
        if self._stopped or self._paused:
            return False
        waiters = self._max_waiters
        return waiters is None or self._waiting < waiters

    def _wait_turn(self, limit: int) -> bool:
        """With ``waiters`` set (``limit``): wait (off the listeners) until fewer than that many
        threads are on them, then count this one in (the lock is held). False: leave (stopped; or
        idle for ``idle_timeout`` while another thread is idle, counted out here)."""
        while self._waiting >= limit:
            if self._stopped:
                return False
            self._following += 1
            try:
                called = self._turn.wait(self._idle_timeout)
            finally:
                self._following -= 1
            if not called and self._waiting >= limit and self._idle > 1 and not self._stopped:
                self._idle -= 1
                return False
        if self._stopped:
            return False
        self._waiting += 1
        return True

    def _woken_for_connection(self, ready: list[tuple[int, int]]) -> bool:
        return any(fd != self._stop_r for fd, _ in ready)

    def _left_take(self, took: bool) -> None:
        """Out of ``take()``; ``took``: with a connection, so this thread is busy now (if none is
        left waiting, wake the spares thread, or without one start a thread, within the limit,
        before serving it). One hold of the lock for both."""
        with self._lock:
            self._taking -= 1
            if self._stopped and not self._taking:
                self._taken.notify_all()
            if not took:
                return
            self._idle -= 1
            if self._idle or self._stopped or self._paused or self._at_limit():
                return  # at the bound: new connections wait in the listen backlog
            if self._spares is None:
                self._start_thread()  # none to be had: this one is served all the same
            elif self._spares_asleep:
                self._spares_asleep = False  # one notify per wake-up
                self._short.notify()

    def _at_limit(self) -> bool:
        return self._limit is not None and len(self._threads) >= self._limit

    def _start_spares(self) -> None:
        """The spares thread: while no thread waits, give the busy ones ``spare_delay`` to come
        back, and start another if none did (see the module). Until one does come back, the pool
        is stuck (a burst of clients that stay, stalled ones): each time the last idle thread
        takes a connection, another is started at once, not ``spare_delay`` later each."""
        stuck = -1  # self._returns when a thread was last started for want of any coming back
        with self._lock:
            while not self._stopped:
                if self._idle or self._paused or self._at_limit():
                    self._spares_asleep = True
                    self._short.wait()  # until _left_take sees the last idle thread busy, or stop()
                    self._spares_asleep = False
                    continue
                returns = self._returns
                if returns != stuck:
                    self._short.wait(self._spare_delay)
                    if (self._stopped or self._idle or self._returns != returns
                            or self._at_limit()):
                        continue
                if self._start_thread():
                    stuck = returns
                else:  # no descriptor or thread now: try again later, not in a busy loop
                    self._short.wait(self._spare_delay)


def _report() -> None:
    """An exception escaped ``serve``: to ``threading.excepthook``, and the thread goes on."""
    kind, value, trace = sys.exc_info()
    threading.excepthook(threading.ExceptHookArgs([kind, value, trace, threading.current_thread()]))
    del kind, value, trace
