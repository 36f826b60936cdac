"""The accepting threads' pool (``wsgidrivers._common.connthreads``) as the ThreadWorker uses it:
several listeners, a pause while a sibling process should take the next connections, and the
connection a thread finds as the pool stops (taken when the pool says so, else left)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from wsgidrivers._common.connthreads import EXCLUSIVE_WAKEUPS, AcceptingThreads

pytestmark = pytest.mark.skipif(not EXCLUSIVE_WAKEUPS, reason="needs epoll with EPOLLEXCLUSIVE (Linux)")

TIMEOUT = 10.0


def _wait_for(condition: Any, limit: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return bool(condition())


class _Rig:
    """Listeners and a pool whose threads answer each connection with the listener's index."""

    def __init__(self, listeners: int, *, take_when_stopped: bool = False) -> None:
        self.listeners = [socket.create_server(("127.0.0.1", 0)) for _ in range(listeners)]
        for listener in self.listeners:
            listener.setblocking(False)
        self.served: list[int] = []
        self.pool: AcceptingThreads[tuple[int, socket.socket]] = AcceptingThreads(
            self.listeners if listeners > 1 else self.listeners[0], self._take, self._serve,
            limit=None, idle_timeout=5.0, daemon=True, name="wsgicore-pause-test",
            take_when_stopped=take_when_stopped)

    def _take(self) -> tuple[int, socket.socket] | None:
        for index, listener in enumerate(self.listeners):
            try:
                return index, listener.accept()[0]
            except BlockingIOError:
                continue
        return None

    def _serve(self, taken: tuple[int, socket.socket]) -> None:
        index, sock = taken
        with sock:
            self.served.append(index)
            sock.sendall(str(index).encode())

    def connect(self, index: int = 0) -> socket.socket:
        return socket.create_connection(self.listeners[index].getsockname(), timeout=TIMEOUT)

    def close(self) -> None:
        self.pool.stop()
        for thread in self.pool.threads():
            thread.join(TIMEOUT)
        self.pool.close()
        for listener in self.listeners:
            listener.close()


def _pause(pool: AcceptingThreads[Any], threads: int = 1) -> None:
    """Pause, and wait until the idle threads wait off the listener (a thread still in its poll
    when the connection comes would take it: see connthreads)."""
    pool.pause()
    assert _wait_for(lambda: len(pool._resumed._waiters) == threads)  # type: ignore[attr-defined]


@contextmanager
def _rig(listeners: int = 1, **options: bool) -> Iterator[_Rig]:
    rig = _Rig(listeners, **options)
    try:
        assert rig.pool.start()
        assert _wait_for(lambda: rig.pool.idle == 1)
        time.sleep(0.05)  # into its epoll_wait
        yield rig
    finally:
        rig.close()


def test_one_pool_serves_several_listeners() -> None:
    with _rig(2) as rig:
        for index in (0, 1, 1, 0):
            with rig.connect(index) as client:
                assert client.recv(1) == str(index).encode()
        assert rig.served == [0, 1, 1, 0]


def test_a_paused_pool_leaves_new_connections_in_the_backlog_until_it_resumes() -> None:
    with _rig() as rig:
        _pause(rig.pool)
        assert rig.pool.paused
        assert _wait_for(lambda: rig.pool.idle == 1)  # still counted idle: it comes back
        with rig.connect() as client:
            time.sleep(0.3)
            assert rig.served == []  # nobody here took it: another process's waiter would
            rig.pool.pause()  # twice: nothing
            rig.pool.resume()
            assert not rig.pool.paused
            assert client.recv(1) == b"0"
        rig.pool.resume()  # twice: nothing
        with rig.connect() as client:  # and it goes on serving
            assert client.recv(1) == b"0"
        assert rig.served == [0, 0]


@pytest.mark.parametrize("take_when_stopped", [True, False], ids=["taken", "left"])
def test_a_connection_a_thread_finds_as_the_pool_stops(take_when_stopped: bool) -> None:
    # A paused thread waits off the listener; the connection queues; stop() wakes the thread, whose
    # poll then reports the stop and the connection at once: the case of a thread the kernel woke
    # for a connection just as its worker stopped (the wake-up was told to nobody else).
    with _rig(take_when_stopped=take_when_stopped) as rig:
        _pause(rig.pool)
        with rig.connect() as client:
            time.sleep(0.2)
            rig.pool.stop()
            threads = rig.pool.threads()
            for thread in threads:
                thread.join(TIMEOUT)
            assert not any(thread.is_alive() for thread in threads)
            if take_when_stopped:
                assert client.recv(1) == b"0"  # served, then the thread left
                assert rig.served == [0]
            else:
                assert rig.served == []
                client.settimeout(0.2)
                with pytest.raises(TimeoutError):
                    client.recv(1)


def test_a_pool_paused_with_every_thread_busy_starts_no_spare_until_it_resumes() -> None:
    # Paused, the worker's next connections are a sibling's: no thread is added for them.
    release = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)

    def take() -> socket.socket | None:
        try:
            return listener.accept()[0]
        except BlockingIOError:
            return None

    def serve(sock: socket.socket) -> None:
        with sock:
            release.wait(TIMEOUT)

    pool: AcceptingThreads[socket.socket] = AcceptingThreads(
        listener, take, serve, limit=None, idle_timeout=5.0, daemon=True,
        name="wsgicore-pause-test", spare_delay=0.05)
    clients: list[socket.socket] = []
    try:
        assert pool.start()
        assert _wait_for(lambda: pool.idle == 1)
        _pause(pool)
        clients.append(socket.create_connection(listener.getsockname(), timeout=TIMEOUT))
        time.sleep(0.3)
        assert (pool.size, pool.idle) == (1, 1)  # paused: the connection waits, no spare
        pool.resume()  # the idle thread takes it; none is left waiting: a spare follows
        assert _wait_for(lambda: pool.size == 2 and pool.idle == 1)
    finally:
        release.set()
        pool.stop()
        for thread in pool.threads():
            thread.join(TIMEOUT)
        pool.close()
        for client in clients:
            client.close()
        listener.close()
