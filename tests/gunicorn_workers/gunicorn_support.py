"""Real gunicorn processes for the tests: started on a free port, read, stopped, all bounded.

The port is found without races: gunicorn binds ``127.0.0.1:0`` itself and the test reads the port
from its "Listening at" line. Every wait has a deadline; a process that outlives its test is killed.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

gunicorn = pytest.importorskip(
    "gunicorn", reason="gunicorn is not installed (pip install 'wsgicore[gunicorn]')")

HERE = Path(__file__).resolve().parent
_LISTENING = re.compile(r"Listening at: (\S+)")
_BOOTING = re.compile(r"Booting worker with pid: (\d+)")


def _has_setting(name: str) -> bool:
    from gunicorn.config import KNOWN_SETTINGS

    return any(setting.name == name for setting in KNOWN_SETTINGS)


def _gunicorn_command() -> list[str]:
    # The console script when there is one: a USR2 re-exec runs the master's argv again, and with
    # "python -m gunicorn" that is gunicorn/__main__.py, whose directory then shadows the stdlib
    # (gunicorn/http/ hides the http package).
    script = Path(sys.executable).with_name("gunicorn")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "gunicorn"]


class Gunicorn:
    """One ``gunicorn`` master with its workers, its output (error and access log) collected."""

    def __init__(self, worker: str, *options: str, app: str = "gunicorn_app:app", workers: int = 2,
                 bind: str = "127.0.0.1:0", env: dict[str, str] | None = None) -> None:
        self.command = [*_gunicorn_command(), "-k", f"wsgidrivers.gunicorn.{worker}",
                        "-w", str(workers), "-b", bind, "--chdir", str(HERE),
                        "--graceful-timeout", "5", *options, app]
        if _has_setting("control_socket_disable"):
            self.command.insert(-1, "--no-control-socket")  # gunicorn 27: one per user, not per test
        self.env = {**os.environ, **(env or {})}
        self.workers = workers
        self.lines: list[str] = []
        self._eof = False  # the processes' output ended
        self._changed = threading.Condition()
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.address: tuple[str, int] = ("", 0)

    # -- life cycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> Gunicorn:
        self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=self.env, start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()
        match = self.wait_for(_LISTENING, timeout=timeout)
        self.url = match.group(1)
        if self.url.startswith(("http://", "https://")):
            host, _, port = self.url.split("://", 1)[1].rpartition(":")
            self.address = (host, int(port))
        self.wait_count(_BOOTING, self.workers, timeout=timeout)
        return self

    def _read(self) -> None:
        proc = self.proc
        if proc is None or proc.stdout is None:
            return
        for line in proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    def signal(self, signum: int) -> None:
        if self.proc is not None:
            self.proc.send_signal(signum)

    def wait_exit(self, timeout: float) -> int:
        if self.proc is None:
            raise RuntimeError("not started")
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the master and its workers (own session)
            proc.wait(5)

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- output -------------------------------------------------------------------------------

    def text(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for(self, pattern: re.Pattern[str] | str, timeout: float = 10.0,
                 start: int = 0) -> re.Match[str]:
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[start:]:
                    match = regex.search(line)
                    if match is not None:
                        return match
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    raise AssertionError(f"no line matching {regex.pattern!r} within {timeout} s:\n"
                                         + "\n".join(self.lines[-40:]))
                self._changed.wait(min(left, 0.2))

    def matches(self, pattern: str) -> list[re.Match[str]]:
        regex = re.compile(pattern)
        with self._changed:
            return [m for m in (regex.search(line) for line in self.lines) if m is not None]

    def wait_count(self, pattern: re.Pattern[str] | str, count: int, timeout: float = 10.0) -> list[str]:
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [m.group(1) for m in (regex.search(line) for line in self.lines) if m]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(found)} lines matching {regex.pattern!r}, expected "
                                         f"{count}, within {timeout} s:\n" + "\n".join(self.lines[-40:]))
                self._changed.wait(min(left, 0.2))

    @property
    def worker_pids(self) -> list[int]:
        """Every worker ever booted, in order."""
        return [int(m.group(1)) for m in self.matches(_BOOTING.pattern)]


@contextlib.contextmanager
def running(worker: str, *options: str, **kwargs: Any) -> Iterator[Gunicorn]:
    server = Gunicorn(worker, *options, **kwargs)
    try:
        yield server.start()
    finally:
        server.stop()


# -- clients --------------------------------------------------------------------------------


def get(address: tuple[str, int], path: str, *, timeout: float = 10.0,
        headers: dict[str, str] | None = None,
        source: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection: ``(status, headers, body)``."""
    conn = http.client.HTTPConnection(*address, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def raw_exchange(sock: socket.socket, data: bytes, responses: int, timeout: float = 10.0) -> list[bytes]:
    """Send ``data`` on ``sock`` and read ``responses`` complete Content-Length responses."""
    sock.settimeout(timeout)
    sock.sendall(data)
    buffer = b""
    out: list[bytes] = []
    while len(out) < responses:
        head_end = buffer.find(b"\r\n\r\n")
        if head_end >= 0:
            head = buffer[:head_end].decode("latin-1")
            length_match = re.search(r"(?im)^content-length:\s*(\d+)", head)
            length = int(length_match.group(1)) if length_match else 0
            total = head_end + 4 + length
            if len(buffer) >= total:
                out.append(buffer[:total])
                buffer = buffer[total:]
                continue
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed after {len(out)} responses: {buffer[:200]!r}")
        buffer += chunk
    return out


def body_of(response: bytes) -> bytes:
    return response.split(b"\r\n\r\n", 1)[1]


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 (needs the openssl command)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=60,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot make a test certificate with openssl: {exc}")
    return cert, key
