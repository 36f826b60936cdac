"""``WorkerPool`` wakes one idle thread per job, not two: with several threads idle, a job queued
must not make a second idle thread wake up, find nothing and sleep again (a ``queue.SimpleQueue``
shared by the waiting threads does that: the thread that takes a job releases the lock the others
wait on). Counted as the kernel counts thread switches (Linux's /proc), not timed."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from wsgidrivers._common.workerpool import WorkerPool

TIMEOUT = 10.0
JOBS = 200

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _switches(thread: threading.Thread) -> int:
    """Voluntary context switches of ``thread``: each time it blocked (and woke up again)."""
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    for line in status.splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches in /proc")


def test_idle_threads_sleep_while_jobs_come_one_at_a_time() -> None:
    pool = WorkerPool(4)
    try:
        # Four threads, all busy at once, then all idle.
        barrier = threading.Barrier(5)
        started = [pool.submit(barrier.wait, TIMEOUT) for _ in range(4)]
        barrier.wait(TIMEOUT)
        for future in started:
            future.result(TIMEOUT)
        threads = list(pool._threads)
        assert len(threads) == 4
        before = {thread.native_id: _switches(thread) for thread in threads}
        # One job at a time: one thread is enough, the one that went idle last takes each.
        ran_on = {pool.submit(threading.get_native_id).result(TIMEOUT) for _ in range(JOBS)}
        woken = {thread.native_id: _switches(thread) - before[thread.native_id]
                 for thread in threads if thread.native_id not in ran_on}
    finally:
        pool.shutdown(wait=True)
    # A shared queue wakes a second idle thread per job for nothing (and the jobs then go round
    # all the threads, each woken about JOBS / 4 * 2 times).
    assert len(woken) >= 2, f"{JOBS} jobs, one at a time, ran on {len(ran_on)} threads"
    assert sum(woken.values()) < JOBS // 20, f"idle threads woke {woken} times"
