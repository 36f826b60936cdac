"""The ThreadWorker's connection threads and its bound on requests in the application (the asyncio
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

from wsgidrivers._common.settings import IDLE_THREAD_TIMEOUT

__all__ = ["ConnectionThreads", "Slots"]



class ConnectionThreads:
    """Threads that serve connections: started when none is free, then reused (a new thread per
    connection would cost its start-up each time), and ended after ``idle_timeout`` seconds
    without a connection while another one is idle, so that the worker shrinks back after a burst.
    The caller bounds how many jobs run at once (``--worker-connections``), and so the threads."""

    def __init__(self, idle_timeout: float = IDLE_THREAD_TIMEOUT) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # threads waiting for a job, less the jobs queued for them
        self._idle_timeout = idle_timeout
        self._count = 0

    @property
    def size(self) -> int:
        """Threads running now (serving or idle)."""
        return self._count

    def submit(self, job: Callable[..., None], *args: Any) -> None:
        with self._lock:
            start = self._idle == 0
            if start:
                self._count += 1
            else:
                self._idle -= 1
        self._jobs.put((job, args))
        if start:
            # Daemon threads: SIGQUIT must end the worker at once, even with a request in progress.
            threading.Thread(target=self._serve, name="wsgicore-conn", daemon=True).start()

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
