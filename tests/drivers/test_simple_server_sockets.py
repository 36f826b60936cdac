"""simple_server serves what the command line needs: a socket bound by the caller (``sock=``), a Unix
socket, TLS (``ssl=``), and ``ThreadingWSGIServer.max_threads``."""

from __future__ import annotations

import select
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from support.certs import client_context, server_context
from wsgidrivers.simple_server import ThreadingWSGIServer, WSGIServer, make_server

from .helpers import hello_app, read_response, recording_handler

unix_only = pytest.mark.skipif(not hasattr(socket, "AF_UNIX") or sys.platform == "win32",
                               reason="no Unix sockets")


def environ_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    keys = ("wsgi.url_scheme", "SERVER_NAME", "SERVER_PORT", "REMOTE_ADDR")
    return ["|".join(str(environ.get(key, "-")) for key in keys).encode()]


@contextmanager
def running(server: WSGIServer) -> Iterator[WSGIServer]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _get(sock: socket.socket) -> tuple[int, bytes]:
    sock.settimeout(10)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    response = read_response(sock)
    return response.status, response.read()


def test_a_bound_tcp_socket_is_served() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    with running(make_server("", 0, environ_app, sock=listener, handler_class=recording_handler())) as server:
        assert (server.server_name, server.server_port) == ("127.0.0.1", port)
        with socket.create_connection(("127.0.0.1", port)) as client:
            assert _get(client) == (200, f"http|127.0.0.1|{port}|127.0.0.1".encode())


@unix_only
@pytest.mark.parametrize("server_class", [WSGIServer, ThreadingWSGIServer])
def test_a_unix_socket_is_served_without_addresses(server_class: type[WSGIServer],
                                                   tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    handler = recording_handler()
    with running(make_server("", 0, environ_app, server_class, handler, sock=listener)) as server:
        assert server.is_unix
        assert server.server_name == path
        for _ in range(2):
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(path)
                # As the asyncio driver: no peer, no sockname; SERVER_NAME/PORT say localhost:80,
                # REMOTE_ADDR is "" (no network address; gunicorn's workers say the same).
                assert _get(client) == (200, b"http|localhost|80|")
    assert handler.log[0].startswith('"GET / HTTP/1.1" 200')


@unix_only
def test_wsgi_server_binds_a_path(tmp_path: Path) -> None:
    path = str(tmp_path / "bound.sock")
    server = WSGIServer(path, recording_handler())  # type: ignore[arg-type]
    server.set_app(hello_app)
    with running(server), socket.socket(socket.AF_UNIX) as client:
        client.connect(path)
        assert _get(client) == (200, b"Hello, world!")


def test_a_connection_made_before_the_socket_was_adopted_still_has_the_head_deadline() -> None:
    # Linux copies a listening socket's options to a connection when its handshake completes: one
    # that was waiting in the backlog before make_server() set them must get them at accept().
    listener = socket.create_server(("127.0.0.1", 0))
    early = socket.create_connection(listener.getsockname())
    early.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # part of a head, then silence
    server = make_server("", 0, hello_app, ThreadingWSGIServer, recording_handler(), sock=listener,
                         head_timeout=0.3)
    with running(server), early:
        early.settimeout(10)
        assert early.recv(100).startswith(b"HTTP/1.1 408 ")
        with socket.create_connection(listener.getsockname()) as later:
            later.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            later.settimeout(10)
            assert later.recv(100).startswith(b"HTTP/1.1 408 ")


@pytest.mark.parametrize("server_class", [WSGIServer, ThreadingWSGIServer])
def test_tls(server_class: type[WSGIServer], tmp_path: Path) -> None:
    context = server_context(tmp_path)
    tls = client_context()
    server = make_server("127.0.0.1", 0, environ_app, server_class, recording_handler(), ssl=context,
                         head_timeout=0.5)
    port = server.server_port
    with running(server):
        for _ in range(2):
            with tls.wrap_socket(socket.create_connection(("127.0.0.1", port))) as client:
                assert _get(client) == (200, f"https|127.0.0.1|{port}|127.0.0.1".encode())
        # Part of a head, then silence: the core's 408 at the head deadline, over TLS as without.
        with tls.wrap_socket(socket.create_connection(("127.0.0.1", port))) as slow:
            slow.settimeout(10)
            slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            assert slow.recv(100).startswith(b"HTTP/1.1 408 ")
        # A client that never completes its handshake does not hold up the others (the handshake
        # happens in the connection's own thread).
        if server_class is ThreadingWSGIServer:
            with socket.create_connection(("127.0.0.1", port)) as silent:
                with tls.wrap_socket(socket.create_connection(("127.0.0.1", port))) as c:
                    assert _get(c)[0] == 200
                silent.close()


def test_max_threads_bounds_the_connections_served_at_once() -> None:
    class Bounded(ThreadingWSGIServer):
        max_threads = 1

    server = make_server("127.0.0.1", 0, hello_app, Bounded, recording_handler())
    address = server.server_address[:2]
    with running(server):
        first = socket.create_connection(address, timeout=10)
        first.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(first).read() == b"Hello, world!"  # kept alive: its thread is busy
        second = socket.create_connection(address, timeout=10)
        second.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        # Not answered while the first holds the only thread (a check of absence: it cannot fail
        # by slowness, only miss).
        assert select.select([second], [], [], 0.3)[0] == []
        first.close()
        assert read_response(second).read() == b"Hello, world!"
        second.close()


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2"])
def test_a_bad_max_threads_is_refused(bad: Any) -> None:
    class Bad(ThreadingWSGIServer):
        max_threads = bad

    with pytest.raises(ValueError, match="max_threads"):
        make_server("127.0.0.1", 0, hello_app, Bad)


@unix_only
@pytest.mark.parametrize("adopted", [True, False])
def test_a_unix_socket_connection_has_the_head_deadline(adopted: bool, tmp_path: Path) -> None:
    # A Unix socket's accept() inherits no socket options (Linux copies them for TCP only): the
    # deadline must be set on each connection, or a silent client holds its thread for ever.
    path = str(tmp_path / "slow.sock")
    if adopted:
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(path)
        server = make_server("", 0, hello_app, ThreadingWSGIServer, recording_handler(), sock=listener,
                             head_timeout=0.3)
    else:
        class QuickServer(ThreadingWSGIServer):
            head_timeout = 0.3  # set before the bind, as a subclass does

        server = QuickServer(path, recording_handler())  # type: ignore[arg-type]
        server.set_app(hello_app)
    with running(server), socket.socket(socket.AF_UNIX) as client:
        client.connect(path)
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # part of a head, then silence
        client.settimeout(10)
        assert client.recv(100).startswith(b"HTTP/1.1 408 ")
