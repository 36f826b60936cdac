"""wsgidrivers.simple_server over real loopback sockets: keep-alive, timeouts, errors, disconnects,
shutdown, IPv6, sendfile. Every test is bounded in time (short timeouts in the server settings)."""

from __future__ import annotations

import gc
import http.client
import json
import os
import signal
import socket
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from support.certs import client_context, server_context
from support.clients import drip, has_ipv6_loopback
from support.servers import running_server, serve_in_thread, serving
from wsgicore import Config
from wsgidrivers import simple_server
from wsgidrivers._common.filecopy import COPY_BLOCK
from wsgidrivers.simple_server import ThreadingWSGIServer, WSGIServer, _socketio, make_server

from .helpers import (
    connect,
    hello_app,
    read_response,
    read_until_close,
    recording_handler,
    request,
)


def peer_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"port": environ["REMOTE_PORT"], "body": len(body),
                        "multithread": environ["wsgi.multithread"]}).encode()]


GET = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"


# -- one request per connection by default; keep-alive as an option ----------------------------

def test_default_is_one_request_per_connection() -> None:
    with serve_in_thread(peer_app) as address, connect(address) as sock:
        sock.sendall(GET + GET)
        data = read_until_close(sock)
    assert data.count(b"HTTP/1.1 200 OK") == 1
    assert b"\r\nConnection: close\r\n" in data


def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    with serve_in_thread(peer_app, keep_alive=True) as address, connect(address) as sock:
        ports = set()
        for _ in range(3):
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
            response = read_response(sock)
            assert response.status == 200
            assert response.getheader("Connection") is None
            ports.add(json.loads(response.read())["port"])
        assert len(ports) == 1


def test_keep_alive_pipelined_requests() -> None:
    with serve_in_thread(peer_app, keep_alive=True) as address, connect(address) as sock:
        sock.sendall(GET * 3 + b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = read_until_close(sock)
    assert data.count(b"HTTP/1.1 200 OK") == 4


def test_idle_keep_alive_connection_does_not_starve_the_next_client() -> None:
    with serve_in_thread(peer_app, keep_alive=True, keep_alive_timeout=0.3) as address, \
            connect(address) as idle:
        idle.sendall(GET)
        assert read_response(idle).status == 200  # ...and now it stays open, idle
        started = time.monotonic()
        status, _, _, _ = request(address)
        assert status == 200
        assert time.monotonic() - started < 3
        assert read_until_close(idle, 3) == b""  # the idle one was closed


def test_threaded_server_keeps_alive_and_serves_concurrently() -> None:
    with running_server("simple_server_threading", peer_app) as address, \
            connect(address) as first, connect(address) as second:
        first.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")  # half a head: holds its thread only
        second.sendall(GET)
        response = read_response(second)
        assert json.loads(response.read())["multithread"] is True
        second.sendall(GET)  # still open: keep-alive is on by default here
        assert read_response(second).status == 200
        first.sendall(b"\r\n")
        assert read_response(first).status == 200


# -- timeouts ------------------------------------------------------------------------------------

@pytest.mark.parametrize("partial", [b"", b"GET / HTTP/1.1\r\nHost: t", b"GET /"])
def test_stalled_client_does_not_block_the_next_beyond_the_head_deadline(partial: bytes) -> None:
    handler = recording_handler()
    server = make_server("127.0.0.1", 0, hello_app, handler_class=handler, head_timeout=0.4)
    with serving(server) as address, connect(address) as slow:
        slow.sendall(partial)
        time.sleep(0.05)  # let the server pick the slow one first
        started = time.monotonic()
        status, _, _, body = request(address)
        elapsed = time.monotonic() - started
        assert (status, body) == (200, b"Hello, world!")
        assert elapsed < 3, elapsed
        answer = read_until_close(slow, 3)
    # Closed: with a 408 when part of a head had arrived (the core's time_out()), else silently.
    if partial:
        assert answer.startswith(b"HTTP/1.1 408 ")
    else:
        assert answer == b""
    assert any("request head not received within 0.4 s" in line for line in handler.log)


def test_dripping_client_is_cut_at_the_head_deadline() -> None:
    # A byte every 50 ms never lets a per-read timeout expire: only the deadline stops it.
    with serve_in_thread(hello_app, head_timeout=0.5) as address, connect(address) as sock:
        started = time.monotonic()
        closed = drip(sock, b"GET / HTTP/1.1\r\n" + b"X: " + b"y" * 200, 0.05, give_up=5)
        if not closed:
            assert read_until_close(sock, 1) == b""
        assert time.monotonic() - started < 3


def test_body_read_timeout_frees_the_server() -> None:
    # The body stops after 3 of 10 bytes: once io_timeout passes, the core answers 408 (RFC 9110
    # §15.5.9) and ends the connection, and the single-threaded server takes the next client.
    handler = recording_handler()
    server = make_server("127.0.0.1", 0, peer_app, handler_class=handler, io_timeout=0.3)
    with serving(server) as address, connect(address) as slow:
        slow.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        time.sleep(0.05)
        started = time.monotonic()
        assert request(address)[0] == 200
        assert time.monotonic() - started < 3
        answer = read_until_close(slow, 3)
    assert answer.startswith(b"HTTP/1.1 408 ")
    # One line about the failure (the core's, in the error stream), no traceback; the access log
    # records the 408 as it records every response.
    errors = handler.errors.getvalue()
    assert "Traceback" not in errors
    (line,) = errors.splitlines()
    assert line.startswith("request body error: reading the request body failed: TimeoutError")
    assert [entry.rsplit(" ", 1)[0] for entry in handler.log] == ['"POST / HTTP/1.1" 408',
                                                                  '"GET / HTTP/1.1" 200']


def test_client_that_stops_reading_is_dropped_after_io_timeout() -> None:
    def big(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        for _ in range(2000):
            yield b"x" * 65536

    _assert_a_stalled_reader_is_dropped(big)


def _assert_a_stalled_reader_is_dropped(app: Any, **settings: Any) -> None:
    """A client that stops reading ``app``'s large response is dropped after io_timeout (one log
    line) and the next client is served."""
    handler = recording_handler()
    server = make_server("127.0.0.1", 0, app, handler_class=handler, io_timeout=0.3, **settings)
    with serving(server) as address, connect(address) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(GET)
        time.sleep(0.05)
        started = time.monotonic()
        assert request(address, path="/next")[0] == 200  # served once the first is dropped
        assert time.monotonic() - started < 5
    assert any("response not completed: client too slow" in line for line in handler.log)


# -- errors --------------------------------------------------------------------------------------

def test_protocol_error_gets_the_cores_response() -> None:
    handler = recording_handler()
    server = make_server("127.0.0.1", 0, hello_app, handler_class=handler)
    with serving(server) as address, connect(address) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n")
        data = read_until_close(sock)
        assert data.startswith(b"HTTP/1.1 400 ")
        assert request(address)[0] == 200  # and the server goes on
    assert any(line.startswith("code 400, message") for line in handler.log)


def test_error_response_reaches_a_client_that_is_still_uploading() -> None:
    # 413 on the declared length, while the client keeps sending: the lingering close makes sure
    # the client reads the 413 instead of a connection reset.
    config = Config(max_body_bytes=1000)
    with serve_in_thread(peer_app, config=config) as address, connect(address) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3000000\r\n\r\n")

        def upload() -> None:
            try:
                for _ in range(40):
                    sock.sendall(b"z" * 65536)
            except OSError:
                pass

        uploader = threading.Thread(target=upload)
        uploader.start()
        try:
            response = read_response(sock)
            assert response.status == 413
        finally:
            uploader.join(10)


def test_app_exception_is_a_500_and_one_traceback() -> None:
    def broken(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise ZeroDivisionError("broken app")

    handler = recording_handler()
    server = make_server("127.0.0.1", 0, broken, handler_class=handler)
    with serving(server) as address:
        status, _, _, _ = request(address)
    assert status == 500
    errors = handler.errors.getvalue()
    assert errors.count("Traceback (most recent call last)") == 1
    assert "ZeroDivisionError: broken app" in errors
    assert handler.log == ['"GET / HTTP/1.1" 500 ' + handler.log[0].rsplit(" ", 1)[1]]


def test_client_disconnect_mid_response_is_one_log_line_and_closes_the_iterable() -> None:
    closed = threading.Event()

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            for _ in range(100000):
                yield b"y" * 65536

        def close(self) -> None:
            closed.set()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [])
        return [b"ok"] if environ["PATH_INFO"] == "/small" else Body()

    handler = recording_handler()
    server = make_server("127.0.0.1", 0, app, handler_class=handler)
    with serving(server) as address:
        sock = connect(address)
        sock.sendall(GET)
        sock.recv(1000)
        # Close with a reset, so the server's next write fails at once.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
        assert closed.wait(10)
        assert request(address, path="/small")[3] == b"ok"
    failures = [line for line in handler.log if "response not completed" in line]
    assert len(failures) == 1
    assert "client disconnected (" in failures[0]
    assert "Traceback" not in handler.errors.getvalue()


# -- stopping ------------------------------------------------------------------------------------

def test_shutdown_from_another_thread_stops_serve_forever() -> None:
    server = make_server("127.0.0.1", 0, hello_app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    assert request(server.server_address[:2])[0] == 200
    started = time.monotonic()
    server.shutdown()
    thread.join(5)
    server.server_close()
    assert not thread.is_alive()
    assert time.monotonic() - started < 2


def test_ctrl_c_stops_serve_forever() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread")
    with make_server("127.0.0.1", 0, hello_app) as server:
        timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                server.serve_forever(poll_interval=0.05)
        finally:
            timer.cancel()
    assert server.socket.fileno() == -1  # closed by the context manager


def test_handle_request_serves_one_connection() -> None:
    with make_server("127.0.0.1", 0, hello_app) as server:
        result: list[Any] = []
        client = threading.Thread(target=lambda: result.append(request(server.server_address[:2])))
        client.start()
        server.timeout = 5
        server.handle_request()
        client.join(5)
    assert result[0][0] == 200


# -- addresses -----------------------------------------------------------------------------------

@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")
@pytest.mark.parametrize("host", ["::1", "::"])
def test_ipv6_host_without_subclassing(host: str) -> None:
    server = make_server(host, 0, peer_app)
    assert server.address_family == socket.AF_INET6
    with serving(server) as (_, port):
        assert request(("::1", port))[0] == 200


def test_no_dns_lookup_at_startup(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*args: Any) -> str:
        raise AssertionError("getfqdn called")

    monkeypatch.setattr(socket, "getfqdn", no_dns)
    with make_server("127.0.0.1", 0, hello_app) as server:
        assert server.server_name == "127.0.0.1"
        assert server.base_environ["SERVER_NAME"] == "127.0.0.1"


# -- file_wrapper --------------------------------------------------------------------------------

def test_file_wrapper_uses_sendfile(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = os.urandom(300000)
    path = tmp_path / "blob"
    path.write_bytes(payload)
    calls: list[Any] = []
    real = socket.socket.sendfile
    real_os = _socketio._os_sendfile

    def spy(self: socket.socket, file: Any, offset: int = 0, count: int | None = None) -> int:
        calls.append((offset, count))
        return real(self, file, offset, count)

    def os_spy(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        calls.append((offset, count))
        assert real_os is not None
        return real_os(out_fd, in_fd, offset, count)

    # Linux: os.sendfile() straight on the blocking socket; elsewhere socket.sendfile().
    monkeypatch.setattr(socket.socket, "sendfile", spy)
    if real_os is not None:
        monkeypatch.setattr(_socketio, "_os_sendfile", os_spy)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](open(path, "rb"))

    with serve_in_thread(app, use_sendfile=True) as address:
        status, _, headers, body = request(address)
    assert (status, body == payload) == (200, True)
    assert calls
    assert calls[0][0] == 0
    assert ("Content-Length", str(len(payload))) in headers
    # By default a loopback client gets the file copied in blocks (no sendfile), same bytes.
    calls.clear()
    with serve_in_thread(app) as address:
        status, _, headers, body = request(address)
    assert (status, body == payload) == (200, True)
    assert calls == []
    assert ("Content-Length", str(len(payload))) in headers


@pytest.mark.parametrize(("use_sendfile", "address", "expected"), [
    (None, ("127.0.0.1", 5000), False), (None, ("127.8.9.10", 5000), False),
    (None, ("::1", 5000, 0, 0), False), (None, ("::ffff:127.0.0.1", 5000, 0, 0), False),
    (None, ("192.0.2.7", 5000), True), (None, ("2001:db8::1", 5000, 0, 0), True),
    (None, ("::ffff:192.0.2.7", 5000, 0, 0), True),
    (True, ("127.0.0.1", 5000), True), (False, ("192.0.2.7", 5000), False),
])
def test_sendfile_except_to_loopback_clients(use_sendfile: bool | None, address: Any,
                                            expected: bool) -> None:
    with make_server("127.0.0.1", 0, hello_app, use_sendfile=use_sendfile) as server:
        assert server.sendfile_for(address) is expected


@pytest.mark.parametrize("use_sendfile", [True, False])
def test_client_that_stops_reading_a_sent_file_is_dropped_after_io_timeout(
        tmp_path: Any, use_sendfile: bool) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * (64 << 20))  # far more than the socket buffers hold
    _assert_a_stalled_reader_is_dropped(_file_app(path), use_sendfile=use_sendfile)


# -- settings ------------------------------------------------------------------------------------

def test_make_server_settings_and_config() -> None:
    config = Config(server_software=None, clock=None)
    with make_server("127.0.0.1", 0, hello_app, config=config, keep_alive=True,
                     head_timeout=1.5) as server:
        assert server.config is config
        assert (server.keep_alive, server.head_timeout) == (True, 1.5)
        assert WSGIServer.keep_alive is False
        assert WSGIServer.head_timeout == 10.0
        with serving(server) as address:
            _, _, headers, _ = request(address)
    names = {name.lower() for name, _ in headers}
    assert "server" not in names
    assert "date" not in names


@pytest.mark.parametrize(("name", "value", "error"), [
    ("head_timeout", 0, ValueError), ("io_timeout", -1, ValueError), ("keep_alive", 1, ValueError),
    ("linger_bytes", 1.5, ValueError), ("keep_alive_timeout", "5", ValueError),
    ("receive_buffer", 100, ValueError), ("receive_buffer", "1M", ValueError),
    ("use_sendfile", 1, ValueError),
    ("no_such_setting", 1, TypeError),
])
def test_make_server_rejects_bad_settings(name: str, value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        make_server("127.0.0.1", 0, hello_app, **{name: value})


def _accepted_receive_buffer(**settings: Any) -> int:
    """SO_RCVBUF of a socket the server accepted."""
    seen: list[int] = []

    class Recording(WSGIServer):
        def process_request(self, request: Any, client_address: Any) -> None:
            seen.append(request.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
            super().process_request(request, client_address)

    server = make_server("127.0.0.1", 0, hello_app, server_class=Recording, **settings)
    with serving(server) as address:
        assert request(address)[0] == 200
    return seen[0]


def test_receive_buffer_is_passed_on_to_accepted_sockets() -> None:
    assert WSGIServer.receive_buffer == 256 * 1024
    with socket.socket() as fresh:
        os_default = fresh.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    # Linux reports twice the value asked for (the other half is its bookkeeping), capped by
    # net.core.rmem_max; either way more than the OS default here.
    bigger = _accepted_receive_buffer()
    assert bigger > os_default
    assert bigger >= min(256 * 1024, _rmem_max())
    assert _accepted_receive_buffer(receive_buffer=None) == os_default
    assert _accepted_receive_buffer(receive_buffer=65536) < bigger


@pytest.mark.parametrize(("receive_buffer", "address", "expected"), [
    (262144, ("127.0.0.1", 5000), 262144), (262144, ("::1", 5000, 0, 0), 262144),
    (262144, ("192.0.2.7", 5000), None), (262144, ("2001:db8::1", 5000, 0, 0), None),
    (None, ("127.0.0.1", 5000), None), (65536, ("127.0.0.1", 5000), 65536),
])
def test_receive_buffer_only_for_loopback_clients(receive_buffer: int | None, address: Any,
                                                  expected: int | None) -> None:
    # Remote clients keep the kernel's autotuning, which a fixed SO_RCVBUF would switch off.
    with make_server("127.0.0.1", 0, hello_app, receive_buffer=receive_buffer) as server:
        assert server.receive_buffer_for(address) == expected


def _rmem_max() -> int:
    try:
        with open("/proc/sys/net/core/rmem_max") as f:
            return int(f.read())
    except OSError:
        return 256 * 1024


def test_make_server_applies_settings_before_binding() -> None:
    # The listening socket's options come from the settings (accepted sockets inherit them).
    with make_server("127.0.0.1", 0, hello_app, head_timeout=2.5, io_timeout=7.0) as server:
        if _socketio.KERNEL_TIMEOUTS:
            assert server.inherited_timeouts == (2.5, 7.0)
        with serving(server) as address:
            assert request(address)[0] == 200


def test_subclass_sets_its_own_config_and_policy() -> None:
    class Quiet(ThreadingWSGIServer):
        config = Config(server_software="custom/1", clock=None)
        keep_alive = False

    with serve_in_thread(peer_app, server_class=Quiet) as address:
        _status, _, headers, body = request(address)
    assert ("Server", "custom/1") in headers
    assert ("Connection", "close") in headers
    assert json.loads(body)["multithread"] is True
    assert simple_server.WSGIServer.config.server_software == simple_server.software_version


def _file_app(path: Any) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](open(path, "rb"))

    return app


@pytest.mark.parametrize("use_sendfile", [True, False])
def test_file_wrapper_over_tls_is_encrypted(tmp_path: Any, use_sendfile: bool) -> None:
    # A subclass that wraps accepted sockets in TLS (http.server's HTTPS recipe): the file must go
    # through the SSL socket, never to the descriptor underneath (os.sendfile would send plaintext).
    context = server_context(tmp_path)

    class TLSServer(WSGIServer):
        def get_request(self) -> Any:
            sock, address = super().get_request()
            return context.wrap_socket(sock, server_side=True), address

    payload = os.urandom(300000)
    path = tmp_path / "blob"
    path.write_bytes(payload)
    server = make_server("127.0.0.1", 0, _file_app(path), server_class=TLSServer,
                         use_sendfile=use_sendfile)
    client = client_context()
    with serving(server) as address:
        conn = http.client.HTTPSConnection(address[0], address[1], timeout=10,
                                           context=client)
        try:
            conn.request("GET", "/")
            response = conn.getresponse()
            assert (response.status, response.read() == payload) == (200, True)
        finally:
            conn.close()


def test_file_wrapper_copy_without_pread(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Windows has neither os.preadv nor os.pread: the copy falls back to seek + readinto.
    monkeypatch.delattr(os, "preadv", raising=False)
    monkeypatch.delattr(os, "pread", raising=False)
    payload = os.urandom(COPY_BLOCK + 600000)  # more than one copy block
    path = tmp_path / "blob"
    path.write_bytes(payload)
    with serve_in_thread(_file_app(path), use_sendfile=False) as address:
        status, _, headers, body = request(address)
    assert (status, body == payload) == (200, True)
    assert ("Content-Length", str(len(payload))) in headers


@pytest.mark.parametrize("direct", [True, False])
def test_copy_file_buffer_grows_with_the_file(tmp_path: Any, direct: bool) -> None:
    # One buffer per connection, sized for the largest file so far (at most COPY_BLOCK): a small
    # file, then one of several blocks, then a small one again all arrive whole, in order.
    sizes = [1000, 2 * COPY_BLOCK + 12345, 5000]
    files = []
    for i, size in enumerate(sizes):
        path = tmp_path / f"f{i}"
        path.write_bytes(os.urandom(size))
        files.append(path)
    ours, theirs = socket.socketpair()
    received = bytearray()

    def drain() -> None:
        while len(received) < sum(sizes):
            data = theirs.recv(1 << 20)
            if not data:
                return
            received.extend(data)

    reader = threading.Thread(target=drain)
    reader.start()
    rfile = None if direct else ours.makefile("rb")
    wfile = None if direct else ours.makefile("wb")
    try:
        channel = _socketio.SocketIO(rfile, wfile, ours, direct=direct)
        for path, size in zip(files, sizes, strict=True):
            with open(path, "rb") as file:
                assert channel.copy_file(file, 0, size, 5.0) == size
        reader.join(10)
        # grown once for the large file, never past COPY_BLOCK, kept for the small one after it
        assert len(channel._copy_buffer or b"") == COPY_BLOCK
    finally:
        for f in (rfile, wfile):
            if f is not None:
                f.close()
        ours.close()
        theirs.close()
    assert bytes(received) == b"".join(path.read_bytes() for path in files)


def test_a_connection_is_freed_when_it_ends_without_a_garbage_collection() -> None:
    """The handler, its ServerHandler and the channel keep references to each other (and bound
    methods of their own) while the connection is served; when it ends they drop them, so the
    core's Connection goes by reference counting, not at some later collection of cycles."""
    served: list[weakref.ref[Any]] = []

    class Recording(simple_server.WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self, connection: Any, channel: Any) -> Any:
            served.append(weakref.ref(connection))
            return super()._serve(connection, channel)

    server = make_server("127.0.0.1", 0, hello_app, handler_class=Recording, keep_alive=True)
    ours, client = socket.socketpair()
    enabled = gc.isenabled()
    gc.disable()
    try:
        client.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n" * 2)
        client.shutdown(socket.SHUT_WR)
        server.finish_request(ours, ("127.0.0.1", 5555))
        server.shutdown_request(ours)
        assert read_until_close(client).count(b"HTTP/1.1 200 OK") == 2
        assert len(served) == 1
        assert served[0]() is None
    finally:
        if enabled:
            gc.enable()
        client.close()
        server.server_close()
