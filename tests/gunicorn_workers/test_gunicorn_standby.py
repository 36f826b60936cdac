"""The AsyncioWorker's stand-by threads (``_standby``) on a real listener, in-process: a new connection
wakes the standing pool thread alone (not a poll registered after the posts, which is the loop's), is
accepted and served there; a full worker declines it; shutdown reaches a standing thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("gunicorn", reason="gunicorn is not installed (pip install 'wsgicore[gunicorn]')")

from wsgidrivers._common.listening import AcceptPause
from wsgidrivers._common.workerpool import WorkerPool
from wsgidrivers.gunicorn._poll import Poller
from wsgidrivers.gunicorn._standby import ListenerStandby, accept_one

TIMEOUT = 10.0


class Rig:
    """A listener, its stand-by posts, then "the loop's" poll (registered after them), a pool."""

    def __init__(self, threads: int = 1) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.setblocking(False)
        self.reports: list[str] = []
        self.pause = AcceptPause(self.reports.append)
        self.full = False
        self.quiet = True
        self.served: list[tuple[str, bytes, list[Any]]] = []
        self.served_event = threading.Event()
        self.declined = threading.Event()
        self.standby = ListenerStandby([self.listener], accept_fresh=self._accept_fresh,
                                       quiet=lambda: self.quiet, may_accept=lambda: not self.full,
                                       declined=self.declined.set)
        self.loop_poll = Poller()
        self.loop_poll.register(self.listener, self.listener, shared=True)
        self.pool = WorkerPool(threads, daemon=True)

    def _accept_fresh(self, listener: socket.socket) -> Any:
        # What the loop's poll saw when the kernel woke this thread: nothing, if the wake-up was
        # exclusive (the loop stays asleep).
        loop_saw = self.loop_poll.select(0)
        accepted = accept_one(listener, self.pause)
        if accepted is None:
            return None
        return self._serve, (accepted[0], loop_saw)

    def _serve(self, sock: socket.socket, loop_saw: list[Any]) -> None:
        with sock:
            sock.settimeout(TIMEOUT)
            data = sock.recv(100)
            sock.sendall(b"ok")
        self.served.append((threading.current_thread().name, data, loop_saw))
        self.served_event.set()

    def start(self) -> None:
        self.pool.set_standby(self.standby)

    def close(self) -> None:
        self.standby.stop()
        self.pool.shutdown(wait=True)
        self.standby.close()
        self.loop_poll.close()
        self.listener.close()


@pytest.fixture
def rig() -> Iterator[Rig]:
    made = Rig()
    yield made
    made.close()


def _exchange(address: Any) -> bytes:
    with socket.create_connection(address, TIMEOUT) as client:
        client.sendall(b"hi")
        return client.recv(10)


def _standing(rig: Rig) -> None:
    deadline = time.monotonic() + TIMEOUT
    # The rig's one pool thread holds one of the posts.
    while len(rig.standby._free) == rig.standby.posts:
        if time.monotonic() > deadline:
            raise AssertionError("no thread stood by")
        time.sleep(0.005)
    # From claiming its post to blocking in epoll_wait there it takes a moment; a connection that
    # comes meanwhile rightly wakes the loop's poll too.
    time.sleep(0.05)


def test_a_new_connection_is_served_by_the_standing_pool_thread_alone(rig: Rig) -> None:
    if not rig.standby.exclusive:
        pytest.skip("EPOLLEXCLUSIVE is Linux-only; elsewhere the loop accepts every connection")
    rig.start()
    _standing(rig)
    for _ in range(3):
        rig.served_event.clear()
        assert _exchange(rig.listener.getsockname()) == b"ok"
        assert rig.served_event.wait(TIMEOUT)
        _standing(rig)
    assert [(data, loop_saw) for _, data, loop_saw in rig.served] == [(b"hi", [])] * 3
    assert all(name.startswith("wsgi-worker") for name, _, _ in rig.served)


def test_while_no_thread_stands_by_the_loops_poll_is_woken(rig: Rig) -> None:
    if not rig.standby.exclusive:
        pytest.skip("EPOLLEXCLUSIVE is Linux-only")
    rig.quiet = False  # busy: nobody stands by
    rig.start()
    with socket.create_connection(rig.listener.getsockname(), TIMEOUT):
        assert rig.loop_poll.select(TIMEOUT) == [rig.listener]
    assert rig.served == []


def test_a_full_worker_declines_and_leaves_the_connection_waiting(rig: Rig) -> None:
    if not rig.standby.exclusive:
        pytest.skip("EPOLLEXCLUSIVE is Linux-only")
    rig.start()
    _standing(rig)
    rig.full = True  # became full while a thread stood by
    with socket.create_connection(rig.listener.getsockname(), TIMEOUT):
        assert rig.declined.wait(TIMEOUT)  # the loop is told
        time.sleep(0.05)
        assert rig.served == []
        assert len(rig.standby._free) == rig.standby.posts  # nobody stands by now
        # Still in the backlog, for whoever looks once the worker has room (the loop's recheck).
        accepted = accept_one(rig.listener, rig.pause)
        assert accepted is not None
        accepted[0].close()


def test_stop_and_shutdown_reach_a_standing_thread(rig: Rig) -> None:
    rig.start()
    _standing(rig)
    started = time.monotonic()
    rig.standby.stop()
    rig.pool.shutdown(wait=True)
    assert time.monotonic() - started < TIMEOUT
    # The thread left its post for good: a connection now waits in the backlog.
    with socket.create_connection(rig.listener.getsockname(), TIMEOUT):
        time.sleep(0.05)
    assert rig.served == []
