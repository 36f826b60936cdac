"""Timeouts, lingering close and graceful shutdown of the asyncio driver."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest

from wsgicore import RequestBodyError
from wsgidrivers.asyncio import ServerThread

from .aio_support import (
    BodyReader,
    Environ,
    Recorder,
    StartResponse,
    connect,
    drip,
    exchange_raw,
    get,
    hello_app,
    read_response,
    wait_closed,
)
from .conftest import Starter


def test_idle_keep_alive_connection_is_closed_after_idle_timeout(start_server: Starter) -> None:
    with start_server(hello_app, keep_alive_timeout=0.3) as address, connect(address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        f = sock.makefile("rb")
        assert read_response(f).status == 200
        start = time.monotonic()
        assert f.read() == b""
        assert 0.2 < time.monotonic() - start < 3.0


def test_silent_new_connection_is_closed_after_head_timeout(start_server: Starter) -> None:
    with start_server(hello_app, head_timeout=0.3) as address, connect(address) as sock:
        data, took = wait_closed(sock)
    assert data == b""
    assert 0.2 < took < 3.0


def test_slowloris_head_is_cut_at_the_head_deadline(start_server: Starter) -> None:
    rec = Recorder(hello_app)
    head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 100
    with start_server(rec, head_timeout=0.5, keep_alive_timeout=5.0) as address, connect(address) as sock:
        start = time.monotonic()
        # One byte every 20 ms: each byte arrives well within any idle timeout.
        closed = drip(sock, head, 0.02, give_up=3.0)
        if not closed:
            data, _ = wait_closed(sock)
            assert data == b""
        assert time.monotonic() - start < 3.0
    assert rec.environs == []


def test_stalled_upload_times_out_in_the_app_and_closes(start_server: Starter) -> None:
    reader = BodyReader(b"to")
    with start_server(reader, io_timeout=0.3) as address, connect(address) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab")
        data, took = wait_closed(sock)
        assert data.startswith(b"HTTP/1.1 200 ")
        assert took < 5.0
    (error,) = reader.errors
    # The core turns the driver's TimeoutError into its RequestBodyError (an OSError) with a 408.
    assert isinstance(error, RequestBodyError)
    assert error.status_code == 408
    assert isinstance(error.__cause__, TimeoutError)


def test_error_response_survives_a_client_that_keeps_sending(start_server: Starter) -> None:
    # 431 for a huge head while the client is still sending: the server half-closes and drains
    # (lingering close) instead of resetting, so the client gets to read the 431.
    with start_server(hello_app) as address, connect(address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 70000 + b"\r\n")
        with contextlib.suppress(OSError):
            sock.sendall(b"X-More: " + b"m" * 200000 + b"\r\n\r\n")
        data, _ = wait_closed(sock)
        assert data.startswith(b"HTTP/1.1 431 ")


def test_graceful_shutdown_finishes_in_flight_requests() -> None:
    entered = threading.Event()

    def slow(environ: Environ, start_response: StartResponse) -> list[bytes]:
        entered.set()
        time.sleep(0.5)
        start_response("200 OK", [("Content-Length", "4")])
        return [b"done"]

    server = ServerThread(slow, access_log=None, grace=5.0)
    address = server.start()
    idle = connect(address)
    busy = connect(address)
    try:
        busy.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert entered.wait(5)
        stopper = threading.Thread(target=server.stop)
        started = time.monotonic()
        stopper.start()
        # The idle connection is closed at once...
        assert wait_closed(idle)[0] == b""
        assert time.monotonic() - started < 0.45
        # ...the in-flight request completes, then its connection closes.
        data, _ = wait_closed(busy)
        assert data.startswith(b"HTTP/1.1 200 ")
        assert data.endswith(b"done")
        stopper.join(10)
        assert not stopper.is_alive()
        with pytest.raises(OSError):
            connect(address, timeout=1).close()
    finally:
        idle.close()
        busy.close()


def test_grace_period_expiry_aborts_what_is_left() -> None:
    release = threading.Event()

    def stuck(environ: Environ, start_response: StartResponse) -> list[bytes]:
        release.wait(10)
        start_response("200 OK", [("Content-Length", "0")])
        return []

    server = ServerThread(stuck, access_log=None, grace=0.3)
    address = server.start()
    try:
        with connect(address) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            time.sleep(0.1)
            started = time.monotonic()
            server.stop()
            assert time.monotonic() - started < 3.0
            assert wait_closed(sock)[0] == b""
    finally:
        release.set()


def test_server_keeps_serving_after_a_reset_client(start_server: Starter) -> None:
    with start_server(hello_app) as address:
        sock = connect(address)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
        # SO_LINGER 0: close() sends RST.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
        assert get(address).status == 200
        assert exchange_raw(address, b"") == b""  # EOF before any request: closed silently
