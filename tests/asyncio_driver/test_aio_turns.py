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
from wsgidrivers.asyncio._protocol import WSGIProtocol
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


@pytest.mark.parametrize("turns", [True, False], ids=["turns", "hand-back"])
def test_busy_connections_share_one_thread_without_the_loop(
    monkeypatch: pytest.MonkeyPatch, turns: bool,
) -> None:
    """Six busy keep-alive connections, one thread: every response is followed by a waiting
    job. With turns, most next requests are served from the queue; without (the old way), the
    connection went back to the loop after nearly every response."""
    if not turns:
        monkeypatch.setattr(Shared, "queues_turns", property(lambda self: False))
    original = WSGIProtocol._app_finished
    clients, requests = 6, 40
    total = clients * requests

    def taken_back_in_one_run() -> int:
        taken_back = [0]
        server = ServerThread(path_app, max_workers=1, access_log=None)

        def counting(self: WSGIProtocol, outcome: Any) -> None:
            if self._service is server.service:  # not another test's server still stopping
                taken_back[0] += 1
            original(self, outcome)

        monkeypatch.setattr(WSGIProtocol, "_app_finished", counting)
        with server as address:
            assert run_clients(address, clients, requests) == []
        return taken_back[0]

    # How many responses go back to the loop depends on thread scheduling: with turns 71-112 of
    # 240 in repeated runs here, without them 118-217 (the low end under a full suite's load). The
    # bound sits between the two; a run on the wrong side of it is measured again (at most three
    # runs), so one unlucky schedule does not decide, and a broken case stays on its wrong side.
    bound = total * 0.5
    counts = []
    for _ in range(3):
        counts.append(taken_back_in_one_run())
        if (counts[-1] < bound) if turns else (counts[-1] > bound):
            break
    if turns:
        assert counts[-1] < bound, (counts, total)
    else:
        assert counts[-1] > bound, (counts, total)


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
