"""Accepting connections: serve_forever() takes every connection already waiting per wake-up (one
poll() for a burst), while handle_request() keeps socketserver's contract of one per call."""

from __future__ import annotations

import os
import socket
import struct
import sys
import threading
import time
from typing import Any

import pytest

from support.clients import TIMEOUT, connect, wait_closed
from support.servers import serving
from wsgidrivers._common.listening import ACCEPT_BURST
from wsgidrivers.simple_server import WSGIServer, make_server

from .helpers import hello_app

GET_CLOSE = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="bursts are enabled on Linux only")


class CountingServer(WSGIServer):
    """Records how many connections had been accepted at each turn of serve_forever()."""

    turns: list[int]

    def service_actions(self) -> None:
        self.turns.append(self._accepted)
        super().service_actions()


@linux_only
def test_serve_forever_takes_every_waiting_connection_in_one_turn() -> None:
    server = make_server("127.0.0.1", 0, hello_app, server_class=CountingServer)
    server.turns = []
    clients = [connect(server.server_address[:2]) for _ in range(5)]  # all wait in the backlog
    try:
        for sock in clients:
            sock.sendall(GET_CLOSE)
        with serving(server):
            for sock in clients:
                assert wait_closed(sock)[0].startswith(b"HTTP/1.1 200 OK")
        assert server.turns[0] == 5  # one poll() served all five (one each would read 1)
        assert ACCEPT_BURST >= 5
    finally:
        for sock in clients:
            sock.close()


def test_handle_request_serves_one_connection_per_call() -> None:
    server = make_server("127.0.0.1", 0, hello_app)
    try:
        address = server.server_address[:2]
        with connect(address) as first, connect(address) as second:
            first.sendall(GET_CLOSE)
            second.sendall(GET_CLOSE)
            server.handle_request()
            assert wait_closed(first)[0].startswith(b"HTTP/1.1 200 OK")
            second.settimeout(0.2)
            with pytest.raises(TimeoutError):
                second.recv(1)  # still waiting: the first call served one connection only
            second.settimeout(TIMEOUT)
            server.handle_request()
            assert wait_closed(second)[0].startswith(b"HTTP/1.1 200 OK")
    finally:
        server.server_close()


def test_handle_request_still_waits_for_server_timeout() -> None:
    # The listening descriptor is non-blocking (so a burst ends when nobody else waits), but the
    # socket object still reports blocking mode: socketserver waits for server.timeout as usual.
    server = make_server("127.0.0.1", 0, hello_app)
    timeouts: list[float] = []
    server.timeout = 0.2
    server.handle_timeout = lambda: timeouts.append(time.monotonic())  # type: ignore[method-assign]
    try:
        assert server.socket.gettimeout() is None
        started = time.monotonic()
        server.handle_request()
        assert len(timeouts) == 1
        assert timeouts[0] - started >= 0.19
    finally:
        server.server_close()


def test_a_connection_that_is_gone_before_accept_does_not_block_the_server() -> None:
    # A client that connects and resets at once can leave a readiness report with nothing to
    # accept behind it; the accept must not block the serving thread.
    server = make_server("127.0.0.1", 0, hello_app)
    with serving(server) as address:
        for _ in range(20):
            sock = socket.create_connection(address)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # SO_LINGER 0: a reset instead of a FIN
        with connect(address) as sock:  # served: the thread is not stuck in accept()
            sock.sendall(GET_CLOSE)
            assert wait_closed(sock)[0].startswith(b"HTTP/1.1 200 OK")


def test_clients_that_connect_while_one_is_served_wait_in_the_backlog() -> None:
    # socketserver's backlog of 5 drops the SYN of a sixth waiting client: it retries after 1 s.
    server = make_server("127.0.0.1", 0, hello_app)
    assert server.request_queue_size >= 128
    clients: list[socket.socket] = []
    try:
        started = time.monotonic()
        clients = [connect(server.server_address[:2]) for _ in range(20)]  # nobody accepts yet
        assert time.monotonic() - started < 0.9  # no connect() waited for a SYN retransmission
        for sock in clients:
            sock.sendall(GET_CLOSE)
        with serving(server):
            for sock in clients:
                assert wait_closed(sock)[0].startswith(b"HTTP/1.1 200 OK")
    finally:
        for sock in clients:
            sock.close()


def test_the_listening_socket_blocks_again_outside_serve_forever() -> None:
    # O_NONBLOCK is for serve_forever()'s bursts only: a custom loop calling get_request() or
    # socket.accept() afterwards must still wait for a connection.
    server = make_server("127.0.0.1", 0, hello_app)
    try:
        assert os.get_blocking(server.socket.fileno())
        with serving(server) as address, connect(address) as sock:
            sock.sendall(GET_CLOSE)
            assert wait_closed(sock)[0].startswith(b"HTTP/1.1 200 OK")
        # serving() has stopped serve_forever() (and closed the server): start another one.
    finally:
        server.server_close()
    server = make_server("127.0.0.1", 0, hello_app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    server.shutdown()
    thread.join(10)
    try:
        assert os.get_blocking(server.socket.fileno())
    finally:
        server.server_close()


class NoBindFlagServer(WSGIServer):
    """A subclass whose __init__ has the two-argument signature of old http.server code."""

    def __init__(self, server_address: Any, handler_class: Any) -> None:
        super().__init__(server_address, handler_class)


class IgnoresBindFlagServer(WSGIServer):
    def __init__(self, server_address: Any, handler_class: Any, bind_and_activate: bool = True
                 ) -> None:
        super().__init__(server_address, handler_class)  # always binds


@pytest.mark.parametrize("server_class", [NoBindFlagServer, IgnoresBindFlagServer])
def test_make_server_settings_work_with_any_init_signature(server_class: type[WSGIServer]) -> None:
    server = make_server("127.0.0.1", 0, hello_app, server_class=server_class, head_timeout=2.5,
                         receive_buffer=None)
    assert (server.head_timeout, server.receive_buffer) == (2.5, None)
    with serving(server) as address, connect(address) as sock:
        sock.sendall(GET_CLOSE)
        assert wait_closed(sock)[0].startswith(b"HTTP/1.1 200 OK")
