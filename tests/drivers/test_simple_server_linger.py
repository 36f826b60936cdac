"""Lingering closes (RFC 9112 §9.6) are done by a background lingerer: safe, and never a wait for
the single-threaded server."""

from __future__ import annotations

import socket
import threading
import time

from support.clients import wait_closed
from support.servers import serving
from wsgidrivers._linger import Lingerer
from wsgidrivers.simple_server import make_server

from .helpers import connect, hello_app, request

GET_CLOSE = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"


def test_a_lingering_client_does_not_delay_the_next_one() -> None:
    # The first client keeps sending after its response (a byte every 0.1 s, so its lingering close
    # never goes quiet): a server that lingered in its own thread would be stuck for linger_timeout.
    server = make_server("127.0.0.1", 0, hello_app, linger_timeout=3.0)
    with serving(server) as address, connect(address) as lingering:
        lingering.sendall(GET_CLOSE)
        assert lingering.recv(65536).startswith(b"HTTP/1.1 200 OK")
        stop = threading.Event()

        def trickle() -> None:
            while not stop.wait(0.1):
                try:
                    lingering.send(b"x")
                except OSError:
                    return

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        try:
            started = time.monotonic()
            for _ in range(5):
                assert request(address)[0] == 200
            assert time.monotonic() - started < 1.5  # well under linger_timeout
        finally:
            stop.set()
            thread.join(5)
        _, waited = wait_closed(lingering, limit=6.0)
        assert waited < 4.0  # closed by the lingerer once linger_timeout passed


def test_input_that_keeps_arriving_after_the_response_does_not_reset_it() -> None:
    # HTTP/1.0: the server closes after the first response while the client is still sending
    # (a pipelined request, byte by byte). An immediate close would reset the connection and could
    # destroy the response before the client reads it; the lingerer discards the input instead.
    server = make_server("127.0.0.1", 0, hello_app)
    with serving(server) as address, connect(address) as sock:
        sock.sendall(b"GET /first HTTP/1.0\r\n\r\n")
        time.sleep(0.05)  # the server answers and wants to close...
        for byte in b"GET /second HTTP/1.1\r\nHost: t\r\n\r\n":
            sock.send(bytes([byte]))  # ...while this keeps arriving
        sock.shutdown(socket.SHUT_WR)
        data, _ = wait_closed(sock, limit=5.0)  # a reset would raise here
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert data.count(b"HTTP/1.1") == 1


def test_lingerer_refuses_when_closed_and_closes_what_it_holds() -> None:
    lingerer = Lingerer(quiet=5.0)
    left, right = socket.socketpair()
    try:
        assert lingerer.add(left, timeout=5.0, max_bytes=1024)
        lingerer.close()
        assert left.fileno() == -1  # closed by close(), long before its deadline
        other, _ = socket.socketpair()
        assert not lingerer.add(other, timeout=5.0, max_bytes=1024)
        other.close()
    finally:
        right.close()


def test_lingerer_stops_after_max_bytes() -> None:
    lingerer = Lingerer(quiet=5.0)
    left, right = socket.socketpair()
    try:
        assert lingerer.add(left, timeout=5.0, max_bytes=4096)
        right.sendall(b"x" * 8192)
        deadline = time.monotonic() + 5.0
        while left.fileno() != -1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert left.fileno() == -1
    finally:
        lingerer.close()
        right.close()
