"""Client faults over real sockets: the client disconnects (FIN) or resets (SO_LINGER 0 -> RST) before
the response, in the middle of it, or in the middle of its upload.

For each: no traceback in the server's log, exactly one log line about the fault (at most one for a
reset in the middle of the head, before any request exists), the app's iterable closed exactly once,
no leaked file descriptor (``/proc/self/fd`` before/after), and the server still serving.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from . import _servers
from ._util import fd_count, fd_targets, parse_responses, send_raw, wait_until

pytest.importorskip("wsgicore")
pytestmark = pytest.mark.skipif(not _servers.available(), reason=_servers.skip_reason())

TRACEBACK = "Traceback (most recent call last)"
GOOD = b"GET /good HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"
#: An access-log line: ``addr - - [date] "request line" status size``.
ACCESS_LINE = re.compile(r'"[^"]*" \d{1,3} (\d+|-)\s*$')
SETTINGS: dict[str, Any] = {"head_timeout": 2.0, "io_timeout": 2.0, "keep_alive_timeout": 2.0,
            "linger_timeout": 0.5}


class App:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.driver = ""  # the server's (set by the fixture)
        self.closes = 0
        self.returned = 0
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ["PATH_INFO"]
        if path == "/good":
            start_response("200 OK", [("Content-Length", "2")])
            return [b"ok"]
        if path == "/upload":
            body = environ["wsgi.input"].read()  # the client goes away meanwhile
            start_response("200 OK", [("Content-Length", str(len(body)))])
            return [body]
        if path == "/wait":
            self.release.wait(5.0)
        start_response("200 OK", [("Content-Length", str(1024 * 65536))])
        with self.lock:
            self.returned += 1
        return _Big(self)


class _Big:
    def __init__(self, app: App) -> None:
        self.app = app

    def __iter__(self) -> Iterator[bytes]:
        chunk = b"z" * 65536
        for _ in range(1024):  # 64 MiB, produced lazily
            yield chunk

    def close(self) -> None:
        with self.app.lock:
            self.app.closes += 1


@pytest.fixture(params=_servers.DRIVERS)
def server(request: pytest.FixtureRequest) -> Iterator[tuple[tuple[str, int], App]]:
    app = App()
    app.driver = request.param
    with _servers.serve(app, driver=request.param, **SETTINGS) as addr:
        yield addr, app


def _reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _fault_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not ACCESS_LINE.search(line)]


def _disconnect_before_response(addr: tuple[str, int], app: App, reset: bool) -> None:
    sock = socket.create_connection(addr)
    sock.sendall(b"GET /wait HTTP/1.1\r\nHost: example.com\r\n\r\n")
    time.sleep(0.2)  # the app is now waiting
    if reset:
        _reset(sock)
    else:
        sock.close()
    time.sleep(0.1)
    app.release.set()


def _disconnect_mid_response(addr: tuple[str, int], app: App, reset: bool) -> None:
    sock = socket.create_connection(addr)
    sock.sendall(b"GET /big HTTP/1.1\r\nHost: example.com\r\n\r\n")
    got = 0
    sock.settimeout(5)
    while got < 256 * 1024:
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += len(chunk)
    if reset:
        _reset(sock)
    else:
        sock.close()


def _disconnect_mid_upload(addr: tuple[str, int], app: App, reset: bool) -> None:
    sock = socket.create_connection(addr)
    sock.sendall(b"POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: 10485760\r\n\r\n")
    sock.sendall(b"u" * 100_000)
    time.sleep(0.2)
    if reset:
        _reset(sock)
    else:
        sock.close()


def _reset_mid_head(addr: tuple[str, int], app: App, reset: bool) -> None:
    sock = socket.create_connection(addr)
    sock.sendall(b"GET /good HTTP/1.1\r\nHost: exa")
    time.sleep(0.2)
    if reset:
        _reset(sock)
    else:
        sock.close()


FAULTS = {
    "before_response": (_disconnect_before_response, True),
    "mid_response": (_disconnect_mid_response, True),
    "mid_upload": (_disconnect_mid_upload, False),
    "mid_head": (_reset_mid_head, False),
}


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_client_fault(server: Any, fault: str, reset: bool,
                      capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    addr, app = server
    # Warm up (threads, lazily created objects), then take the fd baseline. A server that serves
    # connections at once is warmed up with two at once: the threading server starts its second
    # thread (an epoll of its own) only when a connection holds the first one for a while.
    with contextlib.ExitStack() as stack:
        if app.driver != "simple_server":
            held = stack.enter_context(socket.create_connection(addr))
            held.sendall(b"GET /good HTTP/1.1\r\n")  # half a head: it holds its thread
        assert [r.status for r in parse_responses(send_raw(addr, [GOOD]).data).responses] == [200]
    time.sleep(0.05)
    baseline = fd_count()
    before = set(fd_targets())
    capsys.readouterr()
    caplog.clear()
    action, returns_iterable = FAULTS[fault]
    action(addr, app, reset)
    if returns_iterable:
        assert wait_until(lambda: app.closes == app.returned == 1, 8.0), (
            f"close() calls {app.closes} for {app.returned} iterables")
    fds_back = wait_until(lambda: fd_count() <= baseline, 8.0, 0.05)
    time.sleep(0.1)
    log = capsys.readouterr().err + caplog.text
    # The server still serves, and the fault did not leak a descriptor.
    assert [r.status for r in parse_responses(send_raw(addr, [GOOD]).data).responses] == [200]
    assert fds_back, (f"fd leak: {fd_count()} open, baseline {baseline}; new: "
                      f"{sorted(set(fd_targets()) - before)}; threads: "
                      f"{[t.name for t in threading.enumerate()]}")
    assert TRACEBACK not in log, f"traceback logged for a client fault:\n{log[-3000:]}"
    lines = _fault_lines(log)
    if fault == "mid_head":
        assert len(lines) <= 1, lines
    else:
        assert len(lines) == 1, f"expected exactly one log line for the fault, got {lines}"
