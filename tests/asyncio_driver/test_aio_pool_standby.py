"""``WorkerPool`` with stand-by posts: idle threads that wait for work of their own kind (the
gunicorn AsyncioWorker's: new connections) within the pool's size. Every job queued must run, also
while the only thread stands by; shutdown must reach standing threads."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest

from wsgidrivers._common.workerpool import WorkerPool

TIMEOUT = 10.0


class FakePost:
    """A post whose work is handed in by the test (``give``)."""

    def __init__(self, standby: FakeStandby) -> None:
        self._standby = standby
        self._cond = threading.Condition()
        self._work: list[Any] = []
        self._woken = False

    def give(self, job: Any) -> None:
        with self._cond:
            self._work.append(job)
            self._cond.notify()

    def wait(self) -> Any:
        with self._cond:
            self._standby.standing.set()
            while not self._work and not self._woken:
                self._cond.wait()
            self._standby.standing.clear()
            if self._work:
                return self._work.pop(0)
            self._woken = False
            return None

    def wake(self) -> None:
        with self._cond:
            self._woken = True
            self._cond.notify()


class FakeStandby:
    posts = 1

    def __init__(self) -> None:
        self.post = FakePost(self)
        self.free = True
        self.wanted = True
        self.standing = threading.Event()
        self.claims = 0

    def claim(self) -> FakePost | None:
        if not self.free or not self.wanted:
            return None
        self.free = False
        self.claims += 1
        return self.post

    def release(self, post: Any) -> None:
        self.free = True






def test_set_standby_starts_a_thread_that_stands_by() -> None:
    pool = WorkerPool(2)
    standby = FakeStandby()
    pool.set_standby(standby)
    assert standby.standing.wait(TIMEOUT)
    done = threading.Event()
    standby.post.give((done.set, ()))  # the standing thread runs its post's work
    assert done.wait(TIMEOUT)
    pool.shutdown()


def test_a_job_queued_while_the_only_thread_stands_by_is_run() -> None:
    pool = WorkerPool(1)
    standby = FakeStandby()
    pool.set_standby(standby)
    assert standby.standing.wait(TIMEOUT)
    done = threading.Event()
    pool.run(done.set)  # wakes the standing thread
    assert done.wait(TIMEOUT)
    pool.shutdown()


def test_a_job_queued_while_the_thread_does_its_posts_work_runs_after_it() -> None:
    # The stall this guards against: a job queued while every thread was busy was taken without
    # being counted, leaving the pool counting a waiting thread that then stood by instead.
    pool = WorkerPool(1)
    standby = FakeStandby()
    pool.set_standby(standby)
    assert standby.standing.wait(TIMEOUT)
    release = threading.Event()
    order: list[str] = []
    standby.post.give((lambda: (release.wait(TIMEOUT), order.append("post")), ()))
    time.sleep(0.05)
    first = threading.Event()
    pool.run(lambda: (order.append("job 1"), first.set()))
    release.set()
    assert first.wait(TIMEOUT)
    assert standby.standing.wait(TIMEOUT)  # back at its post
    second = threading.Event()
    pool.run(second.set)
    assert second.wait(TIMEOUT), "a job queued while the thread stood by was never run"
    assert order == ["post", "job 1"]
    pool.shutdown()


@pytest.mark.parametrize("size", [1, 2, 3])
def test_every_job_and_every_post_work_runs_under_a_random_mix(size: int) -> None:
    pool = WorkerPool(size)
    standby = FakeStandby()
    pool.set_standby(standby)
    rnd = random.Random(size)
    ran: list[int] = []
    lock = threading.Lock()
    total = 400

    def note(i: int) -> None:
        if rnd.random() < 0.2:
            time.sleep(0.0005)
        with lock:
            ran.append(i)

    for i in range(total):
        if rnd.random() < 0.3:
            standby.post.give((note, (i,)))
        else:
            pool.run(note, i)
        if rnd.random() < 0.1:
            time.sleep(0.001)
    deadline = time.monotonic() + TIMEOUT
    while len(ran) < total and time.monotonic() < deadline:
        time.sleep(0.01)
    # Work given to the post runs only while a thread stands there; with the jobs done, one does.
    assert sorted(ran) == list(range(total))
    pool.shutdown()


def test_shutdown_reaches_a_standing_thread() -> None:
    pool = WorkerPool(2)
    standby = FakeStandby()
    pool.set_standby(standby)
    assert standby.standing.wait(TIMEOUT)
    started = time.monotonic()
    pool.shutdown(wait=True)
    assert time.monotonic() - started < TIMEOUT
    with pytest.raises(RuntimeError):
        pool.run(print)


def test_no_standing_while_the_standby_does_not_want_it() -> None:
    pool = WorkerPool(1)
    standby = FakeStandby()
    standby.wanted = False
    pool.set_standby(standby)
    done = threading.Event()
    pool.run(done.set)
    assert done.wait(TIMEOUT)
    time.sleep(0.05)
    assert not standby.standing.is_set()
    assert standby.claims == 0
    pool.shutdown()
