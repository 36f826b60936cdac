"""Slow and greedy clients over real sockets, with short driver deadlines so the suite stays fast.

Each misbehaving client must be cut off by the documented limit or deadline (head deadline, read/write
timeout, ``max_body_bytes``), and a well-behaved client that arrives meanwhile must be served within
that deadline, whatever the driver's threading policy. Memory stays bounded (tracemalloc peak).
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from . import _servers
from ._util import parse_responses, rss_bytes, send_raw, wait_until

pytest.importorskip("wsgicore")
pytestmark = [
    pytest.mark.skipif(not _servers.available(), reason=_servers.skip_reason()),
    pytest.mark.slow,
]

HEAD_DEADLINE = 1.5  # whole head must arrive within this
IO_TIMEOUT = 1.0  # one recv/send may wait this long
IDLE_TIMEOUT = 1.0  # keep-alive idle
SLACK = 1.5  # scheduling slack on a loaded 2-core CI machine
SETTINGS: dict[str, Any] = {"head_timeout": HEAD_DEADLINE, "io_timeout": IO_TIMEOUT,
            "keep_alive_timeout": IDLE_TIMEOUT, "keep_alive": True}
GOOD = b"GET /good HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"


class App:
    """Serves ``/good``; ``/big`` streams ``big_chunks`` x 64 KiB lazily; ``/upload`` reads the body."""

    def __init__(self) -> None:
        self.produced = 0
        self.closes = 0
        self.upload_errors: list[BaseException] = []
        self.big_chunks = 1024  # 64 MiB

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ["PATH_INFO"]
        if path == "/big":
            start_response("200 OK", [("Content-Length", str(self.big_chunks * 65536))])
            return _Stream(self)
        if path == "/upload":
            try:
                body = environ["wsgi.input"].read()
            except OSError as exc:
                self.upload_errors.append(exc)
                raise
            start_response("200 OK", [("Content-Length", str(len(str(len(body)))))])
            return [str(len(body)).encode()]
        body = b"ok " + path.encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]


class _Stream:
    def __init__(self, app: App) -> None:
        self.app = app

    def __iter__(self) -> Iterator[bytes]:
        chunk = b"x" * 65536
        for _ in range(self.app.big_chunks):
            self.app.produced += len(chunk)
            yield chunk

    def close(self) -> None:
        self.app.closes += 1


@pytest.fixture(params=_servers.DRIVERS)
def server(request: pytest.FixtureRequest) -> Iterator[tuple[tuple[str, int], App]]:
    app = App()
    with _servers.serve(app, {"max_body_bytes": 1 << 20}, driver=request.param,
                        **SETTINGS) as addr:
        yield addr, app


def _good_client_latency(addr: tuple[str, int]) -> float:
    """Seconds a well-behaved client waits for its complete 200."""
    result = send_raw(addr, [GOOD], half_close=False, timeout=HEAD_DEADLINE + IO_TIMEOUT + 2 * SLACK)
    statuses = [r.status for r in parse_responses(result.data).responses]
    if statuses != [200]:
        return float("inf")
    return result.elapsed


class _Background:
    """A well-behaved client started ``delay`` seconds from now in a thread; ``latency()`` joins it."""

    def __init__(self, addr: tuple[str, int], delay: float) -> None:
        self.result = float("inf")
        self.thread = threading.Thread(target=self._run, args=(addr, delay), daemon=True)
        self.thread.start()

    def _run(self, addr: tuple[str, int], delay: float) -> None:
        time.sleep(delay)
        self.result = _good_client_latency(addr)

    def latency(self) -> float:
        self.thread.join(HEAD_DEADLINE + IO_TIMEOUT + 3 * SLACK)
        return self.result


def _read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float, bool]:
    """Read until EOF/reset or ``limit`` seconds; (data, seconds, closed)."""
    start = time.monotonic()
    data = bytearray()
    while time.monotonic() - start < limit:
        sock.settimeout(max(0.01, limit - (time.monotonic() - start)))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return bytes(data), time.monotonic() - start, True
        if not chunk:
            return bytes(data), time.monotonic() - start, True
        data += chunk
    return bytes(data), time.monotonic() - start, False


def _cut_response_ok(data: bytes, status: int | None) -> bool:
    """A client cut off by a deadline gets what the core decides, from every driver alike: nothing
    (``status`` None: nothing of a request had arrived), or exactly one response with ``status``."""
    if status is None:
        return data == b""
    finals = [r for r in parse_responses(data).responses if r.status >= 200]
    return [r.status for r in finals] == [status]


def test_slowloris_head_is_cut_at_the_head_deadline(server: Any) -> None:
    addr, _app = server
    with socket.create_connection(addr) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: example.com\r\n")
        start = time.monotonic()
        good = _Background(addr, 0.2)
        cut = False
        # One header byte every 0.3 s: faster than the per-read timeout, so only the *head deadline*
        # can stop it. Bounded: at most 40 bytes / 12 s.
        for byte in (b"X-Slow: " + b"a" * 32)[:40]:
            try:
                sock.send(bytes([byte]))
            except OSError:
                cut = True
                break
            readable, _, _ = select.select([sock], [], [], 0.3)
            if readable or time.monotonic() - start > HEAD_DEADLINE + SLACK + 10:
                break
        data, _, closed = _read_until_closed(sock, HEAD_DEADLINE + SLACK)
        elapsed = time.monotonic() - start
    assert cut or closed, "the slowloris connection was never cut"
    assert elapsed < HEAD_DEADLINE + 2 * SLACK, f"cut after {elapsed:.2f}s"
    assert _cut_response_ok(data, 408), data[:200]  # part of a head had arrived (RFC 9110 §15.5.9)
    assert good.latency() < HEAD_DEADLINE + SLACK, good.result


def test_connection_that_sends_nothing_is_closed(server: Any) -> None:
    addr, _app = server
    with socket.create_connection(addr) as sock:
        start = time.monotonic()
        good = _Background(addr, 0.2)
        data, elapsed, closed = _read_until_closed(sock, HEAD_DEADLINE + 2 * SLACK)
    assert closed, "an idle connection was kept open past the head/idle deadline"
    assert elapsed < max(HEAD_DEADLINE, IDLE_TIMEOUT) + SLACK, elapsed
    assert _cut_response_ok(data, None), data[:200]
    assert good.latency() < HEAD_DEADLINE + SLACK, (good.result, time.monotonic() - start)


def test_trickled_body_is_cut_by_the_read_timeout(server: Any,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    addr, _app = server
    with socket.create_connection(addr) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: 100\r\n\r\nab")
        start = time.monotonic()
        good = _Background(addr, 0.2)
        # Next byte only after longer than the read timeout: the server must give up on us.
        readable, _, _ = select.select([sock], [], [], IO_TIMEOUT + 0.8)
        with contextlib.suppress(OSError):
            if not readable:
                sock.sendall(b"c")
        data, _, closed = _read_until_closed(sock, IO_TIMEOUT + 2 * SLACK)
        elapsed = time.monotonic() - start
    assert closed, "a trickled body was waited for past the read timeout"
    assert elapsed < IO_TIMEOUT + 0.8 + 2 * SLACK, elapsed
    assert _cut_response_ok(data, 408), data[:200]  # the body read timed out
    assert not [r for r in parse_responses(data).responses if r.status == 200]
    assert good.latency() < IO_TIMEOUT + SLACK, good.result
    log = capsys.readouterr().err
    assert "Traceback" not in log, f"a slow client is not an application error:\n{log[-2000:]}"


def test_client_that_never_reads_is_cut_by_the_write_timeout(server: Any) -> None:
    addr, app = server
    tracemalloc.start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(addr)
            sock.sendall(b"GET /big HTTP/1.1\r\nHost: example.com\r\n\r\n")
            # Never read. The server's send buffer fills; its write timeout must fire.
            stalled = wait_until(lambda: app.closes == 1, IO_TIMEOUT + 5 * SLACK, 0.05)
            latency = _good_client_latency(addr)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stalled, f"close() not called: the server still writes ({app.produced} bytes produced)"
    assert app.produced < app.big_chunks * 65536, "the whole 64 MiB was produced for a stalled client"
    assert latency < IO_TIMEOUT + SLACK, latency
    assert peak < 16 << 20, f"tracemalloc peak {peak} bytes"


def test_ten_thousand_pipelined_requests_in_one_write(server: Any) -> None:
    addr, _app = server
    count = 10_000
    payload = b"".join(b"GET /p%d HTTP/1.1\r\nHost: example.com\r\n\r\n" % i for i in range(count))
    payload += b"GET /last HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"
    rss_before = rss_bytes()
    with socket.create_connection(addr) as sock:
        errors: list[BaseException] = []

        def writer() -> None:
            try:
                sock.sendall(payload)
            except OSError as exc:  # reported below
                errors.append(exc)

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        data, elapsed, closed = _read_until_closed(sock, 60.0)
        thread.join(5)
    parsed = parse_responses(data)
    assert not errors, errors
    assert closed, (closed, elapsed)
    assert parsed.error is None
    assert not parsed.rest
    bodies = [r.body for r in parsed.responses]
    assert len(bodies) == count + 1, len(bodies)
    assert bodies[:3] == [b"ok /p0", b"ok /p1", b"ok /p2"]
    assert bodies[-2:] == [b"ok /p%d" % (count - 1), b"ok /last"]
    assert all(r.status == 200 for r in parsed.responses)
    assert rss_bytes() - rss_before < 64 << 20


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_one_gib_body_over_the_limit_is_cut_off(server: Any, framing: str) -> None:
    addr, _app = server
    gib = 1 << 30
    if framing == "content-length":
        head = b"POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: %d\r\n\r\n" % gib
        block = b"x" * 65536
    else:
        head = b"POST /upload HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
        block = b"ffff\r\n" + b"x" * 0xFFFF + b"\r\n"
    sent = 0
    cut = False
    start = time.monotonic()
    tracemalloc.start()
    try:
        with socket.create_connection(addr) as sock:
            sock.sendall(head)
            sock.setblocking(False)
            # Send until the server answers or stops reading; never more than 1 GiB or 30 s.
            while sent < gib and time.monotonic() - start < 30:
                readable, writable, _ = select.select([sock], [sock], [], 1.0)
                if readable:
                    break
                if not writable:
                    if time.monotonic() - start > 2 * (IO_TIMEOUT + SLACK):
                        break
                    continue
                try:
                    sent += sock.send(block)
                except BlockingIOError:
                    continue
                except OSError:
                    cut = True
                    break
            sock.setblocking(True)
            data, _, closed = _read_until_closed(sock, IO_TIMEOUT + 2 * SLACK)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    finals = [r for r in parse_responses(data).responses if r.status >= 200]
    assert sent < 64 << 20, f"{sent} bytes accepted before the cut"
    assert [r.status for r in finals] == [413], (data[:300], cut, closed, sent)
    assert closed
    assert peak < 16 << 20, f"tracemalloc peak {peak} bytes"
    assert _good_client_latency(addr) < IO_TIMEOUT + SLACK


def test_idle_keep_alive_connection_is_closed(server: Any) -> None:
    """After a response on a kept-alive connection, a client that sends nothing more is closed after
    the keep-alive idle timeout (and meanwhile a new client is served)."""
    addr, _app = server
    with socket.create_connection(addr) as sock:
        sock.sendall(b"GET /first HTTP/1.1\r\nHost: example.com\r\n\r\n")
        sock.settimeout(5)
        data = b""
        while b"ok /first" not in data:
            chunk = sock.recv(65536)
            assert chunk, "closed before the first response"
            data += chunk
        start = time.monotonic()
        good = _Background(addr, 0.1)
        rest, elapsed, closed = _read_until_closed(sock, IDLE_TIMEOUT + 2 * SLACK)
    assert [r.status for r in parse_responses(data).responses] == [200]
    assert closed, "an idle kept-alive connection was never closed"
    assert elapsed < IDLE_TIMEOUT + SLACK, elapsed
    assert _cut_response_ok(rest, None), rest[:200]
    assert good.latency() < IDLE_TIMEOUT + SLACK, (good.result, time.monotonic() - start)
