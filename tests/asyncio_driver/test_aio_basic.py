"""The asyncio driver serves HTTP/1.1 correctly: keep-alive, pipelining, bodies, errors, the CLI."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from wsgiref.validate import validator

import pytest

from support.clients import has_ipv6_loopback
from wsgidrivers._common.filecopy import COPY_BLOCK

from .aio_support import (
    Environ,
    Recorder,
    StartResponse,
    StreamingBody,
    connect,
    echo_app,
    exchange_raw,
    get,
    hello_app,
    read_response,
    request,
    wait_closed,
)
from .conftest import LogSink, Starter

ROOT = Path(__file__).resolve().parents[2]


def test_keep_alive_serves_several_requests_on_one_connection(start_server: Starter) -> None:
    rec = Recorder(hello_app)
    with start_server(rec) as address, connect(address) as sock:
        f = sock.makefile("rb")
        for i in range(3):
            sock.sendall(f"GET /r{i} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
            resp = read_response(f)
            assert resp.status == 200
            assert resp.body == f"Hello, /r{i}".encode()
            assert "close" not in resp.headers.get("connection", "")
    assert len({e["REMOTE_PORT"] for e in rec.environs}) == 1


def test_environ_is_pep3333_and_multithread(start_server: Starter) -> None:
    rec = Recorder(hello_app)
    with start_server(validator(rec)) as address:
        assert get(address, "/x?y=1").status == 200
        environ = rec.environs[0]
        assert environ["wsgi.multithread"] is True
        assert environ["wsgi.multiprocess"] is False
        assert environ["wsgi.run_once"] is False
        assert environ["REMOTE_ADDR"] == "127.0.0.1"
        assert environ["SERVER_PORT"] == str(address[1])
        assert environ["QUERY_STRING"] == "y=1"


def test_date_header_is_sent(start_server: Starter) -> None:
    with start_server(hello_app) as address:
        resp = get(address)
    assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", resp.headers["date"])


def test_access_log_has_wsgiref_format(start_server: Starter, access_log: LogSink) -> None:
    with start_server(hello_app) as address:
        get(address, "/a%20b?q=1")
        for _ in range(100):
            if access_log.lines:
                break
            time.sleep(0.01)
    (line,) = access_log.lines
    assert re.fullmatch(
        r'127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4} \d\d:\d\d:\d\d\] '
        r'"GET /a%20b\?q=1 HTTP/1\.1" 200 11\n',
        line,
    ), line


def test_access_log_escapes_control_characters() -> None:
    from wsgidrivers._common.accesslog import format_access_line

    line = format_access_line("::1", "GET /\x1b[31m HTTP/1.1", 200, 5, when=0.0)
    assert "\x1b" not in line
    assert '"GET /\\x1b[31m HTTP/1.1" 200 5\n' in line


def test_post_bodies_content_length_and_chunked(start_server: Starter) -> None:
    with start_server(echo_app) as address:
        body = os.urandom(300_000)
        raw = (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
        assert request(address, raw)[0].body == body
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:7], body[7:100000]))
        raw = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked
        assert request(address, raw + b"0\r\n\r\n")[0].body == body[:100000]


def test_expect_100_continue_is_sent_before_the_body(start_server: Starter) -> None:
    with start_server(echo_app) as address, connect(address) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                     b"Content-Length: 5\r\n\r\n")
        f = sock.makefile("rb")
        assert f.readline().startswith(b"HTTP/1.1 100 ")
        assert f.readline() == b"\r\n"
        sock.sendall(b"hello")
        assert read_response(f).body == b"hello"


def test_pipelined_requests_are_answered_in_order(start_server: Starter) -> None:
    def slow_first(environ: Environ, start_response: StartResponse) -> list[bytes]:
        n = int(environ["PATH_INFO"][1:])
        time.sleep(0.05 * (5 - n))  # the first request takes longest
        start_response("200 OK", [("Content-Length", str(len(str(n))))])
        return [str(n).encode()]

    raw = b"".join(b"GET /%d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in range(5))
    with start_server(slow_first, max_workers=4) as address:
        responses = request(address, raw, count=5)
    assert [r.body for r in responses] == [b"0", b"1", b"2", b"3", b"4"]


def test_pipelined_post_bodies_stay_separate(start_server: Starter) -> None:
    raw = b"".join(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\n%03d" % i
                   for i in range(20))
    with start_server(echo_app) as address:
        responses = request(address, raw, count=20)
    assert [r.body for r in responses] == [b"%03d" % i for i in range(20)]


def test_at_most_max_workers_apps_run_at_once(start_server: Starter) -> None:
    def sleepy(environ: Environ, start_response: StartResponse) -> list[bytes]:
        time.sleep(0.15)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    rec = Recorder(sleepy)
    results: list[int] = []
    with start_server(rec, max_workers=2) as address:
        threads = [threading.Thread(target=lambda: results.append(get(address).status))
                   for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    assert results == [200] * 6
    assert rec.peak == 2


def test_head_request_has_no_body(start_server: Starter) -> None:
    with start_server(hello_app) as address, connect(address) as sock:
        sock.sendall(b"HEAD /x HTTP/1.1\r\nHost: t\r\n\r\nGET /y HTTP/1.1\r\nHost: t\r\n\r\n")
        f = sock.makefile("rb")
        head = read_response(f, head=True)
        assert head.status == 200
        assert head.headers["content-length"] == "9"
        assert read_response(f).body == b"Hello, /y"


def test_protocol_error_gets_the_core_response_and_close(
    start_server: Starter, access_log: LogSink
) -> None:
    rec = Recorder(hello_app)
    with start_server(rec) as address:
        data = exchange_raw(address, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 400 ")
        assert get(address).status == 200  # the server is fine
    assert len(rec.environs) == 1
    assert any(' code 400, message ' in line for line in access_log.lines)


def test_app_exception_before_start_response_gives_500(
    start_server: Starter, errors: io.StringIO
) -> None:
    def broken(environ: Environ, start_response: StartResponse) -> list[bytes]:
        raise RuntimeError("boom in the app")

    with start_server(broken) as address:
        assert get(address).status == 500
    assert "boom in the app" in errors.getvalue()


def test_app_exception_after_headers_cuts_the_response(
    start_server: Starter, errors: io.StringIO
) -> None:
    def breaks_midway(environ: Environ, start_response: StartResponse) -> Any:
        start_response("200 OK", [("Content-Length", "10")])
        yield b"12345"
        if environ["PATH_INFO"] == "/break":
            raise RuntimeError("boom midway")
        yield b"67890"

    with start_server(breaks_midway) as address, connect(address) as sock:
        sock.sendall(b"GET /break HTTP/1.1\r\nHost: t\r\n\r\n")
        data, _ = wait_closed(sock)
        assert data.startswith(b"HTTP/1.1 200 ")
        assert data.endswith(b"\r\n\r\n12345")  # then the server closed: the client sees it short
        assert get(address).body == b"1234567890"
    assert "boom midway" in errors.getvalue()


def test_client_disconnect_during_download_closes_the_iterable(start_server: Starter) -> None:
    body = StreamingBody(1 << 30)

    def big(environ: Environ, start_response: StartResponse) -> Any:
        if environ["PATH_INFO"] == "/small":
            return hello_app(environ, start_response)
        start_response("200 OK", [("Content-Length", str(body.total))])
        return body

    with start_server(big) as address:
        with connect(address) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            sock.recv(100000)
        assert body.closed.wait(10), "close() of the iterable was not called"
        assert body.produced < body.total
        assert get(address, "/small").status == 200


@pytest.mark.parametrize("use_sendfile", [True, False])
def test_file_wrapper_response(start_server: Starter, tmp_path: Path, use_sendfile: bool) -> None:
    content = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "blob"
    path.write_bytes(content)

    def files(environ: Environ, start_response: StartResponse) -> Any:
        start_response("200 OK", [("Content-Length", str(len(content)))])
        return environ["wsgi.file_wrapper"](path.open("rb"), 65536)

    with start_server(files, use_sendfile=use_sendfile) as address, connect(address) as sock:
        f = sock.makefile("rb")
        for _ in range(2):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            assert read_response(f).body == content


class CountingFile(io.FileIO):
    """A real file that counts the reads made through it (the copy path reads at offsets instead)."""

    reads = 0

    def read(self, size: int = -1) -> bytes:
        CountingFile.reads += 1
        return super().read(size)


def test_file_wrapper_copied_in_blocks_where_sendfile_is_off(
        start_server: Starter, tmp_path: Path, request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """use_sendfile=False (and None to a loopback client): a worker on the socket reads the file
    into one buffer per thread and sends it, as the blocking driver does, instead of iterating it in
    the app's blocks; through the loop's transport the core iterates it. Sizes around one copy
    block, on one connection, so that the buffer grows and is reused."""
    def no_sendfile(*args: Any) -> int:
        raise AssertionError("os.sendfile() called with use_sendfile=False")

    monkeypatch.setattr(os, "sendfile", no_sendfile)
    monkeypatch.setattr(CountingFile, "reads", 0)
    contents = [os.urandom(size) for size in (1000, 2 * COPY_BLOCK + 12345, 5000)]
    paths = []
    for index, content in enumerate(contents):
        paths.append(tmp_path / f"f{index}")
        paths[-1].write_bytes(content)

    def files(environ: Environ, start_response: StartResponse) -> Any:
        path = paths[int(environ["PATH_INFO"][1:])]
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](CountingFile(path), 65536)

    on_socket = request.node.callspec.params["start_server"] == "socket-io"
    with start_server(files, use_sendfile=False) as address, connect(address) as sock:
        f = sock.makefile("rb")
        for index, content in enumerate(contents):
            sock.sendall(b"GET /%d HTTP/1.1\r\nHost: t\r\n\r\n" % index)
            response = read_response(f)
            assert response.body == content
            if on_socket:  # sent whole: the length known from the file (iterated: chunked)
                assert response.headers["content-length"] == str(len(content))
    if on_socket:
        assert CountingFile.reads == 0
    else:
        assert CountingFile.reads > 0  # TLS and other transports: the core iterates the file


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6_loopback(start_server: Starter) -> None:
    rec = Recorder(hello_app)
    with start_server(rec, host="::1") as address:
        with socket.create_connection(address, timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            assert read_response(sock.makefile("rb")).status == 200
    assert rec.environs[0]["REMOTE_ADDR"] == "::1"


def test_command_line_serves_and_stops_on_sigint() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsgidrivers.asyncio", "tests.asyncio_driver.aio_support:hello_app",
         "--host", "127.0.0.1", "--port", "0", "--workers", "2"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        match = re.search(r"port (\d+)", line)
        assert match, line
        assert get(("127.0.0.1", int(match[1])), "/cli").body == b"Hello, /cli"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        assert proc.stderr is not None
        assert '"GET /cli HTTP/1.1" 200 11' in proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
