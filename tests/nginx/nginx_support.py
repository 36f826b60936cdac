"""Servers behind a real nginx: which servers, how they trust it, and a small HTTP client.

The servers are started by their own command lines (``benchmarks.deploy``), nginx by
``benchmarks.nginx.NginxProxy`` (its own prefix directory, a port the OS chose, one worker, stopped
by PID). The application is ``nginx_app.py`` of this directory.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.deploy import Bind, DeployedServer, Deployment
from benchmarks.harness import free_port
from benchmarks.nginx import NginxProxy

HERE = Path(__file__).resolve().parent
#: Seconds any request of these tests may take before it fails (a hang is a failure, not a wait).
LIMIT = 15.0

#: Our servers behind nginx: the command line's threading driver and gunicorn with each worker.
KINDS = ("cli", "ThreadWorker", "AsyncioWorker")
TRANSPORTS = ("tcp", "unix")
MODES = ("http10", "keepalive")

#: The command line's proxy trust: nginx's address (TCP) and Unix-socket peers. Issue 24 makes
#: ``--trusted-proxy ADDR`` alone apply X-Forwarded-For/-Proto; until then the headers are named.
#: (Once it lands, ``CLI_TRUST_HEADERS`` can go and the tests below must still pass unchanged.)
CLI_TRUST = ("--trusted-proxy", "127.0.0.1", "--trusted-proxy", "unix")
CLI_TRUST_HEADERS = ("--trusted-proxy-headers", "x-forwarded-for,x-forwarded-proto")


def deployment(kind: str, *, app_dir: Path = HERE, extra: tuple[str, ...] = ()) -> Deployment:
    if kind == "cli":
        return Deployment("cli", "wsgicore --driver threading", "wsgicore",
                          options=(*CLI_TRUST, *CLI_TRUST_HEADERS, *extra),
                          app="nginx_app:app", app_dir=str(app_dir))
    # gunicorn's own trust setting; its default secure_scheme_headers include X-Forwarded-Proto.
    return Deployment(kind, f"gunicorn + {kind}", f"wsgidrivers.gunicorn.{kind}", workers=2, threads=4,
                      options=("--forwarded-allow-ips", "127.0.0.1", "--keep-alive", "5", *extra),
                      app="nginx_app:app", app_dir=str(app_dir))


@contextlib.contextmanager
def scratch_directory() -> Iterator[Path]:
    """A short path under /tmp (a Unix socket's path is at most 107 bytes), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="wsgicore-nginx-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def bind_for(transport: str, directory: Path) -> Bind:
    return Bind(path=str(directory / "app.sock")) if transport == "unix" else Bind(port=free_port())


@contextlib.contextmanager
def serving(kind: str, transport: str, directory: Path, *, app_dir: Path = HERE,
            extra: tuple[str, ...] = ()) -> Iterator[DeployedServer]:
    server = DeployedServer(deployment(kind, app_dir=app_dir, extra=extra), directory,
                            bind_for(transport, directory))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Proxied:
    """A server behind an nginx, and a directory for the gate files of one test."""

    kind: str
    transport: str
    mode: str
    server: DeployedServer
    proxy: NginxProxy
    directory: Path

    def request(self, method: str, target: str, body: bytes | Iterable[bytes] | None = None,
                headers: dict[str, str] | None = None, *, chunked: bool = False,
                source: str | None = None) -> tuple[int, dict[str, str], bytes]:
        """One request to nginx on a new connection: ``(status, headers, body)``."""
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy.port, timeout=LIMIT,
                                          source_address=(source, 0) if source else None)
        try:
            conn.request(method, target, body=body, headers=headers or {}, encode_chunked=chunked)
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def get(self, target: str, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
        return self.request("GET", target, **kwargs)

    def environ(self, target: str = "/environ", **kwargs: Any) -> dict[str, Any]:
        status, _, body = self.get(target, **kwargs)
        assert status == 200, body
        seen: dict[str, Any] = json.loads(body)
        return seen


class UnixConnection(http.client.HTTPConnection):
    """http.client over a Unix socket (straight to a server, no nginx)."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=LIMIT)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(LIMIT)
        sock.connect(self._path)
        self.sock = sock


def error_log(proxied: Proxied) -> str:
    return f"nginx: {proxied.proxy.errors()}\nserver: {proxied.server.log_tail(20)}"
