"""The accepting threads' pool (``wsgidrivers._common.connthreads``): a thread back from a connection
takes the connections that queued meanwhile without polling first (no ``epoll_wait`` per
connection under load), but never one that is not this pool's to take: paused, or with ``waiters``
set and every place on the listener taken by a thread the kernel may have woken for it."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest

from wsgidrivers._common.connthreads import EXCLUSIVE_WAKEUPS, AcceptingThreads

from .helpers import wait_for

pytestmark = pytest.mark.skipif(not EXCLUSIVE_WAKEUPS, reason="needs epoll with EPOLLEXCLUSIVE (Linux)")

TIMEOUT = 10.0


class _Listener:
    """A non-blocking listener, its take() and a serve() that records which thread served what and
    holds the first connection until ``release`` is set."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.release = threading.Event()
        self.served: list[tuple[int, str]] = []  # (client's port, serving thread's name)
        self.busy = threading.Event()

    def take(self) -> socket.socket | None:
        try:
            return self.sock.accept()[0]
        except BlockingIOError:
            return None

    def serve(self, sock: socket.socket) -> None:
        with sock:
            first = not self.served
            self.served.append((sock.getpeername()[1], threading.current_thread().name))
            if first:
                self.busy.set()
                assert self.release.wait(TIMEOUT)
            sock.sendall(b"ok")

    def connect(self) -> socket.socket:
        return socket.create_connection(self.sock.getsockname(), timeout=TIMEOUT)


class _ReadyPolls:
    """A thread's poll that counts the polls that reported a connection (all threads together)."""

    ready = 0
    lock = threading.Lock()

    def __init__(self, real: Any, listener: int) -> None:
        self._real, self._listener = real, listener

    def poll(self, timeout: float | None = None) -> list[tuple[int, int]]:
        ready: list[tuple[int, int]] = self._real.poll(timeout)
        if any(fd == self._listener for fd, _ in ready):
            with type(self).lock:
                type(self).ready += 1
        return ready

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _end(pool: AcceptingThreads[Any], listener: _Listener, clients: list[socket.socket]) -> None:
    listener.release.set()
    pool.stop()
    for thread in pool.threads():
        thread.join(TIMEOUT)
    pool.close()
    for client in clients:
        client.close()
    listener.sock.close()


def test_a_thread_back_from_a_connection_takes_those_queued_meanwhile_without_polling(
        monkeypatch: pytest.MonkeyPatch) -> None:
    counting: type[_ReadyPolls] = type("Counting", (_ReadyPolls,), {"ready": 0, "lock": threading.Lock()})
    real_poll = AcceptingThreads._poll
    monkeypatch.setattr(AcceptingThreads, "_poll",
                        lambda pool: counting(real_poll(pool), pool._fds[0]))
    listener = _Listener()
    pool: AcceptingThreads[socket.socket] = AcceptingThreads(
        listener.sock, listener.take, listener.serve, limit=1, idle_timeout=30.0, daemon=True,
        name="wsgicore-again-test")
    clients: list[socket.socket] = []
    try:
        assert pool.start()
        clients.append(listener.connect())
        assert listener.busy.wait(TIMEOUT)
        for _ in range(4):  # queued in the backlog while the only thread is busy
            clients.append(listener.connect())
        time.sleep(0.05)
        listener.release.set()
        for client in clients:
            assert client.recv(2) == b"ok"
        assert [port for port, _ in listener.served] == [c.getsockname()[1] for c in clients]
        # One poll reported the first connection; the thread took the four others on its way back.
        assert counting.ready == 1
    finally:
        _end(pool, listener, clients)


def test_a_thread_back_from_a_connection_takes_none_while_the_pool_is_paused() -> None:
    # Paused, the next connections are another process's: a thread coming back leaves them too.
    listener = _Listener()
    pool: AcceptingThreads[socket.socket] = AcceptingThreads(
        listener.sock, listener.take, listener.serve, limit=1, idle_timeout=30.0, daemon=True,
        name="wsgicore-again-test")
    clients: list[socket.socket] = []
    try:
        assert pool.start()
        clients.append(listener.connect())
        assert listener.busy.wait(TIMEOUT)
        pool.pause()
        clients.append(listener.connect())  # queued
        time.sleep(0.05)
        listener.release.set()
        assert clients[0].recv(2) == b"ok"
        assert wait_for(lambda: pool.idle == 1)
        time.sleep(0.2)
        assert len(listener.served) == 1  # left in the backlog
        pool.resume()
        assert clients[1].recv(2) == b"ok"
    finally:
        _end(pool, listener, clients)


class _HeldPoll:
    """A thread's poll that, once it reports a connection, holds that thread until released: the
    moment between the kernel's wake-up of a waiter and the waiter running again."""

    def __init__(self, real: Any, listener: int, woken: threading.Event,
                 release: threading.Event) -> None:
        self._real, self._listener, self._woken, self._release = real, listener, woken, release

    def poll(self, timeout: float | None = None) -> list[tuple[int, int]]:
        ready: list[tuple[int, int]] = self._real.poll(timeout)
        if any(fd == self._listener for fd, _ in ready) and not self._woken.is_set():
            self._woken.set()
            assert self._release.wait(TIMEOUT)
        return ready

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_with_every_waiter_place_taken_a_thread_back_leaves_the_connection_to_the_waiter(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # waiters=1: the one place on the listener is a waiter's, which the kernel has just woken for
    # a connection. A thread coming back then waits its turn; it does not take that connection
    # (the waiter's wake-up would be wasted, and the pool would take more than its waiters'
    # share of a burst shared with other processes).
    woken, release_waiter = threading.Event(), threading.Event()
    real_poll = AcceptingThreads._poll
    monkeypatch.setattr(AcceptingThreads, "_poll",
                        lambda pool: _HeldPoll(real_poll(pool), pool._fds[0], woken, release_waiter))
    listener = _Listener()
    pool: AcceptingThreads[socket.socket] = AcceptingThreads(
        listener.sock, listener.take, listener.serve, limit=2, idle_timeout=30.0, daemon=True,
        name="wsgicore-again-test", spare_delay=0.01, waiters=1)
    clients: list[socket.socket] = []
    try:
        assert pool.start()
        time.sleep(0.05)
        clients.append(listener.connect())
        assert woken.wait(TIMEOUT)  # the first thread's poll reported it...
        release_waiter.set()  # ...and it takes it, held in serve()
        assert listener.busy.wait(TIMEOUT)
        assert wait_for(lambda: pool.size == 2 and pool.idle == 1)  # a spare, on the listener
        time.sleep(0.05)
        woken.clear()
        release_waiter.clear()
        clients.append(listener.connect())
        assert woken.wait(TIMEOUT)  # the spare was woken for it, and is held there
        listener.release.set()  # the first thread comes back
        assert clients[0].recv(2) == b"ok"
        time.sleep(0.2)
        assert len(listener.served) == 1  # the first thread left it to the woken waiter
        release_waiter.set()  # (then whichever of the two accepts first serves it)
        assert clients[1].recv(2) == b"ok"
    finally:
        release_waiter.set()
        _end(pool, listener, clients)
