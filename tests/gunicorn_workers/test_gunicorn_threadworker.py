"""The ThreadWorker's per-connection economies, in-process: options set once on the listener, no
wake-up of the main loop per closed connection unless it waits for one, the accepting threads'
pause when a sibling holds fewer connections, and the exclusive wake-ups they rely on."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("gunicorn", reason="gunicorn is not installed (pip install 'wsgicore[gunicorn]')")

from gunicorn.config import Config as GunicornConfig

from wsgidrivers._common.listening import KERNEL_TIMEOUTS
from wsgidrivers.gunicorn._poll import Poller
from wsgidrivers.gunicorn._settings import worker_settings
from wsgidrivers.gunicorn._threaded import _WorkerServer, _WorkerShared


class _Worker:
    def __init__(self, connections: int = 1000) -> None:
        cfg = GunicornConfig()
        cfg.set("worker_connections", connections)
        self.settings = worker_settings(cfg)
        self.log = None
        self.cycle = None
        self.tls = None
        self.wsgi = None
        self.errors = None
        self.alive = True
        self.wakes = 0
        self.seat = None  # no load board

    def wake(self) -> None:
        self.wakes += 1


@pytest.fixture
def served() -> Iterator[tuple[_WorkerServer, socket.socket]]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    server = _WorkerServer(_WorkerShared(_Worker()), listener)  # type: ignore[arg-type]
    try:
        yield server, listener
    finally:
        server.server_close()


def _timeout(sock: socket.socket, option: int) -> float:
    seconds, micros = struct.unpack("ll", sock.getsockopt(socket.SOL_SOCKET, option, 16))
    return float(seconds + micros / 1e6)


@pytest.mark.skipif(not KERNEL_TIMEOUTS, reason="options are inherited at accept() on Linux only")
def test_accepted_sockets_inherit_the_listeners_options(served: tuple[_WorkerServer, Any]) -> None:
    server, listener = served
    assert server.inherited_timeouts == (server.head_timeout, server.io_timeout)
    assert server.receive_buffer is not None
    assert server.receive_buffer_for(("127.0.0.1", 1)) is None  # set on the loopback listener
    with socket.create_connection(listener.getsockname(), timeout=5):
        request, _ = server.get_request()
        with request:
            assert request.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            assert _timeout(request, socket.SO_RCVTIMEO) == pytest.approx(server.head_timeout)
            assert _timeout(request, socket.SO_SNDTIMEO) == pytest.approx(server.io_timeout)
            # Linux reports twice the value set (its bookkeeping overhead).
            assert request.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= server.receive_buffer


def test_unix_listener_sets_nothing_to_inherit(tmp_path: Any) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "s"))
    listener.listen(8)
    server = _WorkerServer(_WorkerShared(_Worker()), listener)  # type: ignore[arg-type]
    try:
        # accept() on a Unix socket inherits no timeouts: each connection sets its own.
        assert server.inherited_timeouts == (-1.0, -1.0)
    finally:
        server.server_close()


def test_closed_connections_wake_the_loop_only_when_it_waits_for_them() -> None:
    worker = _Worker(connections=2)
    state = _WorkerShared(worker)  # type: ignore[arg-type]
    state.opened()
    state.closed()
    assert worker.wakes == 0  # never full: the loop kept polling the listeners
    state.opened()
    state.opened()
    state.closed()
    assert worker.wakes == 1  # it was full: the loop must poll the listeners again
    state.closed()
    assert worker.wakes == 1
    state.opened()
    state.stopping = True
    state.closed()
    assert worker.wakes == 2  # a stopping loop waits for the last connection
    worker.alive = False
    state.opened()
    state.closed()
    assert worker.wakes == 3


def test_exclusive_poll_wakes_the_first_waiter_only(served: tuple[_WorkerServer, Any]) -> None:
    server, listener = served
    first, second = Poller(), Poller()
    try:
        first.register(listener, "first", shared=True)
        second.register(listener, "second", shared=True)
        assert first.exclusive
        assert second.exclusive
        woken: list[str] = []
        threads = [threading.Thread(target=lambda p=p: woken.extend(p.select(1)), daemon=True)
                   for p in (first, second)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # both wait
        with socket.create_connection(listener.getsockname(), timeout=5):
            for thread in threads:
                thread.join(3)
        # The connection woke the first waiter registered, and it alone: the second slept until
        # its timeout (a plain poll would have woken both).
        assert woken == ["first"]
        accepted = server.accept_one()
        assert accepted is not None
        accepted[0].close()
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("exclusive", [True, False], ids=["epoll", "selectors"])
def test_the_poller_reports_readable_descriptors_on_both_paths(
    exclusive: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wsgidrivers.gunicorn import _poll

    if not exclusive:
        monkeypatch.setattr(_poll, "_EXCLUSIVE", 0)  # as on a system without EPOLLEXCLUSIVE
    elif not _poll._EXCLUSIVE:
        pytest.skip("no EPOLLEXCLUSIVE here")
    poller = _poll.Poller()
    a, b = socket.socketpair()
    with a, b:
        poller.register(a, "a")
        assert poller.select(0) == []
        b.send(b"x")
        assert poller.select(1.0) == ["a"]
        poller.unregister(a)
        poller.unregister(a)  # twice: nothing
        assert poller.select(0) == []
    poller.close()


class _Seat:
    """A load board seat whose siblings hold ``theirs`` open connections (see _board)."""

    def __init__(self, theirs: int) -> None:
        self.theirs = theirs
        self.published: list[int] = []

    def publish(self, count: int) -> None:
        self.published.append(count)

    def over_share(self, mine: int) -> bool:
        return self.theirs < mine

    def set_accepting(self, accepting: bool) -> None:
        pass


@pytest.mark.parametrize(("theirs", "taken"), [(100, 3), (2, 1)])
def test_a_burst_takes_the_first_connection_then_reads_the_board(
        served: tuple[_WorkerServer, Any], theirs: int, taken: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    server, listener = served
    seat = _Seat(theirs)
    server.state.seat = seat  # type: ignore[assignment]
    server.state.open = 2  # more than one open: a burst (see accept_burst)
    handed: list[Any] = []
    monkeypatch.setattr(server, "process_request", lambda request, _address: handed.append(request))
    clients = [socket.create_connection(listener.getsockname(), timeout=5) for _ in range(3)]
    try:
        time.sleep(0.2)  # all three in the accept queue
        server.accept_burst()
        # The first is taken whatever the board says (the wake-up may have been this worker's
        # alone); the next only while no sibling holds fewer: a sibling with 2 stops it at 3.
        assert len(handed) == taken
        assert server.state.declining is (taken < 3)
        assert seat.published[:taken] == [3, 4, 5][:taken]
    finally:
        for sock in handed + clients:
            sock.close()


class _Acceptors:
    def __init__(self) -> None:
        self.pauses = 0

    def pause(self) -> None:
        self.pauses += 1


@pytest.mark.parametrize(("theirs", "paused"), [(100, False), (0, True)])
def test_an_accepting_thread_takes_its_connection_then_pauses_for_a_sibling_with_fewer(
        served: tuple[_WorkerServer, Any], theirs: int, paused: bool) -> None:
    server, listener = served
    state = server.state
    seat = _Seat(theirs)
    state.seat = seat  # type: ignore[assignment]
    state.servers = [server]
    acceptors = _Acceptors()
    state.acceptors = acceptors  # type: ignore[assignment]
    worker: Any = state.worker
    with socket.create_connection(listener.getsockname(), timeout=5):
        time.sleep(0.1)  # in the accept queue
        taken = state.take()
        assert taken is not None  # whatever the board says: the wake-up may have been ours alone
        taken_server, request, _peer = taken
        with request:
            assert taken_server is server
            assert state.open == 1
            assert seat.published == [1]
            # A sibling holds fewer: the pool pauses and the main loop reads the board soon.
            assert acceptors.pauses == (1 if paused else 0)
            assert worker.wakes == (1 if paused else 0)
        assert state.take() is None  # nothing more waits
