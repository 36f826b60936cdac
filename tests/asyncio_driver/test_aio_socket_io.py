"""The asyncio driver's worker-side I/O (``_socketio.SocketIO``), its own worker pool, and the rule that
a worker serving a connection's requests in a row never keeps another connection waiting."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from wsgidrivers._common.workerpool import WorkerPool
from wsgidrivers.asyncio import Service
from wsgidrivers.asyncio._bridge import Bridge, ClientDisconnected, SendTimeout
from wsgidrivers.asyncio._socketio import SocketIO

from .aio_support import read_response
from .conftest import Starter

Pair = tuple[SocketIO, socket.socket, Bridge]


@pytest.fixture
def pair() -> Iterator[Pair]:
    """A SocketIO on one end of a socket pair (non-blocking, as a transport's), the peer."""
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    bridge = Bridge(0.3, on_output=lambda: None, on_drained=lambda: None)
    try:
        yield SocketIO(ours, bridge, io_timeout=0.3), peer, bridge
    finally:
        ours.close()
        peer.close()


def _read_all(sock: socket.socket, size: int, *, pause: float = 0.0) -> bytes:
    got = bytearray()
    sock.settimeout(5)
    while len(got) < size:
        if pause:
            time.sleep(pause)
        got += sock.recv(65536)
    return bytes(got)


def test_send_waits_for_a_slow_reader_and_keeps_the_order(pair: Pair) -> None:
    io, peer, _ = pair
    data = bytes(range(256)) * 4096  # 1 MiB: far more than the socket buffers hold
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        reader = pool.submit(_read_all, peer, len(data), pause=0.001)
        io.send(data)
        assert reader.result(10) == data


def test_send_to_a_stalled_reader_times_out(pair: Pair) -> None:
    io, _, _ = pair
    started = time.monotonic()
    with pytest.raises(SendTimeout):
        io.send(b"x" * (4 * 1024 * 1024))
    assert time.monotonic() - started >= 0.3


def test_receive_returns_bytes_then_end_of_file(pair: Pair) -> None:
    io, peer, _ = pair
    peer.sendall(b"abc")
    assert io.receive(10) == b"abc"
    assert not io.peer_eof
    peer.shutdown(socket.SHUT_WR)
    assert io.receive(10) == b""
    assert io.peer_eof


def test_receive_waits_then_times_out(pair: Pair) -> None:
    io, peer, _ = pair
    threading.Timer(0.1, peer.sendall, (b"late",)).start()
    assert io.receive(4) == b"late"
    with pytest.raises(TimeoutError):
        io.receive(4)


def test_wait_request_is_bounded_by_its_window(pair: Pair) -> None:
    io, peer, _ = pair
    started = time.monotonic()
    assert io.wait_request(0.05) is None
    assert 0.04 <= time.monotonic() - started < 0.25  # the window, not io_timeout
    peer.sendall(b"GET / HTTP/1.1\r\n")
    assert io.wait_request(0.05) == b"GET / HTTP/1.1\r\n"


def test_a_lost_connection_is_never_touched_again(pair: Pair) -> None:
    io, peer, bridge = pair
    peer.sendall(b"unread")
    bridge.lost()  # the loop's connection_lost: the transport closes the socket right after
    with pytest.raises(ClientDisconnected):
        io.send(b"x")
    assert io.receive(10) == b""  # the queued bytes are not read
    with tempfile.TemporaryFile() as file:
        file.write(b"data")
        with pytest.raises(ClientDisconnected):
            io.sendfile(file, 0, None)


def test_a_reset_peer_is_a_disconnect(pair: Pair) -> None:
    io, peer, _ = pair
    peer.close()

    def send_until_it_fails() -> None:
        for _ in range(100):  # the first sends may still be buffered
            io.send(b"x" * 65536)

    with pytest.raises(ClientDisconnected):
        send_until_it_fails()


def test_sendfile_sends_the_range_even_to_a_slow_reader(pair: Pair) -> None:
    io, peer, _ = pair
    content = os.urandom(3 * 1024 * 1024 + 17)
    with tempfile.TemporaryFile() as file, concurrent.futures.ThreadPoolExecutor(1) as pool:
        file.write(content)
        reader = pool.submit(_read_all, peer, len(content) - 100, pause=0.0005)
        assert io.sendfile(file, 100, None) == len(content) - 100
        assert reader.result(10) == content[100:]
        assert io.sendfile(file, 5, 10) == 10
        assert _read_all(peer, 10) == content[5:15]


def test_worker_pool_runs_jobs_and_counts_the_backlog() -> None:
    pool = WorkerPool(1)
    release = threading.Event()
    done: list[int] = []
    try:
        pool.run(release.wait)
        for i in range(3):
            pool.run(done.append, i)
        assert pool.backlog >= 3  # the one thread is busy: the three wait
        release.set()
        assert pool.submit(lambda: 42).result(5) == 42
        assert done == [0, 1, 2]
        assert pool.backlog == 0
        failed = pool.submit(lambda: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            failed.result(5)
    finally:
        pool.shutdown(wait=True)
    with pytest.raises(RuntimeError):
        pool.run(print)


def test_worker_pool_survives_a_failing_job(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", seen.append)
    pool = WorkerPool(1)
    try:
        pool.run(lambda: 1 / 0)
        assert pool.submit(lambda: "still here").result(5) == "still here"
    finally:
        pool.shutdown(wait=True)
    assert len(seen) == 1
    assert seen[0].exc_type is ZeroDivisionError


def test_worker_pool_checks_its_size() -> None:
    with pytest.raises(ValueError, match="size"):
        WorkerPool(0)


def test_pipelined_requests_do_not_keep_another_connection_waiting(start_server: Starter) -> None:
    """One thread; connection A pipelines two requests, B sends one while A's first runs. The worker
    may serve A's second right after its first only if no job waits: B's does, so B goes first."""
    order: list[str] = []
    first_running = threading.Event()
    release = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        order.append(path)
        if path == "/a1":
            first_running.set()
            release.wait(5)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    with start_server(app, max_workers=1) as address:
        a = socket.create_connection(address, timeout=5)
        b = socket.create_connection(address, timeout=5)
        with a, b:
            a.sendall(b"GET /a1 HTTP/1.1\r\nHost: x\r\n\r\nGET /a2 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert first_running.wait(5)
            b.sendall(b"GET /b1 HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.2)  # B's request is parsed and queued for the one busy thread
            release.set()
            fa, fb = a.makefile("rb"), b.makefile("rb")
            assert [read_response(fa).status, read_response(fa).status] == [200, 200]
            assert read_response(fb).status == 200
    assert order == ["/a1", "/b1", "/a2"]


def test_a_fast_client_is_served_in_a_row_and_the_rest_still_served(start_server: Starter) -> None:
    """Many keep-alive requests back to back on two connections and one thread: all answered."""
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    def client(address: tuple[str, int], count: int) -> int:
        with socket.create_connection(address, timeout=5) as sock:
            f = sock.makefile("rb")
            for _ in range(count):
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                assert read_response(f).status == 200
        return count

    with start_server(app, max_workers=1) as address, concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = [pool.submit(client, address, 300) for _ in range(2)]
        assert [r.result(30) for r in results] == [300, 300]


class _FakeTransport(asyncio.Transport):
    """The transport facts connection_made reads, over a real accepted socket."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock_ = sock

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": self._sock_.getpeername(), "sockname": self._sock_.getsockname(),
                "socket": self._sock_}.get(name, default)

    def close(self) -> None:
        self._sock_.close()


@pytest.mark.parametrize(("receive_buffer", "expected_at_least"), [(256 * 1024, 256 * 1024), (None, 0)])
def test_a_loopback_connection_gets_the_receive_buffer(receive_buffer: int | None,
                                                       expected_at_least: int) -> None:
    # As simple_server: SO_RCVBUF on a loopback client's connection (uploads on new connections
    # would stall for a window update every 128 KiB), not set at all with receive_buffer=None.
    listener = socket.create_server(("127.0.0.1", 0))
    with listener, socket.create_connection(listener.getsockname()) as client:
        accepted, _ = listener.accept()
        before = accepted.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)

        async def made() -> int:
            service = Service(lambda e, s: [], receive_buffer=receive_buffer, access_log=None)
            try:
                service().connection_made(_FakeTransport(accepted))
                return accepted.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
            finally:
                service.executor.shutdown(wait=False)

        with accepted:
            after = asyncio.run(made())
        assert client.fileno() >= 0
    if expected_at_least:
        assert after >= expected_at_least  # Linux reports twice the value set
    else:
        assert after == before
