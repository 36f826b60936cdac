"""Start the command line in a child process, read its banner, talk to it, stop it; every wait bounded."""

from __future__ import annotations

import http.client
import os
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["APP_SOURCE", "LIMIT", "Served", "get", "run", "serve", "unix_get", "write_app"]

#: Seconds any start-up, request or shutdown may take before the test fails.
LIMIT = 15.0

#: An application module for the tests: echoes what the environ says.
APP_SOURCE = '''\
def app(environ, start_response):
    body = environ["wsgi.input"].read()
    text = "|".join([environ["wsgi.url_scheme"], environ["SCRIPT_NAME"], environ["PATH_INFO"],
                     environ.get("REMOTE_ADDR", "-"), str(len(body))])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [text.encode()]
'''

_ADDRESS = re.compile(r"Serving (HTTPS?) on (\S+) port (\d+)")


@dataclass
class Served:
    process: subprocess.Popen[str]
    banner: list[str]
    addresses: list[tuple[str, int]] = field(default_factory=list)
    out: str = ""
    err: str = ""
    #: What :meth:`read_err_until` has read of stderr so far (``err`` starts with it after stop()).
    err_so_far: str = ""

    def stop(self, signum: int | None = signal.SIGINT) -> int:
        """Stop it (``signum`` None: it was already told to); its exit status (stdout and stderr are
        kept in ``out``/``err``). A process still there after LIMIT seconds is killed (-9)."""
        if signum is not None and self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            out, err = self.process.communicate(timeout=LIMIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate(timeout=LIMIT)
        self.out, self.err = out or "", self.err_so_far + (err or "")
        return self.process.returncode

    def read_err_until(self, text: str) -> str:
        """Read stderr as it comes until it holds ``text`` (fail after LIMIT seconds); all read so
        far. Read from the descriptor itself, unbuffered, so that stop() gets the rest."""
        assert self.process.stderr is not None
        fd = self.process.stderr.fileno()
        deadline = time.monotonic() + LIMIT
        while text not in self.err_so_far:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{text!r} not on stderr within {LIMIT} s: {self.err_so_far!r}")
            if select.select([fd], [], [], remaining)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError(f"stderr ended without {text!r}: {self.err_so_far!r}")
                self.err_so_far += chunk.decode()
        return self.err_so_far


def _command(args: tuple[str, ...], module: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("WSGICORE_")}
    return {**env, "PYTHONUNBUFFERED": "1", **(extra or {})}


def serve(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
          module: str = "wsgidrivers") -> Served:
    """Start ``python -m module args`` and wait for its banner (the summary line ends it)."""
    process = subprocess.Popen(_command(args, module), cwd=cwd, env=_env(env), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    timer = threading.Timer(LIMIT, process.kill)  # bounds the wait for the banner
    timer.start()
    banner: list[str] = []
    try:
        assert process.stdout is not None
        while True:
            line = process.stdout.readline()
            if not line:
                break
            banner.append(line.rstrip("\n"))
            if line.startswith("wsgicore "):
                break
    finally:
        timer.cancel()
    served = Served(process, banner)
    if not banner or not banner[-1].startswith("wsgicore "):
        served.stop()
        raise AssertionError(f"no banner: {banner!r}\n{served.err}")
    for line in banner:
        match = _ADDRESS.search(line)
        if match:
            served.addresses.append((match[2], int(match[3])))
    return served


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        module: str = "wsgidrivers") -> subprocess.CompletedProcess[str]:
    """Run to the end (a refusal): the completed process."""
    return subprocess.run(_command(args, module), cwd=cwd, env=_env(env), text=True,
                          capture_output=True, timeout=LIMIT, check=False)


def get(address: tuple[str, int], path: str = "/", *, tls: bool = False, body: bytes | None = None,
        headers: dict[str, str] | None = None, host: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection: (status, headers, body)."""
    connect_to = host or address[0]
    if connect_to in ("::", "0.0.0.0"):
        connect_to = "::1" if connect_to == "::" else "127.0.0.1"
    conn: http.client.HTTPConnection
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(connect_to, address[1], timeout=LIMIT, context=context)
    else:
        conn = http.client.HTTPConnection(connect_to, address[1], timeout=LIMIT)
    try:
        conn.request("POST" if body is not None else "GET", path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=LIMIT)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(LIMIT)
        sock.connect(self._path)
        self.sock = sock


def unix_get(path: str, target: str = "/", headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = _UnixConnection(path)
    try:
        conn.request("GET", target, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def write_app(directory: Path, name: str = "echoapp", source: str = APP_SOURCE) -> str:
    (directory / f"{name}.py").write_text(source)
    return f"{name}:app"
