"""Our servers behind a real nginx: the command line's threading driver and gunicorn with each of
our workers, on TCP and on a Unix socket, in nginx's two upstream modes (its default HTTP/1.0 with a
connection per request, and a pool of HTTP/1.1 keep-alive connections).

One server per kind and transport and one nginx per mode are shared by the module's tests.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from benchmarks.deploy import DeployedServer
from benchmarks.nginx import NginxProxy

from .nginx_support import (
    KINDS,
    LIMIT,
    MODES,
    TRANSPORTS,
    Proxied,
    UnixConnection,
    error_log,
    scratch_directory,
    serving,
)

pytestmark = pytest.mark.slow

MIB = 1024 * 1024


@pytest.fixture(scope="module", params=[(k, t) for k in KINDS for t in TRANSPORTS],
                ids=lambda p: f"{p[0]}-{p[1]}")
def backend(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, DeployedServer, Path]]:
    kind, transport = request.param
    with scratch_directory() as directory, serving(kind, transport, directory) as server:
        yield kind, transport, server, directory


@pytest.fixture(scope="module", params=MODES)
def proxied(request: pytest.FixtureRequest,
            backend: tuple[str, str, DeployedServer, Path]) -> Iterator[Proxied]:
    kind, transport, server, directory = backend
    mode = request.param
    with NginxProxy(directory / f"nginx-{mode}", server.bind.nginx(), mode) as proxy:
        yield Proxied(kind, transport, mode, server, proxy, directory)


def test_get(proxied: Proxied) -> None:
    status, _, body = proxied.get("/hello")
    assert (status, body) == (200, b"hello"), error_log(proxied)
    seen = proxied.environ()
    # The mode in effect, as the application sees it: nginx's default speaks HTTP/1.0 with
    # "Connection: close"; the pool speaks HTTP/1.1 and sends no Connection header.
    if proxied.mode == "http10":
        assert (seen["SERVER_PROTOCOL"], seen["HTTP_CONNECTION"]) == ("HTTP/1.0", "close")
    else:
        assert (seen["SERVER_PROTOCOL"], seen["HTTP_CONNECTION"]) == ("HTTP/1.1", None)


def test_upstream_connections(proxied: Proxied) -> None:
    """In the pool mode, sequential requests travel on one upstream connection; in the default
    mode each has its own: told apart by nginx's port as the server saw it. (A Unix-socket peer has
    no port: there the protocol the app sees, in test_get, shows the mode.)"""
    if proxied.transport == "tcp":
        peers = [proxied.environ()["peer"] for _ in range(4)]
        assert len(set(peers)) == (1 if proxied.mode == "keepalive" else 4), peers


@pytest.mark.parametrize("location", ["/", "/unbuffered/"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_upload_one_mib(proxied: Proxied, chunked: bool, location: str) -> None:
    data = os.urandom(MIB)
    body = (data[i:i + 100_000] for i in range(0, MIB, 100_000)) if chunked else data
    headers = {"Content-Type": "application/octet-stream"}
    status, _, answer = proxied.request("POST", f"{location}upload", body=body, headers=headers,
                                        chunked=chunked)
    assert status == 200, (answer, error_log(proxied))
    seen = json.loads(answer)
    assert (seen["length"], seen["sha256"]) == (MIB, hashlib.sha256(data).hexdigest())
    # nginx reads the whole body first and sends it with a Content-Length, unless request buffering
    # is off and the upstream speaks HTTP/1.1: then a chunked body is passed on chunked, and our
    # server reads it whole before the app runs and gives it its CONTENT_LENGTH (every entry
    # point's default), so the app sees the same either way.
    assert (seen["content_length"], seen["transfer_encoding"]) == (str(MIB), None)
    assert seen["input_terminated"] is True


@pytest.mark.parametrize("location", ["/", "/unbuffered/"],
                         ids=["X-Accel-Buffering", "proxy_buffering-off"])
def test_streamed_response(proxied: Proxied, location: str) -> None:
    """The first part reaches the client before the app writes the last one: the app waits for a
    file that the test creates only once it has read the first part (else the app gives up after
    10 s and the test fails)."""
    gate = proxied.directory / f"gate-stream-{proxied.mode}-{location.strip('/') or 'root'}"
    gate.unlink(missing_ok=True)
    conn = http.client.HTTPConnection("127.0.0.1", proxied.proxy.port, timeout=LIMIT)
    try:
        conn.request("GET", f"{location}stream?gate={gate}")
        response = conn.getresponse()
        assert response.status == 200
        first = b""
        while b"\n" not in first:
            piece = response.read1(64)
            assert piece, first
            first += piece
        assert first == b"first\n", "the response was buffered until the app finished"
        gate.touch()
        assert response.read() == b"last\n"
    finally:
        conn.close()


def test_forwarded_for_and_proto(proxied: Proxied) -> None:
    """nginx appends the client's address to X-Forwarded-For and sets X-Forwarded-Proto. The client
    connects from 127.0.0.2, nginx to the server from 127.0.0.1 (or a Unix socket); the client's
    own X-Forwarded-For value (spoofed) is never believed: one proxy, the right-most value."""
    spoofed = {"X-Forwarded-For": "203.0.113.9"}
    plain = proxied.environ("/environ", source="127.0.0.2", headers=spoofed)
    as_https = proxied.environ("/as-https/environ", source="127.0.0.2", headers=spoofed)
    assert plain["wsgi.url_scheme"] == "http"
    assert as_https["wsgi.url_scheme"] == "https"
    if proxied.kind == "cli":
        # --trusted-proxy with --trusted-proxy-headers x-forwarded-for,x-forwarded-proto.
        assert plain["REMOTE_ADDR"] == as_https["REMOTE_ADDR"] == "127.0.0.2"
        # Only the right-most (trusted) value stays: the client's own text never reaches the app
        # (docs/deployment.md, "Which value is the client's").
        assert plain["HTTP_X_FORWARDED_FOR"] == "127.0.0.2"
    else:
        # gunicorn's rule (--forwarded-allow-ips, secure_scheme_headers): the scheme is believed,
        # REMOTE_ADDR never comes from X-Forwarded-For, and the app gets X-Forwarded-For as nginx
        # sent it, as from gunicorn's own workers (docs/deployment.md, "gunicorn behind a proxy").
        # A Unix-socket peer has no address: "" (as gunicorn's own workers say).
        expected = "127.0.0.1" if proxied.transport == "tcp" else ""
        assert plain["REMOTE_ADDR"] == as_https["REMOTE_ADDR"] == expected
        assert plain["HTTP_X_FORWARDED_FOR"] == "203.0.113.9, 127.0.0.2"


def test_direct_peer_trust(backend: tuple[str, str, DeployedServer, Path]) -> None:
    """The same headers sent straight to the server, no nginx: over TCP from 127.0.0.2, a peer
    nobody trusts, neither the address nor the scheme changes (the command line drops the headers,
    the gunicorn workers pass them on as gunicorn does); over the Unix socket every peer is trusted
    (the command line's ``--trusted-proxy unix``, gunicorn's rule), so the scheme is believed."""
    kind, transport, server, _ = backend
    headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    if transport == "tcp":
        conn = http.client.HTTPConnection("127.0.0.1", server.bind.port, timeout=LIMIT,
                                          source_address=("127.0.0.2", 0))
    else:
        conn = UnixConnection(server.bind.path)
    try:
        conn.request("GET", "/environ", headers=headers)
        seen = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    if transport == "tcp":
        assert (seen["REMOTE_ADDR"], seen["wsgi.url_scheme"]) == ("127.0.0.2", "http")
        assert seen["HTTP_X_FORWARDED_FOR"] == (None if kind == "cli" else "203.0.113.9")
    else:
        assert seen["wsgi.url_scheme"] == "https"
        assert seen["REMOTE_ADDR"] == ("203.0.113.9" if kind == "cli" else "")


def test_slow_request_does_not_block_others(proxied: Proxied) -> None:
    """A request held in the app (until the test opens its gate) while others are served: they
    are answered while it is still held (an ordering, not a timing)."""
    gate = proxied.directory / f"gate-slow-{proxied.mode}"
    mark = proxied.directory / f"mark-slow-{proxied.mode}"
    gate.unlink(missing_ok=True)
    mark.unlink(missing_ok=True)
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(proxied.get, f"/slow?gate={gate}&mark={mark}")
        try:
            deadline = time.monotonic() + LIMIT
            while not mark.exists():
                assert time.monotonic() < deadline, "the slow request never reached the app"
                assert not slow.done(), slow.result()
                time.sleep(0.01)
            for _ in range(5):
                status, _, body = proxied.get("/hello")
                assert (status, body) == (200, b"hello")
            assert not slow.done(), "the slow request ended before the others were served"
        finally:
            gate.touch()
        status, _, body = slow.result(timeout=LIMIT)
    assert status == 200
    assert body.startswith(b"released"), body


def test_concurrent_clients(proxied: Proxied) -> None:
    """Several clients at once, each a few requests: every one answered."""
    failures: list[object] = []

    def client() -> None:
        for _ in range(10):
            try:
                status, _, body = proxied.get("/hello")
                if (status, body) != (200, b"hello"):
                    failures.append((status, body))
            except OSError as exc:
                failures.append(exc)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(LIMIT)
    assert not failures, (failures[:5], error_log(proxied))
