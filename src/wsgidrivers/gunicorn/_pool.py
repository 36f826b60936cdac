"""The ThreadWorker's connection threads where its main loop accepts (systems without Linux's
``EPOLLEXCLUSIVE``: on Linux its threads accept for themselves, ``_common/connthreads``), and its
bound on requests in the application (the asyncio
worker's application pool is the asyncio driver's ``wsgidrivers._common.workerpool.WorkerPool``, with
daemon threads).

All are daemon threads: a ``ThreadPoolExecutor``'s threads are joined when the interpreter exits, so
one application stuck in a request would keep a worker alive after SIGQUIT (which must end it at
once) until the arbiter's SIGKILL.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from wsgidrivers._common.connthreads import SPARE_DELAY
from wsgidrivers._common.settings import IDLE_THREAD_TIMEOUT

__all__ = ["ConnectionThreads", "Slots"]



class ConnectionThreads:
    """Threads that serve connections: reused (a new thread per connection would cost its start-up
    each time), and ended after ``idle_timeout`` seconds without a connection while another one is
    idle, so that the worker shrinks back after a burst. The caller bounds how many jobs run at
    once (``--worker-connections``), and so the threads.

    A job that finds no idle thread waits for one to come back; another thread is started only when
    none comes back within ``spare_delay`` seconds (the rule of the threading server's pool,
    ``_common/connthreads``), and from then on at once for each job that waits, until one does
    come back (a burst of kept-alive clients, stalled ones). Starting a thread whenever none was
    idle made the pool run away under a steady load of short connections on a busy CPU: threads
    that had sent their response but waited for the GIL to finish counted as busy, so each new
    connection started another thread, and each thread made the wait for the GIL longer (100-150
    threads for 10 clients, docs/performance.md).
    """

    def __init__(self, idle_timeout: float = IDLE_THREAD_TIMEOUT, spare_delay: float = SPARE_DELAY) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        #: Threads waiting for a job, less the jobs queued: below zero, jobs wait for a thread.
        self._idle = 0
        self._idle_timeout = idle_timeout
        self._spare_delay = spare_delay
        self._count = 0
        self._returns = 0  # jobs finished: the spares thread's measure of progress
        self._short = threading.Condition(self._lock)  # a job waits for a thread
        self._spares: threading.Thread | None = None  # started when first needed, leaves when idle
        self._spares_asleep = False

    @property
    def size(self) -> int:
        """Threads running now (serving or idle), not counting the spares thread."""
        return self._count

    def submit(self, job: Callable[..., None], *args: Any) -> None:
        with self._lock:
            self._idle -= 1
            start = self._idle < 0 and (self._count == 0 or not self._wake_spares())
            if start:  # nobody can come back for it (or no spares thread): a thread now
                self._count += 1
                self._idle += 1
        self._jobs.put((job, args))
        if start:
            self._start_thread()

    def _start_thread(self) -> None:
        # Daemon threads: SIGQUIT must end the worker at once, even with a request in progress.
        threading.Thread(target=self._serve, name="wsgicore-conn", daemon=True).start()

    def _wake_spares(self) -> bool:
        """Under the lock, a job waits: make sure the spares thread watches (False: none to be had)."""
        if self._spare_delay <= 0:
            return False
        if self._spares is None:
            spares = threading.Thread(target=self._start_spares, name="wsgicore-spares", daemon=True)
            try:
                spares.start()
            except RuntimeError:  # no thread to be had now
                return False
            self._spares = spares
        elif self._spares_asleep:
            self._spares_asleep = False  # one notify per wake-up
            self._short.notify()
        return True

    def _start_spares(self) -> None:
        """The spares thread: while jobs wait, give the busy threads ``spare_delay`` to come back,
        and start a thread for each waiting job if none did; it leaves after ``idle_timeout``
        seconds with no job waiting (the next one that waits starts it again)."""
        stuck = -1  # self._returns when threads were last started for want of any coming back
        with self._lock:
            while True:
                if self._idle >= 0:
                    self._spares_asleep = True
                    woken = self._short.wait(self._idle_timeout)
                    self._spares_asleep = False
                    if not woken and self._idle >= 0:
                        self._spares = None
                        return
                    continue
                returns = self._returns
                if returns != stuck:
                    self._short.wait(self._spare_delay)
                    if self._idle >= 0 or self._returns != returns:
                        continue
                waiting, stuck = -self._idle, returns
                for _ in range(waiting):
                    self._count += 1  # before the start: the thread may serve before we count it
                    self._idle += 1
                    try:
                        self._start_thread()
                    except RuntimeError:  # no thread now: the next look tries again
                        self._count -= 1
                        self._idle -= 1
                        break
                else:
                    continue
                self._short.wait(self._spare_delay)  # not in a busy loop

    def _serve(self) -> None:
        jobs = self._jobs
        timeout = self._idle_timeout
        while True:
            try:
                job, args = jobs.get(timeout=timeout)
            except queue.Empty:
                with self._lock:
                    # Another thread is idle (and no job is promised to this one): leave. A job
                    # queued meanwhile was counted against another idle thread, which takes it.
                    if self._idle > 1:
                        self._idle -= 1
                        self._count -= 1
                        return
                continue
            job(*args)  # never raises: the ThreadWorker's serve_connection catches everything
            del job, args  # no reference to a finished connection while waiting
            with self._lock:
                self._idle += 1
                self._returns += 1


class Slots:
    """At most ``size`` holders at once (``with slots:``): tokens in a ``queue.SimpleQueue``, whose
    blocking ``get`` is C code. Many connection threads contend for few slots (50 clients, 4
    threads); a ``threading.BoundedSemaphore`` is a Python-level Condition, more work per wait."""

    def __init__(self, size: int) -> None:
        self._tokens: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(size):
            self._tokens.put(None)

    def __enter__(self) -> None:
        self._tokens.get()

    def __exit__(self, *exc_info: object) -> None:
        self._tokens.put(None)
