"""Many connections at once: idle keep-alive connections are cheap, slow clients are served, and
slow readers/writers are held back by flow control instead of being buffered."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
from typing import Any

import pytest

from wsgidrivers.asyncio import ServerThread
from wsgidrivers.asyncio._protocol import WSGIProtocol

from .aio_support import (
    Environ,
    StartResponse,
    StreamingBody,
    connect,
    get,
    hello_app,
    read_response,
)
from .conftest import Starter

pytestmark = pytest.mark.slow


def test_1000_idle_keep_alive_connections_do_not_block_a_new_client(start_server: Starter) -> None:
    socks: list[socket.socket] = []
    threads_before = threading.active_count()
    with start_server(hello_app, max_workers=4, keep_alive_timeout=60.0, head_timeout=60.0) as address:
        try:
            for i in range(1000):
                sock = connect(address)
                socks.append(sock)
                if i % 5 == 4:
                    sock.sendall(b"GET / HTTP/1.1\r\n")  # some stop in the middle of a head
                else:
                    sock.sendall(b"GET /idle HTTP/1.1\r\nHost: t\r\n\r\n")
                    assert read_response(sock.makefile("rb")).status == 200
            # Idle connections cost no thread: only the loop thread and at most max_workers.
            assert threading.active_count() <= threads_before + 1 + 4
            start = time.monotonic()
            assert get(address, "/new").body == b"Hello, /new"
            assert time.monotonic() - start < 2.0
            # ...and the idle ones are still alive and usable.
            for sock in socks[:20:5]:
                sock.sendall(b"GET /again HTTP/1.1\r\nHost: t\r\n\r\n")
                assert read_response(sock.makefile("rb")).body == b"Hello, /again"
        finally:
            for sock in socks:
                sock.close()


def _upload_app(environ: Environ, start_response: StartResponse) -> list[bytes]:
    digest = hashlib.sha256()
    stream = environ["wsgi.input"]
    for _ in range(100000):
        piece = stream.read(4096)
        if not piece:
            break
        digest.update(piece)
    body = digest.hexdigest().encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


def _download_app(environ: Environ, start_response: StartResponse) -> Any:
    if environ["REQUEST_METHOD"] == "POST":
        return _upload_app(environ, start_response)
    size = int(environ["QUERY_STRING"])
    start_response("200 OK", [("Content-Length", str(size))])
    return (bytes([i % 256]) * 16384 for i in range(size // 16384))


async def _slow_upload(address: tuple[str, int], seed: int) -> bool:
    reader, writer = await asyncio.open_connection(*address)
    body = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB
    writer.write(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body))
    for i in range(0, len(body), 4096):
        writer.write(body[i : i + 4096])
        await writer.drain()
        await asyncio.sleep(0.01)
    head = await reader.readuntil(b"\r\n\r\n")
    answer = await reader.readexactly(64)
    writer.close()
    return head.startswith(b"HTTP/1.1 200 ") and answer == hashlib.sha256(body).hexdigest().encode()


async def _slow_download(address: tuple[str, int], size: int) -> bool:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(b"GET /down?%d HTTP/1.1\r\nHost: t\r\n\r\n" % size)
    head = await reader.readuntil(b"\r\n\r\n")
    expected = b"".join(bytes([i % 256]) * 16384 for i in range(size // 16384))
    got = bytearray()
    while len(got) < size:
        got += await reader.read(16384)
        await asyncio.sleep(0.005)
    writer.close()
    return head.startswith(b"HTTP/1.1 200 ") and bytes(got) == expected


def test_50_slow_uploads_and_50_slow_downloads_complete(start_server: Starter) -> None:
    async def clients(address: tuple[str, int]) -> list[bool]:
        jobs = [_slow_upload(address, i) for i in range(50)]
        jobs += [_slow_download(address, 1 << 20) for _ in range(50)]
        return await asyncio.wait_for(asyncio.gather(*jobs), 60)

    with start_server(_download_app, max_workers=16) as address:
        results = asyncio.run(clients(address))
    assert results == [True] * 100


@pytest.mark.parametrize("socket_io", [True, False], ids=["worker-writes", "through-the-loop"])
def test_slow_reader_does_not_make_the_server_buffer_the_response(socket_io: bool) -> None:
    body = StreamingBody(1 << 30)  # 1 GiB, produced lazily

    def big(environ: Environ, start_response: StartResponse) -> StreamingBody:
        start_response("200 OK", [("Content-Length", str(body.total))])
        return body

    server = ServerThread(big, access_log=None, socket_io=socket_io)
    with server as address:
        sock = socket.socket()
        # A small receive buffer keeps the kernel from absorbing the response for us.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.settimeout(10)
        sock.connect(address)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            consumed = 0
            for _ in range(100000):
                consumed += len(sock.recv(65536))
                if consumed >= 8 << 20:
                    break
            time.sleep(0.5)  # stop reading: the app must stall
            stalled_at = body.produced
            time.sleep(0.3)
            assert body.produced == stalled_at, "the app kept producing for a client that stopped"
            # Bounded by socket buffers (kernel send buffer autotunes up to a few MiB) plus the
            # driver's own 64 KiB + 64 KiB, nowhere near the 1 GiB the app would produce.
            assert stalled_at - consumed < 8 << 20
            assert server.service is not None
            # With socket_io a worker that took the connection from the accept writes on the
            # socket itself (no driver buffer) unless the request came late (then the loop has
            # it, as without socket_io): the bridge's buffers are bounded.
            if not socket_io:
                assert {type(c).__name__ for c in server.service.connections} == {"WSGIProtocol"}
            for proto in server.service.connections:
                if isinstance(proto, WSGIProtocol):
                    assert sum(proto.buffered_bytes) <= 128 * 1024 + 65536
            for _ in range(100000):  # reading again resumes the app
                consumed += len(sock.recv(65536))
                if consumed >= 64 << 20:
                    break
            assert body.produced > stalled_at
        assert body.closed.wait(10)


@pytest.mark.parametrize("socket_io", [True, False], ids=["worker-reads", "through-the-loop"])
def test_fast_uploader_is_paused_while_the_app_does_not_read(socket_io: bool) -> None:
    release = threading.Event()
    received: list[int] = []

    def lazy(environ: Environ, start_response: StartResponse) -> list[bytes]:
        release.wait(10)
        n = 0
        stream = environ["wsgi.input"]
        for _ in range(100000):
            piece = stream.read(65536)
            if not piece:
                break
            n += len(piece)
        received.append(n)
        start_response("200 OK", [("Content-Length", "0")])
        return []

    size = 32 << 20
    server = ServerThread(lazy, access_log=None, socket_io=socket_io)
    with server as address, connect(address) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % size)
        sock.setblocking(False)
        sent = 0
        chunk = b"u" * 65536
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and sent < size:
            try:
                sent += sock.send(chunk)
            except BlockingIOError:
                time.sleep(0.01)
        assert sent < size, "the server read the whole body into memory"
        assert server.service is not None
        if not socket_io:
            assert {type(c).__name__ for c in server.service.connections} == {"WSGIProtocol"}
        for proto in server.service.connections:
            if isinstance(proto, WSGIProtocol):  # a FreshConnection reads only what the app asks
                assert proto.buffered_bytes[0] <= 256 * 1024 + 256 * 1024
        release.set()
        sock.setblocking(True)
        sock.settimeout(10)
        for _ in range(10000):
            if sent >= size:
                break
            sent += sock.send(chunk[: size - sent])
        assert read_response(sock.makefile("rb")).status == 200
    assert received == [size]
