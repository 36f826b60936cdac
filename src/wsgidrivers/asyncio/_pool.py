"""The asyncio driver's own worker threads: a job queue without futures, that can say whether jobs wait.

``concurrent.futures.ThreadPoolExecutor`` builds a Future (with its own condition variable) per job
and passes through an idle semaphore on both sides; the driver needs neither: a worker hands its
connection back through the connection's Bridge. And a worker that just answered a keep-alive
request may wait a moment for that client's next one (see ``_worker``) only while no other job is
waiting for a thread: :attr:`WorkerPool.backlog` says so.
"""

from __future__ import annotations

import concurrent.futures
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["WorkerPool"]

_Job = tuple[Callable[..., Any], tuple[Any, ...]]


class _FutureJob:
    """A :meth:`WorkerPool.submit` call and its Future."""

    __slots__ = ("args", "fn", "future", "kwargs")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.future: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def __call__(self) -> None:
        if not self.future.set_running_or_notify_cancel():
            return
        try:
            result = self.fn(*self.args, **self.kwargs)
        except BaseException as exc:
            self.future.set_exception(exc)
        else:
            self.future.set_result(result)


class WorkerPool(concurrent.futures.Executor):
    """At most ``size`` threads, started as jobs arrive (while none is idle) and kept.

    :meth:`run` queues a call without a Future (a job's exceptions are its own to handle; one
    that escapes is given to ``threading.excepthook``); :meth:`submit` is the Executor API, for
    callers that want one.
    """

    def __init__(self, size: int, name: str = "wsgi-worker", *, daemon: bool = False) -> None:
        if type(size) is not int or size < 1:
            raise ValueError(f"size must be an int >= 1, not {size!r}")
        self._size = size
        self._name = name
        self._daemon = daemon
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0  # threads waiting for a job, less the jobs queued for them
        self._shutdown = False

    @property
    def backlog(self) -> int:
        """Jobs queued and not yet taken by a thread."""
        return self._jobs.qsize()

    def run(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)``; raises RuntimeError after :meth:`shutdown`."""
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot run new jobs after shutdown")
            self._jobs.put((fn, args))
            if self._idle > 0:
                self._idle -= 1
            elif len(self._threads) < self._size:
                self._start_thread()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        job = _FutureJob(fn, args, kwargs)
        self.run(job)
        return job.future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            if not self._shutdown:
                self._shutdown = True
                if cancel_futures:
                    self._drain()
                for _ in self._threads:
                    self._jobs.put(None)
            threads = list(self._threads)
        if wait:
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join()

    def _drain(self) -> None:
        # Called with _lock held: drop the jobs no thread has taken (their connections are
        # aborted by the service; a Future made by submit is cancelled).
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            if job is not None and isinstance(job[0], _FutureJob):
                job[0].future.cancel()

    def _start_thread(self) -> None:
        thread = threading.Thread(target=self._work, name=f"{self._name}-{len(self._threads)}",
                                  daemon=self._daemon)
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        jobs = self._jobs
        while True:
            job = jobs.get()
            if job is None:
                return
            fn, args = job
            job = None
            try:
                fn(*args)
            except BaseException:  # a job's own failure must not end the thread
                kind, value, trace = sys.exc_info()
                threading.excepthook(threading.ExceptHookArgs(
                    [kind, value, trace, threading.current_thread()]))
                del kind, value, trace
            del fn, args
            with self._lock:
                self._idle += 1
