"""A worker that gives its thread up to a waiting job queues its connection's next turn
(``_worker.Later``) instead of handing the connection to the loop; the turn serves the next
request if it has come by then, else the connection goes back to the loop."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest

from wsgicore import Close, Config, Connection, RequestReceived
from wsgidrivers.asyncio import ServerThread
from wsgidrivers.asyncio._protocol import _IDLE, WSGIProtocol
from wsgidrivers.asyncio._shared import Shared
from wsgidrivers.asyncio._worker import Later, next_request

from .aio_support import TIMEOUT, Environ, StartResponse, read_response


class FakeService:
    def __init__(self, *, jobs_wait: bool, closing: bool = False) -> None:
        self.jobs_wait = jobs_wait
        self.closing = closing

    def may_serve_inline(self) -> bool:
        return not self.jobs_wait


class FakeIO:
    """A socket whose next recv gives ``ready`` (None: nothing there yet)."""

    def __init__(self, ready: bytes | None = None) -> None:
        self.ready = ready
        self.sent: list[bytes] = []
        self.waited = 0
        self.peer_eof = False

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def receive_ready(self) -> bytes | None:
        data, self.ready = self.ready, None
        return data

    def wait_request(self, window: float) -> bytes | None:
        self.waited += 1
        return self.receive_ready()


def idle_connection(buffered: bytes = b"") -> Connection:
    """A keep-alive connection whose first request was answered, with ``buffered`` received."""
    conn = Connection(Config(clock=None))
    conn.receive_data(b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\n")
    event = conn.next_event()
    assert isinstance(event, RequestReceived)

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "0")])
        return []

    conn.run_app(app, event.environ, lambda data: None)
    if buffered:
        conn.receive_data(buffered)
    return conn


def ask(service: FakeService, io: FakeIO, conn: Connection, **flags: Any) -> object:
    return next_request(service, conn, io, inline=True, **flags)  # type: ignore[arg-type]


NEXT = b"GET /2 HTTP/1.1\r\nHost: t\r\n\r\n"


def test_a_waiting_job_queues_a_turn_instead_of_handing_back() -> None:
    io = FakeIO()
    assert ask(FakeService(jobs_wait=True), io, idle_connection(), later=True) == Later(None)
    assert io.waited == 0  # no hot wait while a job waits
    # Without ``later`` (a caller's executor, a fresh connection) the loop gets it, as before.
    assert ask(FakeService(jobs_wait=True), FakeIO(), idle_connection(), later=False) is None


def test_a_request_already_received_is_queued_with_its_turn() -> None:
    follow = ask(FakeService(jobs_wait=True), FakeIO(), idle_connection(NEXT), later=True)
    assert isinstance(follow, Later)
    assert follow.event is not None
    assert follow.event.environ["PATH_INFO"] == "/2"


def test_a_queued_turn_looks_once_and_serves_what_came() -> None:
    # Its turn: served even though other jobs wait (they are behind it now).
    io = FakeIO(NEXT)
    follow = ask(FakeService(jobs_wait=True), io, idle_connection(), first=True, look=True)
    assert isinstance(follow, dict)
    assert follow["PATH_INFO"] == "/2"
    assert io.waited == 0


def test_a_queued_turn_with_nothing_come_goes_to_the_loop_not_the_queue_again() -> None:
    io = FakeIO()
    assert ask(FakeService(jobs_wait=True), io, idle_connection(), first=True, look=True) is None
    # With no job waiting any more it waits the hot window instead, as after any response.
    io = FakeIO()
    assert ask(FakeService(jobs_wait=False), io, idle_connection(), first=True, look=True) is None
    assert io.waited == 1


def test_no_turn_is_queued_while_shutting_down() -> None:
    service = FakeService(jobs_wait=True, closing=True)
    assert ask(service, FakeIO(), idle_connection(), later=True) is None
    follow = ask(service, FakeIO(), idle_connection(NEXT), later=True)
    assert isinstance(follow, RequestReceived)  # the loop answers it with Connection: close


def test_end_of_file_in_a_turn_is_the_loops_to_close() -> None:
    io = FakeIO(b"")
    follow = ask(FakeService(jobs_wait=True), io, idle_connection(), first=True, look=True)
    assert isinstance(follow, Close)  # the client closed its side: nothing to linger for
    assert not follow.linger


# ---- on a real server ------------------------------------------------------------------------------


def path_app(environ: Environ, start_response: StartResponse) -> list[bytes]:
    body = environ["PATH_INFO"].encode() + b"|" + environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


def run_clients(address: Any, clients: int, requests: int) -> list[str]:
    problems: list[str] = []

    def client(n: int) -> None:
        try:
            with socket.create_connection(address, timeout=TIMEOUT) as sock:
                reader = sock.makefile("rb")
                for i in range(requests):
                    body = b"x" * (i % 3)
                    sock.sendall(b"POST /%d/%d HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s"
                                 % (n, i, len(body), body))
                    response = read_response(reader)
                    if response.body != b"/%d/%d|%s" % (n, i, body):
                        problems.append(f"client {n} request {i}: {response.body!r}")
                        return
        except Exception as exc:
            problems.append(f"client {n}: {exc!r}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(4 * TIMEOUT)
    return problems


def test_busy_connections_share_one_thread_and_every_answer_is_right() -> None:
    """Six busy keep-alive connections, one thread: turns interleave them, and every client gets
    its own answers in order. (How many turns are queued depends on scheduling; the test below
    shows, by construction, that one is queued where a job waits.)"""
    with ServerThread(path_app, max_workers=1, access_log=None) as address:
        assert run_clients(address, 6, 40) == []


@pytest.mark.parametrize("turns", [True, False], ids=["turns", "hand-back"])
def test_a_job_waiting_after_a_response_queues_the_connections_turn(
    monkeypatch: pytest.MonkeyPatch, turns: bool,
) -> None:
    """One thread. Client A pipelines two requests; its first one holds the thread until client
    B's request waits as a job. After A's first response a job waits, so with turns A's next
    request is queued behind B's (its connection never goes back to the loop); without them
    (the old way) A's connection goes to the loop, which then starts A's second request."""
    if not turns:
        monkeypatch.setattr(Shared, "queues_turns", property(lambda self: False))
    entered = threading.Event()
    servers: list[ServerThread] = []
    order: list[str] = []
    handed_back: list[bool] = []
    a_name: list[Any] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        path = environ["PATH_INFO"]
        order.append(path)
        if path == "/a/0":
            entered.set()
            executor = servers[0].service.executor  # type: ignore[union-attr]
            for _ in range(int(TIMEOUT * 1000)):  # until B's request waits for the thread
                if executor.backlog:
                    break
                threading.Event().wait(0.001)
            else:
                raise AssertionError("B's request never waited for the thread")
        body = path.encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    original = WSGIProtocol._app_finished

    def counting(self: WSGIProtocol, outcome: Any) -> None:
        transport = self._transport
        if transport is not None and transport.get_extra_info("peername") == a_name[0]:
            # A's connection is back with the loop: had its second request been served by then?
            handed_back.append("/a/1" in order)
        original(self, outcome)

    monkeypatch.setattr(WSGIProtocol, "_app_finished", counting)
    servers.append(ServerThread(app, max_workers=1, access_log=None))
    with servers[0] as address, socket.create_connection(address, timeout=TIMEOUT) as a, \
            socket.create_connection(address, timeout=TIMEOUT) as b:
        a_name.append(a.getsockname())
        # A fresh connection's first requests are served by the worker that took it (``_fresh``,
        # which never queues turns); one request each, then both idle with the loop.
        a_reader, b_reader = a.makefile("rb"), b.makefile("rb")
        for sock, reader in ((a, a_reader), (b, b_reader)):
            sock.sendall(b"GET /warm HTTP/1.1\r\nHost: t\r\n\r\n")
            assert read_response(reader).body == b"/warm"
        service = servers[0].service

        def idle_with_the_loop(c: object) -> bool:
            # (The warm-up may have gone through the loop: its hand-back ends with the idle state.)
            return isinstance(c, WSGIProtocol) and c._state == _IDLE

        for _ in range(int(TIMEOUT * 1000)):
            if sum(map(idle_with_the_loop, list(service.connections))) == 2:  # type: ignore[union-attr]
                break
            threading.Event().wait(0.001)
        else:
            raise AssertionError("the connections were not handed to the loop")
        del order[:], handed_back[:]
        a.sendall(b"GET /a/0 HTTP/1.1\r\nHost: t\r\n\r\nGET /a/1 HTTP/1.1\r\nHost: t\r\n\r\n")
        assert entered.wait(TIMEOUT)
        b.sendall(b"GET /b/0 HTTP/1.1\r\nHost: t\r\n\r\n")
        assert [read_response(a_reader).body for _ in range(2)] == [b"/a/0", b"/a/1"]
        assert read_response(b_reader).body == b"/b/0"
    # Either way B's job ran before A's second request: A's turn waits behind it.
    assert order == ["/a/0", "/b/0", "/a/1"]
    # With turns A's connection stays with the workers until both its requests are served;
    # without, it goes back to the loop between them.
    assert handed_back[:1] == [turns], handed_back


def test_a_turn_queued_before_the_shutdown_is_answered_with_close(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request received before the shutdown, whose turn was queued behind another job, is still
    served, and says Connection: close (as the loop's answer to it would)."""
    entered, release = threading.Event(), threading.Event()
    servers: list[ServerThread] = []
    stopper: list[threading.Thread] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        path = environ["PATH_INFO"]
        if path == "/1":
            entered.set()
            release.wait(TIMEOUT)
        elif path == "/stop":  # runs between /1 and the turn of /2: the shutdown begins
            service = servers[0].service
            assert service is not None
            stopper.append(threading.Thread(target=servers[0].stop))
            stopper[0].start()
            for _ in range(1000):
                if service.closing:
                    break
                threading.Event().wait(0.005)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    # Every turn is queued (as when another job waits), and a connection goes to the loop at once.
    monkeypatch.setattr(Shared, "may_serve_inline", lambda self: False)
    server = ServerThread(app, max_workers=1, access_log=None, grace=5.0)
    servers.append(server)
    with server as address, socket.create_connection(address, timeout=TIMEOUT) as a, \
            socket.create_connection(address, timeout=TIMEOUT) as b:
        readers = a.makefile("rb"), b.makefile("rb")
        for sock, reader in zip((a, b), readers, strict=True):
            sock.sendall(b"GET /0 HTTP/1.1\r\nHost: t\r\n\r\n")
            assert read_response(reader).status == 200
        a.sendall(b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\nGET /2 HTTP/1.1\r\nHost: t\r\n\r\n")
        assert entered.wait(TIMEOUT)
        b.sendall(b"GET /stop HTTP/1.1\r\nHost: t\r\n\r\n")
        assert server.service is not None
        pool: Any = server.service.executor
        for _ in range(1000):  # /stop's job waits for the one thread, busy with /1
            if pool.backlog:
                break
            threading.Event().wait(0.005)
        assert pool.backlog == 1
        release.set()
        first, second = read_response(readers[0]), read_response(readers[0])
        assert (first.status, second.status) == (200, 200)
        assert "connection" not in first.headers
        assert second.headers.get("connection") == "close"
        assert readers[0].read() == b""
        stopper[0].join(TIMEOUT)
