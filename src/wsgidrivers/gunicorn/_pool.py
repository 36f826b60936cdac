"""The workers' threads: the asyncio worker's application pool, the ThreadWorker's connection threads
and its bound on requests in the application.

All are daemon threads: a ``ThreadPoolExecutor``'s threads are joined when the interpreter exits, so
one application stuck in a request would keep a worker alive after SIGQUIT (which must end it at
once) until the arbiter's SIGKILL.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["ConnectionThreads", "DaemonThreadPool", "Slots"]

T = TypeVar("T")
_Job = tuple["concurrent.futures.Future[Any]", Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class DaemonThreadPool(concurrent.futures.Executor):
    """At most ``size`` daemon threads, started as work arrives and reused."""

    def __init__(self, size: int, name: str = "wsgi-worker") -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, not {size!r}")
        self._size = size
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._shutdown = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._jobs.put((future, fn, args, kwargs))
            if self._idle:
                self._idle -= 1
            elif len(self._threads) < self._size:
                thread = threading.Thread(target=self._work, name=f"{self._name}-{len(self._threads)}",
                                          daemon=True)
                self._threads.append(thread)
                thread.start()
        return future

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn, args, kwargs = job
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            with self._lock:
                self._idle += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            threads = list(self._threads)
        if cancel_futures:
            while True:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    job[0].cancel()
        for _ in threads:
            self._jobs.put(None)
        if wait:
            for thread in threads:
                thread.join()


class ConnectionThreads:
    """Threads that serve connections: started when none is free, then reused (a new thread per
    connection would cost its start-up each time). The caller bounds how many jobs run at once."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def submit(self, job: Callable[..., None], *args: Any) -> None:
        with self._lock:
            start = self._idle == 0
            if not start:
                self._idle -= 1
        self._jobs.put((job, args))
        if start:
            # Daemon threads: SIGQUIT must end the worker at once, even with a request in progress.
            threading.Thread(target=self._serve, name="wsgicore-conn", daemon=True).start()

    def _serve(self) -> None:
        while True:
            job, args = self._jobs.get()
            job(*args)  # never raises: the ThreadWorker's serve_connection catches everything
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
