"""Lingering closes (RFC 9112 §9.6) are done by a background lingerer: safe, and never a wait for
the single-threaded server."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from support.clients import wait_closed
from support.servers import serving
from wsgidrivers.simple_server import _server as _ss_server
from wsgidrivers.simple_server import make_server
from wsgidrivers.simple_server._linger import Lingerer

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


def test_lingerer_closes_on_eof_and_refuses_when_closed() -> None:
    lingerer = Lingerer(quiet=5.0)
    left, right = socket.socketpair()
    try:
        assert lingerer.add(left, timeout=5.0, max_bytes=1024)
        assert right.recv(10) == b""  # our side was shut down for writing at once
        lingerer.service()
        assert left.fileno() != -1  # the client has not closed yet: keep lingering
        right.sendall(b"late bytes")
        right.shutdown(socket.SHUT_WR)
        time.sleep(0.05)
        lingerer.service()
        assert left.fileno() == -1  # input discarded, EOF seen: closed
        other, other_peer = socket.socketpair()
        assert lingerer.add(other, timeout=5.0, max_bytes=1024)
        lingerer.close()
        assert other.fileno() == -1  # close() closes what it still holds
        spare, spare_peer = socket.socketpair()
        assert not lingerer.add(spare, timeout=5.0, max_bytes=1024)
        for sock in (other_peer, spare, spare_peer):
            sock.close()
    finally:
        right.close()


def test_lingerer_stops_after_max_bytes_and_after_quiet() -> None:
    lingerer = Lingerer(quiet=0.1)
    greedy, greedy_peer = socket.socketpair()
    quiet, quiet_peer = socket.socketpair()
    try:
        assert lingerer.add(greedy, timeout=5.0, max_bytes=4096)
        assert lingerer.add(quiet, timeout=5.0, max_bytes=4096)
        greedy_peer.sendall(b"x" * 8192)
        time.sleep(0.05)
        lingerer.service()
        assert greedy.fileno() == -1  # more than max_bytes: closed without waiting for EOF
        assert quiet.fileno() != -1
        time.sleep(0.15)
        lingerer.service()
        assert quiet.fileno() == -1  # nothing for longer than quiet: closed
        assert len(lingerer) == 0
    finally:
        lingerer.close()
        greedy_peer.close()
        quiet_peer.close()


def _lingering_after_response(monkeypatch: pytest.MonkeyPatch, request_bytes: bytes) -> int:
    """Serve one request and return how many sockets the server's lingerer holds afterwards."""
    monkeypatch.setattr(_ss_server, "LINGER_QUIET", 5.0)  # not closed early for being quiet
    server = make_server("127.0.0.1", 0, hello_app)
    with serving(server) as address, connect(address) as sock:
        sock.sendall(request_bytes)
        data, _ = wait_closed(sock, limit=5.0)
        assert data.startswith(b"HTTP/1.1 200 OK")
        # The client sees the FIN a moment before the hand-over is recorded; a second connection
        # is only accepted once the first one's hand-over is complete.
        with connect(address) as second:
            second.sendall(GET_CLOSE)
            assert wait_closed(second, limit=5.0)[0].startswith(b"HTTP/1.1 200 OK")
        assert server._lingerer is not None
        return len(server._lingerer)  # the second one never lingers: it said "close"


def test_a_client_that_said_close_is_closed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # RFC 9112 §9.6: a client that sends "Connection: close" MUST NOT send more, and its request
    # was read whole: nothing can arrive to cause a reset, so no lingering (and no lingerer cost).
    assert _lingering_after_response(monkeypatch, GET_CLOSE) == 0


def test_a_client_that_did_not_say_close_gets_a_lingering_close(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The server closes (keep_alive off) but the client may pipeline another request any time.
    assert _lingering_after_response(monkeypatch, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n") == 1


def test_a_silent_client_is_handed_to_the_selector_after_two_passes() -> None:
    lingerer = Lingerer(quiet=5.0)
    left, right = socket.socketpair()
    try:
        assert lingerer.add(left, timeout=5.0, max_bytes=1024)
        lingerer.service()
        lingerer.service()  # two passes found nothing: watched by the selector from now on
        assert not lingerer._fresh
        assert len(lingerer._selector.get_map()) == 1
        assert len(lingerer) == 1
        right.sendall(b"late")
        right.shutdown(socket.SHUT_WR)
        time.sleep(0.05)
        lingerer.service()  # the selector reports it: input discarded, EOF seen, closed
        assert left.fileno() == -1
        assert len(lingerer) == 0
    finally:
        lingerer.close()
        right.close()


def test_close_soon_sends_the_fin_now_and_closes_on_the_second_pass() -> None:
    lingerer = Lingerer(quiet=5.0)
    left, right = socket.socketpair()
    try:
        assert lingerer.close_soon(left)
        assert right.recv(10) == b""  # shut down for sending at once: the client sees the end
        assert len(lingerer) == 0  # nothing to linger on
        lingerer.service()
        assert left.fileno() != -1  # the first pass leaves it: it overlaps the next request
        lingerer.service()
        assert left.fileno() == -1  # the second pass closes it
        other, other_peer = socket.socketpair()
        assert lingerer.close_soon(other)
        lingerer.close()
        assert other.fileno() == -1  # close() closes what is still waiting
        assert not lingerer.close_soon(other_peer)  # refused once closed: the caller closes it
        other_peer.close()
    finally:
        right.close()
