"""``Service.serve_accepted``: a new connection served by a worker thread first (``_fresh``), handed
to the loop only once it idles; the gunicorn AsyncioWorker accepts this way.

Each test runs a loop thread that accepts on a listener itself and hands each socket to
``serve_accepted``, as that worker does, and checks what a client sees and what the service
counts: a connection the worker closes leaves ``service.connections`` without the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from wsgidrivers.asyncio import Service
from wsgidrivers.asyncio._fresh import FreshConnection
from wsgidrivers.asyncio._protocol import WSGIProtocol

from .aio_support import TIMEOUT, connect, hello_app, read_response, wait_closed
from .conftest import LogSink

Address = tuple[str, int]


class FreshServer:
    """A loop thread accepting on a loopback listener; every socket goes to ``serve_accepted``."""

    def __init__(self, app: Any, **options: Any) -> None:
        self.log = LogSink()
        self.errors = io.StringIO()
        options.setdefault("access_log", self.log)
        options.setdefault("errors", self.errors)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.setblocking(False)
        self.address: Address = self.listener.getsockname()[:2]
        self.loop = asyncio.new_event_loop()
        self.service = Service(app, **options)
        self.taken = 0  # sockets serve_accepted took
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> FreshServer:
        self.loop.call_soon(self.loop.add_reader, self.listener.fileno(), self._accept)
        self._thread.start()
        return self

    def _accept(self) -> None:
        try:
            sock, address = self.listener.accept()
        except BlockingIOError:
            return
        if self.service.serve_accepted(sock, address, self.address, loop=self.loop):
            self.taken += 1
        else:  # the protocol path, as the worker does
            self.loop.create_task(self.loop.connect_accepted_socket(self.service, sock))

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` in the loop thread; its result."""
        return asyncio.run_coroutine_threadsafe(_call(fn), self.loop).result(TIMEOUT)

    def connections(self) -> list[str]:
        """The kinds of the service's connections, seen from the loop."""
        return self.call(lambda: sorted(type(c).__name__ for c in self.service.connections))

    def shutdown(self, grace: float) -> None:
        self.call(lambda: self.loop.remove_reader(self.listener.fileno()))
        asyncio.run_coroutine_threadsafe(self.service.shutdown(grace), self.loop).result(grace + TIMEOUT)

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(Exception):
            self.shutdown(1.0)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(TIMEOUT)
        self.loop.close()
        self.listener.close()


async def _call(fn: Callable[[], Any]) -> Any:
    return fn()


@pytest.fixture
def fresh_server() -> Iterator[Callable[..., FreshServer]]:
    started: list[FreshServer] = []

    def start(app: Any = hello_app, **options: Any) -> FreshServer:
        server = FreshServer(app, **options)
        started.append(server)
        return server.__enter__()

    yield start
    for server in started:
        server.__exit__(None, None, None)


def _wait_for(predicate: Callable[[], bool], limit: float = TIMEOUT) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


GET = b"GET /%s HTTP/1.1\r\nHost: t\r\n\r\n"
GET_CLOSE = b"GET /%s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"


def test_a_request_with_close_is_served_and_closed_by_the_worker(fresh_server: Any) -> None:
    server = fresh_server()
    with connect(server.address) as sock:
        sock.sendall(GET_CLOSE % b"a")
        data, _ = wait_closed(sock)
    assert data.startswith(b"HTTP/1.1 200 ")
    assert data.endswith(b"Hello, /a")
    # The loop thread counts the socket after serve_accepted() returns, and the worker thread it
    # handed the socket to may answer and close before that: wait for the count, do not race it.
    _wait_for(lambda: server.taken == 1)
    # Closed by the worker, without the loop: the service's set is empty again, and no protocol
    # (a transport) was ever made for it.
    _wait_for(lambda: server.connections() == [])
    assert len(server.log.lines) == 1
    assert '"GET /a HTTP/1.1" 200' in server.log.lines[0]


def test_keep_alive_requests_after_an_idle_gap_are_served_by_the_loop(fresh_server: Any) -> None:
    server = fresh_server()
    with connect(server.address) as sock:
        f = sock.makefile("rb")
        sock.sendall(GET % b"1")
        assert read_response(f).body == b"Hello, /1"
        # Quiet for longer than the worker waits: the connection goes to the loop, with its
        # Connection (one protocol now, no FreshConnection left).
        _wait_for(lambda: server.connections() == [WSGIProtocol.__name__])
        sock.sendall(GET % b"2")
        assert read_response(f).body == b"Hello, /2"
        sock.sendall(GET_CLOSE % b"3")
        assert read_response(f).body == b"Hello, /3"
        assert wait_closed(sock)[0] == b""
    _wait_for(lambda: server.connections() == [])


def test_pipelined_requests_come_back_in_order(fresh_server: Any) -> None:
    server = fresh_server()
    with connect(server.address) as sock:
        sock.sendall(b"".join(GET % str(i).encode() for i in range(5)) + GET_CLOSE % b"end")
        f = sock.makefile("rb")
        bodies = [read_response(f).body for _ in range(6)]
    assert bodies == [f"Hello, /{i}".encode() for i in range(5)] + [b"Hello, /end"]


def test_a_silent_new_connection_waits_in_the_loop_without_a_thread(fresh_server: Any) -> None:
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen.append(threading.current_thread().name)
        return hello_app(environ, start_response)

    server = fresh_server(app, max_workers=1)
    with connect(server.address) as quiet:
        # Nothing sent: the worker hands it to the loop at once, so the one worker thread is
        # free for another client meanwhile.
        _wait_for(lambda: server.connections() == [WSGIProtocol.__name__])
        with connect(server.address) as other:
            other.sendall(GET_CLOSE % b"other")
            assert wait_closed(other)[0].endswith(b"Hello, /other")
        quiet.sendall(GET_CLOSE % b"late")
        assert wait_closed(quiet)[0].endswith(b"Hello, /late")
    assert len(seen) == 2


def test_the_first_head_deadline_counts_from_the_accept(fresh_server: Any) -> None:
    server = fresh_server(head_timeout=0.5)
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost:")  # part of a head, then nothing
        started = time.monotonic()
        data, _ = wait_closed(sock)
        waited = time.monotonic() - started
    assert data.startswith(b"HTTP/1.1 408 ")
    assert 0.2 < waited < 3.0
    assert any("request head not received within 0.5 s" in line for line in server.log.lines)
    _wait_for(lambda: server.connections() == [])


def test_a_bad_first_request_gets_the_cores_answer(fresh_server: Any) -> None:
    server = fresh_server()
    with connect(server.address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n")
        data, _ = wait_closed(sock)
    assert data.startswith(b"HTTP/1.1 400 ")
    _wait_for(lambda: server.connections() == [])


def test_a_body_is_read_by_the_worker(fresh_server: Any) -> None:
    def echo(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    server = fresh_server(echo)
    payload = bytes(range(256)) * 2048  # 512 KiB: many reads
    with connect(server.address) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
                     % len(payload))
        sender = threading.Thread(target=sock.sendall, args=(payload,))
        sender.start()
        f = sock.makefile("rb")
        response = read_response(f)
        sender.join(TIMEOUT)
    assert response.status == 200
    assert response.body == payload


def test_shutdown_waits_for_a_request_in_a_worker_and_says_close(fresh_server: Any) -> None:
    entered = threading.Event()

    def slow(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        entered.set()
        time.sleep(0.3)
        return hello_app(environ, start_response)

    server = fresh_server(slow)
    with connect(server.address) as sock:
        sock.sendall(GET % b"slow")
        assert entered.wait(TIMEOUT)
        assert server.connections() == [FreshConnection.__name__]
        stopping = threading.Thread(target=server.shutdown, args=(5.0,))
        stopping.start()
        data, _ = wait_closed(sock)
        stopping.join(TIMEOUT)
    assert data.startswith(b"HTTP/1.1 200 ")
    assert data.endswith(b"Hello, /slow")
    assert server.connections() == []


def test_shutdown_past_its_grace_drops_a_stuck_request(fresh_server: Any) -> None:
    release = threading.Event()
    entered = threading.Event()

    def stuck(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Length", "10")])
        entered.set()
        yield b"12345"
        release.wait(TIMEOUT)
        yield b"67890"

    server = fresh_server(stuck)
    try:
        with connect(server.address) as sock:
            sock.sendall(GET % b"")
            assert entered.wait(TIMEOUT)  # accepted and in the app (else it waits in the backlog)
            started = time.monotonic()
            server.shutdown(0.3)  # aborts the FreshConnection: its socket is shut down
            data, _ = wait_closed(sock)
            assert time.monotonic() - started < 3.0
        assert data.startswith(b"HTTP/1.1 200 ")
        assert not data.endswith(b"67890")
    finally:
        release.set()
    _wait_for(lambda: server.connections() == [])


def test_not_taken_over_tls_or_without_socket_io(fresh_server: Any) -> None:
    for options in ({"socket_io": False}, {"tls": True}):
        service = Service(hello_app, access_log=None, **options)
        a, b = socket.socketpair()
        with a, b:
            assert service.serve_accepted(a, ("127.0.0.1", 1)) is False
            assert service.connections == set()
        service.executor.shutdown()


def test_an_error_in_the_worker_closes_the_connection_and_is_reported(
    fresh_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wsgidrivers.asyncio import _fresh

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(_fresh, "Connection", broken)
    server = fresh_server()
    with connect(server.address) as sock:
        sock.sendall(GET_CLOSE % b"")
        assert wait_closed(sock)[0] == b""
    _wait_for(lambda: server.connections() == [])
    assert "error while serving a new connection" in server.errors.getvalue()
    assert "RuntimeError: boom" in server.errors.getvalue()
