"""At a resource limit (out of file descriptors, say) accept() fails while the listener stays readable:
``WSGIServer`` and ``ThreadingWSGIServer`` pause accepting, say so once per pause, and serve again
once the resource is back, without spinning (issue 24: 3.0 s of CPU in 3 s, nothing logged)."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest

from support.clients import TIMEOUT, connect, wait_closed
from wsgidrivers._common import listening
from wsgidrivers.simple_server import ThreadingWSGIServer, WSGIServer, make_server

from .helpers import hello_app

GET_CLOSE = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
CLASSES = [WSGIServer, ThreadingWSGIServer]

#: The server, in a process of its own whose descriptors run out: every one it may open is taken
#: (by /dev/null) once it listens, until "free" arrives on its stdin.
_SERVER = textwrap.dedent("""
    import os, resource, sys, threading
    from wsgidrivers import simple_server

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
    server = simple_server.make_server("127.0.0.1", 0, app, getattr(simple_server, sys.argv[1]))
    taken = []

    def commands():
        for line in sys.stdin:
            if line.strip() == "free":
                while taken:
                    os.close(taken.pop())
                print("freed", flush=True)

    threading.Thread(target=commands, daemon=True).start()
    while True:
        try:
            taken.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            break
    print(server.server_address[1], flush=True)
    server.serve_forever(poll_interval=0.05)
""")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux's /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads CPU time from /proc")
@pytest.mark.parametrize("server_class", ["WSGIServer", "ThreadingWSGIServer"])
def test_out_of_descriptors_pauses_accepting_then_serves_again(server_class: str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, server_class], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdin is not None
        port = int(proc.stdout.readline())
        with connect(("127.0.0.1", port)) as client:
            client.sendall(GET_CLOSE)
            time.sleep(0.3)  # its accept() fails (EMFILE): the pause begins
            before = _cpu_seconds(proc.pid)
            time.sleep(1.0)
            used = _cpu_seconds(proc.pid) - before
            # A retry every ACCEPT_PAUSE costs a few system calls; the busy loop used all of 1.0 s.
            assert used < 0.25, f"{used:.2f} s of CPU in 1 s while out of descriptors"
            proc.stdin.write("free\n")
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == "freed"
            response, _ = wait_closed(client)
            assert response.startswith(b"HTTP/1.1 200 OK"), response
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=TIMEOUT)
    assert err.count("accept() failed") == 1, err  # once per pause, not once per retry
    assert "Too many open files" in err
    assert err.count("accepting again") == 1, err


class _Failing(socket.socket):
    """A listener whose next accept() calls fail with the errnos in ``failures``."""

    failures: list[int]

    def accept(self) -> tuple[socket.socket, Any]:
        if self.failures:
            code = self.failures.pop()
            raise OSError(code, os.strerror(code))
        return super().accept()


def _failing_listener(failures: list[int]) -> _Failing:
    listener = _Failing(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.failures = failures
    return listener


@pytest.mark.parametrize("server_class", CLASSES)
@pytest.mark.parametrize("code", [errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM])
def test_each_resource_error_pauses_and_is_said_once(
    server_class: type[WSGIServer], code: int, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(listening, "ACCEPT_PAUSE", 0.05)
    listener = _failing_listener([code] * 3)
    server = make_server("", 0, hello_app, server_class, sock=listener)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        started = time.monotonic()
        with connect(server.server_address[:2]) as client:
            client.sendall(GET_CLOSE)
            assert wait_closed(client)[0].startswith(b"HTTP/1.1 200 OK")
        assert time.monotonic() - started >= 3 * 0.05  # three pauses, not three retries at once
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)
    err = capsys.readouterr().err
    assert err.count("accept() failed") == 1, err
    assert os.strerror(code) in err
    assert "accepting again" in err
    assert "3 failed attempts" in err


@pytest.mark.parametrize("server_class", CLASSES)
def test_a_connection_reset_before_accept_is_skipped_without_a_pause(
    server_class: type[WSGIServer], capsys: pytest.CaptureFixture[str],
) -> None:
    listener = _failing_listener([errno.ECONNABORTED])
    server = make_server("", 0, hello_app, server_class, sock=listener)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        with connect(server.server_address[:2]) as client:
            client.sendall(GET_CLOSE)
            assert wait_closed(client)[0].startswith(b"HTTP/1.1 200 OK")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)
    assert "accept() failed" not in capsys.readouterr().err
    assert listener.failures == []


def test_a_subclass_reports_the_pause_its_own_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listening, "ACCEPT_PAUSE", 0.05)
    reports: list[str] = []

    class Reporting(WSGIServer):
        def report(self, message: str) -> None:
            reports.append(message)

    server = make_server("", 0, hello_app, Reporting, sock=_failing_listener([errno.EMFILE]))
    try:
        with connect(server.server_address[:2]) as client:
            client.sendall(GET_CLOSE)
            server.handle_request()  # fails and pauses
            server.handle_request()  # serves
            assert wait_closed(client)[0].startswith(b"HTTP/1.1 200 OK")
    finally:
        server.server_close()
    assert len(reports) == 2, reports
    assert reports[0].startswith("accept() failed: [Errno 24]")
    assert reports[1].startswith("accepting again after")
    assert "(1 failed attempt)" in reports[1]
