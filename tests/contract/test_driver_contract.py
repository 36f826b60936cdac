"""One contract, every driver: where the protocol decides, every driver sends *the same bytes*.

Each case is run against ``simple_server``, ``simple_server_threading`` and ``asyncio`` over real
loopback sockets and, where no socket or clock is involved, ``memory.exchange``; the expected bytes
are written out here, so no driver is the reference for another. (Before issue 11 the asyncio driver
closed silently where simple_server sent a 408, sent ``Date`` under a clockless Config, served only
IPv6 on ``::`` and failed on a Unix socket's address.)
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import io
import re
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from support.clients import connect, has_ipv6_loopback, read_until_close, wait_closed
from wsgicore import SERVER_SOFTWARE, Config

from ._drivers import CONFIG, SOCKET_DRIVERS, serve

ALL_DRIVERS = (*SOCKET_DRIVERS, "memory")

Environ = dict[str, Any]


def hello_app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def echo_app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"got:" + body]


def failing_app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
    raise RuntimeError("the contract's failing app")


def two_pieces_app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hel", b"lo"]  # no Content-Length: the length is unknown when the head goes out


def remote_app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
    # environ[...], not .get(): a missing key must fail as it fails an app (waitress' suite did).
    body = f"{environ['REMOTE_ADDR']}|{environ['REMOTE_HOST']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
GET_CLOSE = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
OK = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
      b"Server: contract/1\r\n\r\nhello")
OK_CLOSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
            b"Connection: close\r\nServer: contract/1\r\n\r\nhello")
GET10 = b"GET / HTTP/1.0\r\n\r\n"
GET10_KA = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
OK_KA = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
         b"Connection: Keep-Alive\r\nServer: contract/1\r\n\r\nhello")
UNKNOWN_LENGTH_CLOSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                        b"Server: contract/1\r\n\r\nhello")
REMOTE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 19\r\n"
          b"Connection: close\r\nServer: contract/1\r\n\r\n127.0.0.1|127.0.0.1")
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
EXPECT_HEAD = (b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n"
               b"Connection: close\r\n\r\n")
ECHOED = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n"
          b"Connection: close\r\nServer: contract/1\r\n\r\ngot:abcde")
NO_HOST_400 = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
               b"Content-Length: 63\r\nConnection: close\r\nServer: contract/1\r\n\r\n"
               b"400 Bad Request\nHTTP/1.1 request without Host (RFC 9112 \xc2\xa73.2)\n")
APP_500 = (b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Length: 69\r\nConnection: close\r\nServer: contract/1\r\n\r\n"
           b"500 Internal Server Error\nThe server could not complete the request.\n")
TIMEOUT_408 = (b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n"
               b"Content-Length: 60\r\nConnection: close\r\nServer: contract/1\r\n\r\n"
               b"408 Request Timeout\nthe request head did not arrive in time\n")
_DATE = re.compile(rb"Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n")
TOO_LARGE_413 = (b"HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 b"Content-Length: 64\r\nConnection: close\r\nServer: " + SERVER_SOFTWARE.encode()
                 + b"\r\n\r\n"
                 b"413 Content Too Large\nContent-Length larger than max_body_bytes\n")


def _exchange(driver: str, app: Any, pieces: list[bytes], config: Any = CONFIG,
              **settings: Any) -> bytes:
    """Send ``pieces`` (waiting for a ``100 Continue`` after a head that expects one) and read
    until the server closes; for ``memory``, the same pieces through ``exchange``."""
    if driver == "memory":
        from wsgidrivers.memory import exchange

        return exchange(app, pieces, config=config, errors=io.StringIO())
    with serve(driver, app, config=config, **settings) as running, \
            connect(running.address) as sock:
        got = b""
        for piece in pieces:
            sock.sendall(piece)
            if b"100-continue" in piece:
                got += _read_exactly(sock, len(CONTINUE))
        return got + read_until_close(sock)


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        more = sock.recv(size - len(data))
        if not more:
            break
        data += more
    return data


# -- what the protocol decides: the same bytes from every driver -------------------------------

CASES: list[tuple[str, Any, list[bytes], bytes]] = [
    ("keep-alive, pipelined, then Connection: close", hello_app, [GET + GET_CLOSE], OK + OK_CLOSE),
    ("100-continue before the body is read", echo_app, [EXPECT_HEAD, b"abcde"], CONTINUE + ECHOED),
    ("a bad request: 400 and close", hello_app, [b"GET / HTTP/1.1\r\n\r\n"], NO_HOST_400),
    ("an app error before its headers: 500 and close", failing_app, [GET], APP_500),
    # Issue 24 item 2 (RFC 9112 §9.3): HTTP/1.0 persists with "keep-alive" and a known length.
    ("HTTP/1.0 keep-alive, pipelined, then HTTP/1.0 without it", hello_app,
     [GET10_KA * 3 + GET10], OK_KA * 3 + OK_CLOSE),
    ("25 pipelined HTTP/1.0 keep-alive requests (waitress' suite)", hello_app,
     [GET10_KA * 25 + GET10], OK_KA * 25 + OK_CLOSE),
    ("HTTP/1.0 keep-alive heads split across sends", hello_app,
     [GET10_KA, GET10_KA[:9], GET10_KA[9:], GET10], OK_KA * 2 + OK_CLOSE),
    ("HTTP/1.0 keep-alive with an unknown length: close", two_pieces_app,
     [GET10_KA + GET10_KA], UNKNOWN_LENGTH_CLOSE),
    ("HTTP/1.0 without keep-alive: close", hello_app, [GET10 + GET10_KA], OK_CLOSE),
    # Issue 24 item 1 (RFC 3875 §4.1.9): REMOTE_HOST is the client's address, no lookup.
    ("REMOTE_HOST beside REMOTE_ADDR", remote_app, [GET_CLOSE], REMOTE),
]


@pytest.mark.parametrize("driver", ALL_DRIVERS)
@pytest.mark.parametrize(("name", "app", "pieces", "expected"), CASES, ids=[c[0] for c in CASES])
def test_the_same_bytes_from_every_driver(driver: str, name: str, app: Any, pieces: list[bytes],
                                          expected: bytes) -> None:
    assert _exchange(driver, app, pieces) == expected


@pytest.mark.parametrize("driver", ALL_DRIVERS)
def test_the_same_config_gives_the_same_headers(driver: str) -> None:
    # A Config with clock=None means no Date, from every driver (asyncio used to add one), and its
    # server_software is the Server header everywhere.
    request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n" + b"a" * 20
    config = Config(max_body_bytes=10, clock=None)
    assert _exchange(driver, echo_app, [request], config=config) == TOO_LARGE_413


@pytest.mark.parametrize("driver", ALL_DRIVERS)
def test_a_config_given_to_set_a_limit_keeps_date(driver: str) -> None:
    # Issue 24 item 5: Config.clock defaults to the driver's clock; setting a limit never switches
    # Date off (RFC 9110 §6.6.1: an origin server with a clock MUST send it).
    request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n" + b"a" * 20
    response = _exchange(driver, echo_app, [request], config=Config(max_body_bytes=10))
    assert _DATE.search(response) is not None, response
    assert _DATE.sub(b"", response) == TOO_LARGE_413
    ok = _exchange(driver, hello_app, [GET_CLOSE], config=Config(max_body_bytes=10))
    assert _DATE.search(ok) is not None, ok


@pytest.mark.parametrize("driver", ALL_DRIVERS)
def test_without_a_config_every_driver_sends_date_and_the_same_server(driver: str) -> None:
    response = _exchange(driver, hello_app, [GET_CLOSE], config=None)
    head = response.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    fields = dict(line.split(b": ", 1) for line in head[1:])
    assert fields[b"Server"] == SERVER_SOFTWARE.encode()
    assert fields[b"Date"].endswith(b" GMT")  # RFC 9110 §6.6.1: an origin server with a clock


def test_keep_alive_off_closes_http10_keep_alive_too() -> None:
    # WSGIServer's default (wsgiref's): no persistent connections, HTTP/1.0 keep-alive included;
    # the one switch is the core's ConnectionState.
    assert _exchange("simple_server", hello_app, [GET10_KA + GET10_KA], keep_alive=False) == OK_CLOSE
    assert _exchange("asyncio", hello_app, [GET10_KA + GET10_KA], keep_alive=False) == OK_CLOSE


# -- deadlines: the core decides what each one sends ------------------------------------------
# Each case runs on every socket driver at once (a thread each): the waits overlap, so the table
# costs one deadline, not three.

def _on_every_driver(case: Callable[[str], bytes]) -> dict[str, bytes]:
    with concurrent.futures.ThreadPoolExecutor(len(SOCKET_DRIVERS)) as pool:
        futures = {driver: pool.submit(case, driver) for driver in SOCKET_DRIVERS}
        return {driver: future.result(30.0) for driver, future in futures.items()}


def test_a_silent_client_is_closed_without_an_answer() -> None:
    def case(driver: str) -> bytes:
        with serve(driver, hello_app, head_timeout=0.3) as running, \
                connect(running.address) as sock:
            return read_until_close(sock)

    assert _on_every_driver(case) == dict.fromkeys(SOCKET_DRIVERS, b"")


def test_an_idle_kept_alive_connection_is_closed_without_an_answer() -> None:
    def case(driver: str) -> bytes:
        with serve(driver, hello_app, keep_alive_timeout=0.3) as running, \
                connect(running.address) as sock:
            sock.sendall(GET)
            return read_until_close(sock)

    assert _on_every_driver(case) == dict.fromkeys(SOCKET_DRIVERS, OK)


def test_a_partial_head_gets_408_at_the_head_deadline_counted_from_the_accept() -> None:
    # 0.7 s silent, then half a head, then 0.6 s more: 1.3 s after the accept (> 1 s), but only
    # 0.6 s after the first byte. The deadline is the whole head's, from the accept, and part of
    # a head had arrived: the core's 408 (RFC 9110 §15.5.9), from every driver.
    def case(driver: str) -> bytes:
        with serve(driver, hello_app, head_timeout=1.0) as running, \
                connect(running.address) as sock:
            threading.Event().wait(0.7)
            sock.sendall(b"GET / HTTP/1.1\r\n")
            threading.Event().wait(0.6)
            with contextlib.suppress(OSError):  # already closed: what it sent is read below
                sock.sendall(b"Host: x\r\nConnection: close\r\n\r\n")
            return read_until_close(sock)

    assert _on_every_driver(case) == dict.fromkeys(SOCKET_DRIVERS, TIMEOUT_408)


# -- shutdown ----------------------------------------------------------------------------------

@pytest.mark.parametrize("driver", SOCKET_DRIVERS)
def test_shutdown_lets_the_request_in_progress_finish_then_closes(driver: str) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow_app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        entered.set()
        release.wait(10.0)
        return hello_app(environ, start_response)

    with serve(driver, slow_app) as running, connect(running.address) as sock:
        sock.sendall(GET)  # keep-alive: only the shutdown ends this connection
        assert entered.wait(10.0)
        stopper = threading.Thread(target=running.stop, daemon=True)
        stopper.start()
        threading.Event().wait(0.2)  # the shutdown has begun while the app runs
        release.set()
        data, _ = wait_closed(sock, 8.0)
        sock.close()  # the client's close ends the server's lingering close: no linger_timeout wait
        stopper.join(10.0)
    assert data == OK


@pytest.mark.parametrize("driver", SOCKET_DRIVERS)
def test_shutdown_still_answers_a_request_already_received(driver: str) -> None:
    # Pipelined behind the request in progress: answered, with Connection: close, then closed
    # (the asyncio driver used to close without answering it).
    entered, release = threading.Event(), threading.Event()

    def slow_app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/slow":
            entered.set()
            release.wait(10.0)
        return hello_app(environ, start_response)

    with serve(driver, slow_app) as running, connect(running.address) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n" + GET)
        assert entered.wait(10.0)
        stopper = threading.Thread(target=running.stop, daemon=True)
        stopper.start()
        threading.Event().wait(0.2)  # the shutdown has begun while the app runs
        release.set()
        data, _ = wait_closed(sock, 8.0)
        sock.close()  # the client's close ends the server's lingering close: no linger_timeout wait
        stopper.join(10.0)
    assert data == OK + OK_CLOSE


# -- addresses ---------------------------------------------------------------------------------

@pytest.mark.skipif(not (socket.has_dualstack_ipv6() and has_ipv6_loopback()),
                    reason="no dual-stack IPv6 on this machine")
@pytest.mark.parametrize("driver", SOCKET_DRIVERS)
def test_all_addresses_means_ipv6_and_ipv4(driver: str) -> None:
    with serve(driver, hello_app, host="::") as running:
        port = running.address[1]
        for host in ("::1", "127.0.0.1"):
            with socket.create_connection((host, port), timeout=10.0) as sock:
                sock.sendall(GET_CLOSE)
                assert read_until_close(sock) == OK_CLOSE, host


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX") or sys.platform == "win32",
                    reason="no Unix sockets")
def test_asyncio_serves_a_unix_socket(tmp_path: Any) -> None:
    # simple_server is TCP only, as wsgiref; the asyncio driver serves any stream socket.
    path = str(tmp_path / "s")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    with serve("asyncio", hello_app, sock=listener) as running:
        assert running.address == path
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(10.0)
            sock.connect(path)
            sock.sendall(GET_CLOSE)
            assert read_until_close(sock) == OK_CLOSE


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX") or sys.platform == "win32",
                    reason="no Unix sockets")
def test_a_unix_socket_peer_has_an_empty_address(tmp_path: Any) -> None:
    # No network address: REMOTE_ADDR and REMOTE_HOST are "" (as gunicorn's workers), never missing.
    path = str(tmp_path / "s")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    with serve("asyncio", remote_app, sock=listener), socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10.0)
        sock.connect(path)
        sock.sendall(GET_CLOSE)
        assert read_until_close(sock).endswith(b"\r\n\r\n|")
