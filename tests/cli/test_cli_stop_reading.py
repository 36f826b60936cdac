"""What a stop of the command line's blocking servers does to each open connection (``end_reading``
in ``wsgidrivers.simple_server._run``): a kept-alive connection idle between requests ends at once;
a connection accepted before the stop whose first request had not arrived is still served it (a
proxy such as nginx opens one per request and got 502 "upstream prematurely closed connection"
during a reload: tests/nginx/test_nginx_reload.py), unless it sent nothing within the first-request
window (``end_reading(fresh=True)``: a browser's speculative connection must not hold up a stop);
an application still reading its request body gets all of it. Each response then closes its
connection. In-process, every wait bounded."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from wsgidrivers.simple_server import _run
from wsgidrivers.simple_server._make import make_server

LIMIT = 10.0


def _app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"read %d" % len(body)]


@pytest.fixture(params=["threading", "simple"])
def server(request: pytest.FixtureRequest) -> Iterator[Any]:
    server_class = _run._Threading if request.param == "threading" else _run._Tracking
    served: Any = make_server("127.0.0.1", 0, _app, server_class, _run._CommandLineRequestHandler,
                              keep_alive=True)  # the simple driver's --keep-alive
    loop = threading.Thread(target=served.serve_forever, daemon=True)
    loop.start()
    try:
        yield served
    finally:
        served.shutdown()
        served.server_close()
        loop.join(LIMIT)


def _wait(what: Callable[[], bool], description: str) -> None:
    deadline = time.monotonic() + LIMIT
    while not what():
        assert time.monotonic() < deadline, description
        time.sleep(0.01)


def _connect(server: Any) -> socket.socket:
    sock = socket.create_connection(server.server_address[:2], timeout=LIMIT)
    _wait(lambda: server.serving() == 1, "the server took the connection")
    return sock


def _response(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_connection_whose_first_request_has_not_arrived_is_served_it(server: Any) -> None:
    with _connect(server) as sock:
        time.sleep(0.1)  # the server waits in recv() for the head (a shutdown would wake it at EOF)
        server.end_reading()  # the stop begins before the request arrives
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = _response(sock)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer
    assert b"\r\nConnection: close\r\n" in answer
    assert answer.endswith(b"read 0")


def test_a_connection_that_sends_nothing_ends_when_the_window_closes(server: Any) -> None:
    with _connect(server) as sock:
        time.sleep(0.1)  # the server waits in recv() for the head
        server.end_reading()
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # still open: it may yet send its request
        sock.settimeout(LIMIT)
        server.end_reading(fresh=True)
        assert _response(sock) == b""  # closed without a response: nothing was asked
    _wait(lambda: server.serving() == 0, "the connection ended")


def test_a_kept_alive_connection_idle_between_requests_ends_at_once(server: Any) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"Connection: close" not in first
        _wait(lambda: not len(server.in_flight), "the application finished")
        started = time.monotonic()
        server.end_reading()
        assert _response(sock) == b""  # closed, without waiting for keep_alive_timeout
        assert time.monotonic() - started < LIMIT / 2


def test_an_application_reading_its_body_gets_all_of_it(server: Any) -> None:
    body = b"x" * 100_000
    with _connect(server) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
                     + body[:1000])
        _wait(lambda: len(server.in_flight) == 1, "the application runs")
        time.sleep(0.1)  # the application is blocked reading the rest of the body
        server.end_reading()
        sock.sendall(body[1000:])
        answer = _response(sock)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer
    assert answer.endswith(b"read 100000")
