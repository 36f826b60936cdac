"""``ThreadingWSGIServer``'s connection threads (issue 23, item 2): reused instead of started per
connection, while what its users rely on holds: a stalled client never holds up another, the
socketserver hooks are called with their meaning, ``daemon_threads``, ``block_on_close``,
``shutdown()``, and a bounded number of threads under a connection flood (past ``max_threads`` new
connections wait in the listen backlog).

The pool (``wsgidrivers._common.connthreads``) needs Linux's EPOLLEXCLUSIVE; elsewhere the server
keeps socketserver's thread per connection, and the tests of reuse are skipped.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from support.clients import TIMEOUT, connect, read_until_close
from wsgidrivers._common.connthreads import EXCLUSIVE_WAKEUPS
from wsgidrivers._common.settings import CONNECTION_THREADS
from wsgidrivers.simple_server import ThreadingWSGIServer, WSGIServer, make_server

from .helpers import hello_app, recording_handler, request, wait_for

pooled = pytest.mark.skipif(not EXCLUSIVE_WAKEUPS, reason="needs epoll with EPOLLEXCLUSIVE (Linux)")

GET_CLOSE = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"


def _pool_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("wsgicore-connection")]


@contextlib.contextmanager
def serving(app: Any = hello_app, server_class: type[WSGIServer] = ThreadingWSGIServer,
            poll_interval: float = 0.5, **settings: Any) -> Iterator[WSGIServer]:
    server = make_server("127.0.0.1", 0, app, server_class, recording_handler(), **settings)
    loop = threading.Thread(target=server.serve_forever, args=(poll_interval,), daemon=True)
    loop.start()
    try:
        yield server
    finally:
        server.shutdown()
        loop.join(TIMEOUT)
        server.server_close()


def _address(server: WSGIServer) -> tuple[str, int]:
    return server.server_address[0], server.server_address[1]


def _get(server: WSGIServer) -> bytes:
    with connect(_address(server)) as sock:
        sock.sendall(GET_CLOSE)
        return read_until_close(sock)



class _Gate:
    """An app that holds each request until :meth:`open` (bounded by TIMEOUT)."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.inside = 0
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with self.lock:
            self.inside += 1
        try:
            self.opened.wait(TIMEOUT)
        finally:
            with self.lock:
                self.inside -= 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"through"]


@pooled
def test_new_connections_reuse_threads_instead_of_starting_one_each() -> None:
    seen: set[threading.Thread] = set()

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen.add(threading.current_thread())  # the object: a new thread is a new object
        return hello_app(environ, start_response)

    with serving(app) as server:
        for _ in range(40):
            assert _get(server).startswith(b"HTTP/1.1 200 OK")
    # One client at a time: the first thread serves nearly all (a second one was started when the
    # first took a connection, and waits for the next).
    assert len(seen) <= 3, sorted(t.name for t in seen)


@pooled
def test_a_stalled_client_holds_up_no_one_else() -> None:
    # Stalled clients (half a request head, then nothing) and a request whose application hangs:
    # each holds its own thread; many other clients, at once, are all served meanwhile.
    gate = _Gate()

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/hang":
            return gate(environ, start_response)
        return hello_app(environ, start_response)

    with serving(app, head_timeout=60.0) as server, contextlib.ExitStack() as stack:
        for _ in range(5):
            stalled = stack.enter_context(connect(_address(server)))
            stalled.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Half: ")
        hanging = stack.enter_context(connect(_address(server)))
        hanging.sendall(b"GET /hang HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert wait_for(lambda: gate.inside == 1)
        results: list[bytes] = []

        def client() -> None:
            for _ in range(5):
                results.append(_get(server))

        clients = [threading.Thread(target=client) for _ in range(20)]
        started = time.monotonic()
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(TIMEOUT)
        took = time.monotonic() - started
        assert len(results) == 100
        assert all(r.startswith(b"HTTP/1.1 200 OK") for r in results)
        assert took < TIMEOUT / 2, f"{took:.1f} s"
        gate.opened.set()
        assert read_until_close(hanging).endswith(b"through")


@pooled
def test_the_socketserver_hooks_are_called_for_each_connection() -> None:
    calls: list[tuple[str, str]] = []

    class Hooked(ThreadingWSGIServer):
        def get_request(self) -> tuple[Any, Any]:
            calls.append(("get_request", threading.current_thread().name))
            return super().get_request()

        def verify_request(self, request: Any, client_address: Any) -> bool:
            calls.append(("verify_request", threading.current_thread().name))
            return super().verify_request(request, client_address)

        def process_request(self, request: Any, client_address: Any) -> None:
            calls.append(("process_request", threading.current_thread().name))
            super().process_request(request, client_address)

        def process_request_thread(self, request: Any, client_address: Any) -> None:
            calls.append(("process_request_thread", threading.current_thread().name))
            super().process_request_thread(request, client_address)

        def shutdown_request(self, request: Any) -> None:
            calls.append(("shutdown_request", threading.current_thread().name))
            super().shutdown_request(request)

    with serving(server_class=Hooked) as server:
        for _ in range(3):
            assert _get(server).startswith(b"HTTP/1.1 200 OK")
        assert wait_for(lambda: sum(name == "shutdown_request" for name, _ in calls) == 3)
    hooks = [name for name, _ in calls if name != "get_request"]  # EAGAIN attempts count too
    assert hooks == ["verify_request", "process_request", "process_request_thread",
                     "shutdown_request"] * 3
    # Served where it was accepted: the thread that took the connection (one of the pool's).
    for i in range(0, len(calls), 1):
        assert calls[i][1].startswith("wsgicore-connection"), calls


@pooled
def test_verify_request_false_closes_and_the_thread_goes_on() -> None:
    refused = []

    class Picky(ThreadingWSGIServer):
        def verify_request(self, request: Any, client_address: Any) -> bool:
            refused.append(client_address)
            return len(refused) > 1  # the first connection is refused

    with serving(server_class=Picky) as server:
        assert _get(server) == b""
        assert _get(server).startswith(b"HTTP/1.1 200 OK")


@pooled
@pytest.mark.parametrize("daemon", [True, False])
def test_daemon_threads_is_the_connection_threads_flag(daemon: bool) -> None:
    flags: list[bool] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        flags.append(threading.current_thread().daemon)
        return hello_app(environ, start_response)

    server_class = type("Flagged", (ThreadingWSGIServer,), {"daemon_threads": daemon})
    with serving(app, server_class=server_class) as server:
        _get(server)
    assert flags == [daemon]


@pooled
@pytest.mark.parametrize("block_on_close", [True, False])
def test_server_close_waits_for_the_connections_being_served(block_on_close: bool) -> None:
    gate = _Gate()
    server_class = type("Closing", (ThreadingWSGIServer,), {"block_on_close": block_on_close})
    server = make_server("127.0.0.1", 0, gate, server_class, recording_handler())
    loop = threading.Thread(target=server.serve_forever, daemon=True)
    loop.start()
    with connect(_address(server)) as sock:
        sock.sendall(GET_CLOSE)
        assert wait_for(lambda: gate.inside == 1)
        server.shutdown()
        loop.join(TIMEOUT)
        threading.Timer(0.3, gate.opened.set).start()
        started = time.monotonic()
        server.server_close()
        took = time.monotonic() - started
        if block_on_close:
            assert took >= 0.25
            assert gate.inside == 0
            assert not [t for t in _pool_threads() if t.is_alive()]
        else:
            assert took < 0.25
            assert gate.inside == 1
        assert read_until_close(sock).endswith(b"through")


@pooled
def test_server_close_does_not_wait_for_idle_threads() -> None:
    gate = _Gate()
    gate.opened.set()
    with serving(gate) as server:
        results = []
        clients = [threading.Thread(target=lambda: results.append(_get(server))) for _ in range(10)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(TIMEOUT)
        assert len(results) == 10
    # serving() has run shutdown() and server_close(): the idle threads left at once.
    assert wait_for(lambda: not _pool_threads(), 1.0), _pool_threads()


@pooled
def test_shutdown_is_prompt_and_serve_forever_can_run_again() -> None:
    server = make_server("127.0.0.1", 0, hello_app, ThreadingWSGIServer, recording_handler())
    try:
        for _ in range(2):
            # A long poll_interval: shutdown() wakes serve_forever() instead of waiting for it.
            loop = threading.Thread(target=server.serve_forever, args=(30.0,), daemon=True)
            loop.start()
            assert _get(server).startswith(b"HTTP/1.1 200 OK")
            started = time.monotonic()
            server.shutdown()
            assert time.monotonic() - started < 1.0
            loop.join(TIMEOUT)
            assert not loop.is_alive()
            assert wait_for(lambda: not _pool_threads(), 1.0)
    finally:
        server.server_close()


def test_max_threads_defaults_to_the_settings_bound() -> None:
    assert ThreadingWSGIServer.max_threads == CONNECTION_THREADS
    with pytest.raises(ValueError, match="max_threads"):
        type("Bad", (ThreadingWSGIServer,), {"max_threads": 0})(("127.0.0.1", 0), recording_handler())


@pooled
def test_past_max_threads_new_connections_wait_in_the_backlog() -> None:
    gate = _Gate()
    server_class = type("Bounded", (ThreadingWSGIServer,), {"max_threads": 3})
    with serving(gate, server_class=server_class) as server, contextlib.ExitStack() as stack:
        held = [stack.enter_context(connect(_address(server))) for _ in range(3)]
        for sock in held:
            sock.sendall(GET_CLOSE)
        assert wait_for(lambda: gate.inside == 3)
        waiting = stack.enter_context(connect(_address(server)))  # the kernel completes it...
        waiting.sendall(GET_CLOSE)
        time.sleep(0.3)
        assert gate.inside == 3  # ...but nobody accepts it: no fourth thread
        assert len(_pool_threads()) == 3
        gate.opened.set()
        for sock in [*held, waiting]:
            assert read_until_close(sock).endswith(b"through")


@pooled
def test_a_connection_flood_starts_no_more_threads_than_the_bound() -> None:
    gate = _Gate()
    server_class = type("Bounded", (ThreadingWSGIServer,), {"max_threads": 8})
    most = 0
    with serving(gate, server_class=server_class) as server, contextlib.ExitStack() as stack:
        socks = []
        for _ in range(100):
            sock = stack.enter_context(connect(_address(server)))
            sock.sendall(GET_CLOSE)
            socks.append(sock)
        assert wait_for(lambda: gate.inside == 8)
        time.sleep(0.2)
        most = max(most, len(_pool_threads()))
        gate.opened.set()
        for sock in socks:
            assert read_until_close(sock).endswith(b"through")
            most = max(most, len(_pool_threads()))
    assert most == 8


@pooled
def test_connections_that_end_soon_are_served_by_the_threads_there_are() -> None:
    # All threads busy, but one comes back within spare_thread_delay: the connection waiting
    # meanwhile is its, and no thread is started (starting one at once whenever none waited made
    # the pool run away under a steady load of short connections, see connthreads).
    gate = _Gate()
    server_class = type("Patient", (ThreadingWSGIServer,), {"spare_thread_delay": TIMEOUT})
    with serving(gate, server_class=server_class) as server, contextlib.ExitStack() as stack:
        first = stack.enter_context(connect(_address(server)))
        first.sendall(GET_CLOSE)
        assert wait_for(lambda: gate.inside == 1)
        second = stack.enter_context(connect(_address(server)))
        second.sendall(GET_CLOSE)
        time.sleep(0.2)
        assert gate.inside == 1  # the second waits in the backlog...
        assert len(_pool_threads()) == 1
        gate.opened.set()
        for sock in (first, second):
            assert read_until_close(sock).endswith(b"through")
        assert len(_pool_threads()) == 1  # ...for the one thread, which served both


@pooled
def test_a_stalled_connection_gets_a_thread_started_after_spare_thread_delay() -> None:
    gate = _Gate()
    server_class = type("Quick", (ThreadingWSGIServer,), {"spare_thread_delay": 0.05})
    with serving(gate, server_class=server_class) as server, contextlib.ExitStack() as stack:
        stalled = stack.enter_context(connect(_address(server)))
        stalled.sendall(GET_CLOSE)
        assert wait_for(lambda: gate.inside == 1)
        assert wait_for(lambda: len(_pool_threads()) == 2)  # the spare, waiting
        other = stack.enter_context(connect(_address(server)))
        other.sendall(GET_CLOSE)
        assert wait_for(lambda: gate.inside == 2)  # taken by it while the first still hangs
        gate.opened.set()
        for sock in (stalled, other):
            assert read_until_close(sock).endswith(b"through")


@pooled
def test_idle_threads_leave_after_idle_thread_timeout() -> None:
    gate = _Gate()
    server_class = type("Shrinking", (ThreadingWSGIServer,), {"idle_thread_timeout": 0.2})
    with serving(gate, server_class=server_class) as server, contextlib.ExitStack() as stack:
        socks = [stack.enter_context(connect(_address(server))) for _ in range(10)]
        for sock in socks:
            sock.sendall(GET_CLOSE)
        assert wait_for(lambda: gate.inside == 10)
        # One more waits for the next connection (started once none came back: spare_thread_delay).
        assert wait_for(lambda: len(_pool_threads()) == 11)
        time.sleep(0.1)
        assert len(_pool_threads()) == 11  # and only one
        gate.opened.set()
        for sock in socks:
            read_until_close(sock)
        assert wait_for(lambda: len(_pool_threads()) == 1, 3.0), _pool_threads()
        assert _get(server).startswith(b"HTTP/1.1 200 OK")  # the one left serves


def test_handle_request_still_serves_one_connection_in_a_thread() -> None:
    server = make_server("127.0.0.1", 0, hello_app, ThreadingWSGIServer, recording_handler())
    try:
        result: list[Any] = []
        client = threading.Thread(target=lambda: result.append(request(_address(server))))
        client.start()
        server.timeout = TIMEOUT
        server.handle_request()
        client.join(TIMEOUT)
        assert result
        assert result[0][0] == 200
    finally:
        server.server_close()


@pooled
def test_unix_socket_and_keep_alive_through_the_pool(tmp_path: Any) -> None:
    path = str(tmp_path / "s.sock")
    server = ThreadingWSGIServer(path, recording_handler())
    server.set_app(hello_app)
    loop = threading.Thread(target=server.serve_forever, daemon=True)
    loop.start()
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(TIMEOUT)
            sock.connect(path)
            for _ in range(3):
                sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                data = b""
                while not data.endswith(b"Hello, world!"):
                    chunk = sock.recv(4096)
                    assert chunk
                    data += chunk
    finally:
        server.shutdown()
        loop.join(TIMEOUT)
        server.server_close()


@pooled
def test_a_connection_is_accepted_once_its_request_has_arrived() -> None:
    # TCP_DEFER_ACCEPT: silent connections hold no thread (the kernel keeps them until data comes,
    # or about a second); one whose request is there is served at once.
    server_class = type("Deferring", (ThreadingWSGIServer,), {"defer_accept": True})
    with serving(server_class=server_class) as server, contextlib.ExitStack() as stack:
        assert wait_for(lambda: server.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT) > 0)
        assert wait_for(lambda: len(_pool_threads()) == 1)
        silent = [stack.enter_context(connect(_address(server))) for _ in range(5)]
        time.sleep(0.3)
        assert len(_pool_threads()) == 1  # none of them was accepted: nobody took a thread
        assert _get(server).startswith(b"HTTP/1.1 200 OK")
        silent[0].sendall(GET_CLOSE)  # late, but served
        assert read_until_close(silent[0]).startswith(b"HTTP/1.1 200 OK")


@pooled
def test_by_default_silent_connections_are_accepted_at_once() -> None:
    # The head deadline counts from the accept: a silent client's time counts from its connect.
    assert ThreadingWSGIServer.defer_accept is False
    with serving() as server, contextlib.ExitStack() as stack:
        for _ in range(3):
            stack.enter_context(connect(_address(server)))
        assert wait_for(lambda: len(_pool_threads()) == 4, 2.0)  # three serving, one waiting


@pooled
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the SystemExit
def test_a_thread_ended_by_its_connection_is_replaced() -> None:
    # A BaseException out of serve() ends that thread (as it would end socketserver's thread); the
    # pool starts another when nobody else waits, so later connections are still accepted.
    from wsgidrivers._common.connthreads import AcceptingThreads

    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    served: list[int] = []
    ended: list[threading.Thread] = []

    def take() -> socket.socket | None:
        try:
            return listener.accept()[0]
        except BlockingIOError:
            return None

    def serve(sock: socket.socket) -> None:
        with sock:
            served.append(1)
            sock.sendall(b"ok")
            if len(served) == 1:
                ended.append(threading.current_thread())
                raise SystemExit  # ends this thread

    pool: AcceptingThreads[socket.socket] = AcceptingThreads(
        listener, take, serve, limit=1, idle_timeout=5.0, daemon=True, name="wsgicore-connection-test")
    try:
        assert pool.start()
        for _ in range(3):
            with socket.create_connection(listener.getsockname(), timeout=TIMEOUT) as client:
                assert client.recv(2) == b"ok"
        assert len(served) == 3
        ended[0].join(TIMEOUT)  # its SystemExit reported within this test
        assert wait_for(lambda: pool.size == 1)  # within its limit of 1, after the replacement
    finally:
        pool.stop()
        for thread in pool.threads():
            thread.join(TIMEOUT)
        pool.close()
        listener.close()


@pooled
def test_once_no_thread_came_back_spares_are_started_without_waiting_again() -> None:
    # Connections that stay (none comes back): only the first spare waits out spare_delay; the
    # next ones start as soon as the last idle thread takes a connection, so a burst of kept-alive
    # clients does not wait spare_delay each, one after the other.
    from wsgidrivers._common.connthreads import AcceptingThreads

    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    release = threading.Event()

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
        name="wsgicore-connection-test", spare_delay=0.2)
    expired: list[float] = []
    condition = pool._short
    real_wait = condition.wait

    def recording_wait(timeout: float | None = None) -> bool:
        notified = real_wait(timeout)
        if timeout is not None and not notified:
            expired.append(timeout)
        return notified

    condition.wait = recording_wait  # type: ignore[method-assign]
    clients: list[socket.socket] = []
    try:
        assert pool.start()
        for _ in range(4):
            clients.append(socket.create_connection(listener.getsockname(), timeout=TIMEOUT))
        assert wait_for(lambda: pool.size - pool.idle == 4 and pool.idle == 1)
        assert expired == [0.2]
    finally:
        release.set()
        pool.stop()
        for thread in pool.threads():
            thread.join(TIMEOUT)
        pool.close()
        for client in clients:
            client.close()
        listener.close()


def test_without_exclusive_wakeups_serve_forever_starts_a_thread_per_connection(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from wsgidrivers._common import connthreads

    monkeypatch.setattr(connthreads, "EXCLUSIVE_WAKEUPS", False)
    names: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        names.append(threading.current_thread().name)
        return hello_app(environ, start_response)

    with serving(app) as server:
        for _ in range(3):
            assert _get(server).startswith(b"HTTP/1.1 200 OK")
    assert not any(name.startswith("wsgicore-connection") for name in names)
    assert len(set(names)) == 3


@pooled
def test_each_run_of_serve_forever_gives_its_descriptors_back() -> None:
    # Each run's pool has a stop pipe and an epoll per thread: released when its threads are gone.
    import os

    server = make_server("127.0.0.1", 0, hello_app, ThreadingWSGIServer, recording_handler())
    try:
        before = len(os.listdir("/proc/self/fd"))
        for _ in range(3):
            loop = threading.Thread(target=server.serve_forever, daemon=True)
            loop.start()
            results: list[bytes] = []
            clients = [threading.Thread(target=lambda into=results: into.append(_get(server)))
                       for _ in range(5)]
            for client in clients:
                client.start()
            for client in clients:
                client.join(TIMEOUT)
            assert len(results) == 5
            server.shutdown()
            loop.join(TIMEOUT)
            assert wait_for(lambda: not _pool_threads(), 2.0)
        server.service_actions()  # the lingerer closes what it still holds
        server.service_actions()
        assert wait_for(lambda: len(os.listdir("/proc/self/fd")) <= before, 2.0), os.listdir("/proc/self/fd")
    finally:
        server.server_close()
