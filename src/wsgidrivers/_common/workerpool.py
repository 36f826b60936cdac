"""The asyncio driver's worker threads (and the gunicorn AsyncioWorker's, which passes them to its
Service): a job queue without futures, that can say whether jobs wait. Here, not in the asyncio
package, because two packages use it; nothing here knows asyncio or HTTP.

``concurrent.futures.ThreadPoolExecutor`` builds a Future (with its own condition variable) per job
and passes through an idle semaphore on both sides; the driver needs neither: a worker hands its
connection back through the connection's Bridge. Nor does it wait on a ``queue.SimpleQueue``: the
threads blocked in its ``get()`` share one lock, which the thread that takes a job releases, so every
job woke a second idle thread for nothing (two more thread switches and a GIL hand-off per job, a
large share of a new connection's cost). Each idle thread waits on its own lock instead, and a job
wakes exactly one, the one that went idle last (its stack and caches are the warmest).

A worker that just answered a keep-alive request may wait a moment for that client's next one (the
asyncio driver's ``_worker``) only while no other job is waiting for a thread:
:attr:`WorkerPool.backlog` says so.

An idle thread may also *stand by* (:meth:`WorkerPool.set_standby`): wait for work of its own kind
(the gunicorn AsyncioWorker's: a new connection on the listeners, which it accepts and serves
itself) instead of waiting for a job, within the pool's size like any job. A job queued while only
standing threads are idle wakes one of them.
"""

from __future__ import annotations

import collections
import concurrent.futures
import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Post", "Standby", "WorkerPool"]

_Job = tuple[Callable[..., Any], tuple[Any, ...]]


class Post(Protocol):
    """Where one idle thread stands by (see :class:`Standby`)."""

    def wait(self) -> _Job | None:
        """Block until there is work of this post's kind (return it as ``(fn, args)``) or
        :meth:`wake` was called or there is nothing to do here any more (return None)."""

    def wake(self) -> None:
        """Any thread: make :meth:`wait` return None soon (a job is queued for this thread)."""


class Standby(Protocol):
    """What idle threads of a :class:`WorkerPool` may do instead of waiting for a job."""

    #: Threads that may stand by at once (started at once by :meth:`WorkerPool.set_standby`).
    posts: int

    def claim(self) -> Post | None:
        """A free post if a thread should stand by now, else None (the pool's lock is held)."""

    def release(self, post: Post) -> None:
        """The thread left ``post`` (the pool's lock is held)."""


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
        self._jobs: collections.deque[_Job | None] = collections.deque()  # under _lock
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        # The wake locks of threads waiting for a job that no job was queued for yet, the one that
        # went idle last at the end; each is held, and releasing it wakes its thread.
        self._waiting: list[threading.Lock] = []
        self._shutdown = False
        self._standby: Standby | None = None
        # Standing threads' posts -> whether a job was queued for that thread (it was woken).
        self._standing: dict[Post, bool] = {}
        self._standing_idle = 0  # standing threads no job was queued for

    def threads(self) -> list[threading.Thread]:
        """Every thread the pool started (to join them after :meth:`shutdown` without waiting)."""
        with self._lock:
            return list(self._threads)

    @property
    def backlog(self) -> int:
        """Jobs queued and not yet taken by a thread."""
        return len(self._jobs)

    @property
    def standing(self) -> int:
        """Threads at a stand-by post now (one woken for work counts until it has left its post)."""
        with self._lock:
            return len(self._standing)

    def set_standby(self, standby: Standby) -> None:
        """Let idle threads stand by at ``standby``'s posts; starts that many threads now (within
        the pool's size), so that they stand by before any job comes."""
        with self._lock:
            self._standby = standby
            while len(self._threads) < min(self._size, standby.posts):
                self._start_thread()

    def run(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)``; raises RuntimeError after :meth:`shutdown`."""
        wake: Post | None = None
        waiter: threading.Lock | None = None
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot run new jobs after shutdown")
            self._jobs.append((fn, args))
            if self._waiting:
                waiter = self._waiting.pop()
            elif self._standing_idle > 0:
                self._standing_idle -= 1
                wake = next(post for post, woken in self._standing.items() if not woken)
                self._standing[wake] = True
            elif len(self._threads) < self._size:
                self._start_thread()
        if waiter is not None:
            waiter.release()
        elif wake is not None:
            wake.wake()

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
                self._jobs.extend(None for _ in self._threads)
            threads = list(self._threads)
            standing = list(self._standing)
            waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            waiter.release()  # it takes its None
        for post in standing:
            post.wake()  # it leaves its post, and takes its None
        if wait:
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join()

    def _drain(self) -> None:
        # Called with _lock held: drop the jobs no thread has taken (their connections are
        # aborted by the service; a Future made by submit is cancelled).
        jobs = self._jobs
        while jobs:
            job = jobs.popleft()
            if job is not None and isinstance(job[0], _FutureJob):
                job[0].future.cancel()

    def _start_thread(self) -> None:
        thread = threading.Thread(target=self._work,
                                  name=f"{self._name}-{len(self._threads)}", daemon=self._daemon)
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        # A thread started for a job finds it queued (unless a thread that finished meanwhile took
        # it first); one started to stand by finds none: either way, as for every later job.
        wake = threading.Lock()  # this thread's: held, except while run() hands it a job
        wake.acquire()
        job = self._next_job(wake)
        while job is not None:
            self._run_one(job)
            job = None  # no reference to a finished job's arguments while waiting
            job = self._next_job(wake)

    def _next_job(self, wake: threading.Lock) -> _Job | None:
        """An idle thread's next job (None: leave): stand by at a free post while the standby
        wants one and no job is queued, else wait on ``wake`` for a job."""
        jobs = self._jobs
        while True:
            post = None
            with self._lock:
                # A job queued while every thread was busy. (Or one promised to a waiting thread
                # that has not woken yet: that one then finds none and waits again, which only
                # costs a thread woken for nothing; counting a thread idle that is not would
                # leave a job queued while it stands by.)
                if jobs:
                    return jobs.popleft()
                standby = self._standby
                if standby is not None and not self._shutdown:
                    post = standby.claim()
                if post is None:
                    self._waiting.append(wake)
                else:
                    self._standing[post] = False
                    self._standing_idle += 1
            if post is None:
                wake.acquire()  # released by run() with a job queued, or by shutdown()
                with self._lock:
                    if jobs:
                        return jobs.popleft()
                continue  # a thread that finished its job took this one first: wait again
            work = post.wait()
            with self._lock:
                woken = self._standing.pop(post)
                if not woken:
                    self._standing_idle -= 1
                if standby is not None:
                    standby.release(post)
            if woken:
                # A job was queued for this thread: it takes one (after its own work, if it has
                # some: the job waits that long, as it would for any busy thread). If another
                # thread took it meanwhile, back to the top: waiting for a job uncounted here would
                # leave the post unmanned, its work waiting until some thread finished a job.
                if work is not None:
                    self._run_one(work)
                    work = None
                with self._lock:
                    if jobs:
                        return jobs.popleft()
                continue
            if work is not None:
                return work

    @staticmethod
    def _run_one(job: _Job) -> None:
        fn, args = job
        try:
            fn(*args)
        except BaseException:  # a job's own failure must not end the thread
            kind, value, trace = sys.exc_info()
            threading.excepthook(threading.ExceptHookArgs(
                [kind, value, trace, threading.current_thread()]))
            del kind, value, trace
