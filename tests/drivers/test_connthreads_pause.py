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

from .helpers import wait_for

pytestmark = pytest.mark.skipif(not EXCLUSIVE_WAKEUPS, reason="needs epoll with EPOLLEXCLUSIVE (Linux)")

TIMEOUT = 10.0



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
        _end(self.pool)
        for listener in self.listeners:
            listener.close()


def _listener() -> tuple[socket.socket, Any]:
    """A listener and a take() that accepts from it (None: nothing there)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)

    def take() -> socket.socket | None:
        try:
            return listener.accept()[0]
        except BlockingIOError:
            return None

    return listener, take


def _end(pool: AcceptingThreads[Any]) -> None:
    pool.stop()
    for thread in pool.threads():
        thread.join(TIMEOUT)
    pool.close()


@contextmanager
def _rig(listeners: int = 1, **options: bool) -> Iterator[_Rig]:
    rig = _Rig(listeners, **options)
    try:
        assert rig.pool.start()
        assert wait_for(lambda: rig.pool.idle == 1)
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
        rig.pool.pause()
        assert rig.pool.paused
        assert wait_for(lambda: rig.pool.idle == 1)  # still counted idle: it comes back
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


class _HeldPoll:
    """A thread's poll that, once it reports a connection, holds the thread until released: the
    moment between the kernel's wake-up and the thread running again."""

    def __init__(self, real: Any, listener: int, woken: threading.Event, release: threading.Event) -> None:
        self._real, self._listener, self._woken, self._release = real, listener, woken, release

    def poll(self, timeout: float | None = None) -> list[tuple[int, int]]:
        ready: list[tuple[int, int]] = self._real.poll(timeout)
        if any(fd == self._listener for fd, _ in ready) and not self._woken.is_set():
            self._woken.set()
            assert self._release.wait(TIMEOUT)
        return ready

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@pytest.mark.parametrize("take_when_stopped", [True, False], ids=["taken", "left"])
def test_a_connection_a_thread_was_woken_for_as_the_pool_stops(
        take_when_stopped: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel woke a thread for a connection (an exclusive wake-up, told to nobody else), and
    # the pool stopped before the thread ran: with take_when_stopped it serves that connection,
    # then leaves; without, it leaves it.
    woken, release = threading.Event(), threading.Event()
    real_poll = AcceptingThreads._poll

    def held_poll(pool: AcceptingThreads[Any]) -> Any:
        return _HeldPoll(real_poll(pool), pool._fds[0], woken, release)

    monkeypatch.setattr(AcceptingThreads, "_poll", held_poll)
    with _rig(take_when_stopped=take_when_stopped) as rig, rig.connect() as client:
        assert woken.wait(TIMEOUT)
        rig.pool.stop()  # returns at once: no thread is inside take()
        release.set()
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


def test_a_stopped_pool_is_off_the_listener_at_once() -> None:
    # stop() takes the listener out of every thread's poll: a connection that comes after it is
    # left to other processes' waiters, even with take_when_stopped and a thread that polls again
    # after it (here one that was busy when the pool stopped).
    release = threading.Event()
    listener, take = _listener()
    served: list[socket.socket] = []

    def serve(sock: socket.socket) -> None:
        with sock:
            served.append(sock)
            release.wait(TIMEOUT)

    pool: AcceptingThreads[socket.socket] = AcceptingThreads(
        listener, take, serve, limit=1, idle_timeout=5.0, daemon=True,
        name="wsgicore-pause-test", take_when_stopped=True)
    first = second = None
    try:
        assert pool.start()
        first = socket.create_connection(listener.getsockname(), timeout=TIMEOUT)
        assert wait_for(lambda: len(served) == 1)  # the one thread is busy with it
        pool.stop()
        second = socket.create_connection(listener.getsockname(), timeout=TIMEOUT)
        time.sleep(0.1)  # queued
        release.set()  # the thread polls once more on its way out
        threads = pool.threads()
        for thread in threads:
            thread.join(TIMEOUT)
        assert not any(thread.is_alive() for thread in threads)
        assert len(served) == 1  # the second connection was left in the backlog
    finally:
        release.set()
        pool.stop()
        pool.close()
        for client in (first, second):
            if client is not None:
                client.close()
        listener.close()


def test_a_pool_paused_with_every_thread_busy_starts_no_spare_until_it_resumes() -> None:
    # Paused, the worker's next connections are a sibling's: no thread is added for them.
    release = threading.Event()
    listener, take = _listener()

    def serve(sock: socket.socket) -> None:
        with sock:
            release.wait(TIMEOUT)

    pool: AcceptingThreads[socket.socket] = AcceptingThreads(
        listener, take, serve, limit=None, idle_timeout=5.0, daemon=True,
        name="wsgicore-pause-test", spare_delay=0.05)
    clients: list[socket.socket] = []
    try:
        assert pool.start()
        assert wait_for(lambda: pool.idle == 1)
        pool.pause()
        clients.append(socket.create_connection(listener.getsockname(), timeout=TIMEOUT))
        time.sleep(0.3)
        assert (pool.size, pool.idle) == (1, 1)  # paused: the connection waits, no spare
        pool.resume()  # the idle thread takes it; none is left waiting: a spare follows
        assert wait_for(lambda: pool.size == 2 and pool.idle == 1)
    finally:
        release.set()
        _end(pool)
        for client in clients:
            client.close()
        listener.close()


class _CountingPoll:
    """A thread's poll that counts the threads inside it (on the listener) at once."""

    inside = 0
    most = 0
    lock = threading.Lock()

    def __init__(self, real: Any) -> None:
        self._real = real

    def poll(self, timeout: float | None = None) -> list[tuple[int, int]]:
        cls = type(self)
        with cls.lock:
            cls.inside += 1
            cls.most = max(cls.most, cls.inside)
        try:
            ready: list[tuple[int, int]] = self._real.poll(timeout)
            return ready
        finally:
            with cls.lock:
                cls.inside -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@pytest.mark.parametrize("waiters", [2, None], ids=["two", "every-idle-thread"])
def test_at_most_waiters_idle_threads_wait_on_the_listener(
        waiters: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    # Processes sharing a listener share its exclusive wake-ups in the order their waiters came:
    # with all five idle threads on it, this pool would take a burst of five before any other.
    real_poll = AcceptingThreads._poll
    counting: type[_CountingPoll] = type(
        "Counting", (_CountingPoll,), {"inside": 0, "most": 0, "lock": threading.Lock()})
    monkeypatch.setattr(AcceptingThreads, "_poll", lambda pool: counting(real_poll(pool)))
    listener, take = _listener()
    hold = threading.Event()

    def serve(sock: socket.socket) -> None:
        with sock:
            hold.wait(TIMEOUT)
            sock.sendall(b"ok")

    pool: AcceptingThreads[socket.socket] = AcceptingThreads(
        listener, take, serve, limit=None, idle_timeout=30.0, daemon=True,
        name="wsgicore-waiters-test", spare_delay=0.01, waiters=waiters)
    clients: list[socket.socket] = []
    try:
        assert pool.start()
        for _ in range(5):  # five connections held at once: the pool grows to six threads
            clients.append(socket.create_connection(listener.getsockname(), timeout=TIMEOUT))
        assert wait_for(lambda: pool.size - pool.idle == 5)
        hold.set()
        for client in clients:
            assert client.recv(2) == b"ok"
        assert wait_for(lambda: pool.idle == pool.size)
        time.sleep(0.2)  # every idle thread where it waits
        expected = pool.size if waiters is None else waiters
        assert counting.inside == expected
        counting.most = counting.inside
        for _ in range(10):  # one at a time, and a thread coming back takes a free place itself
            with socket.create_connection(listener.getsockname(), timeout=TIMEOUT) as client:
                assert client.recv(2) == b"ok"
        assert counting.most <= expected
    finally:
        hold.set()
        _end(pool)
        for client in clients:
            client.close()
        listener.close()
