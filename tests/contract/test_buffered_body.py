"""Config.buffer_chunked_body over real sockets, the same from every driver: the body is spooled by
the driver (memory up to SPOOL_MEMORY, then a temporary file) and reaches a Content-Length-reading app."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from wsgicore import Config
from wsgidrivers._common.settings import SPOOL_MEMORY, spooled_body_file
from wsgidrivers.testing.live import start_live_server
from wsgidrivers.testing.response import parse_responses


def length_reader(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%d %d" % (len(body), sum(body) % 1000)]


def chunked_upload(body: bytes, piece: int) -> bytes:
    out = [b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"]
    for start in range(0, len(body), piece):
        chunk = body[start : start + piece]
        out.append(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    out.append(b"0\r\n\r\n")
    return b"".join(out)


@pytest.mark.parametrize("driver", ["simple", "threading", "asyncio"])
def test_a_chunked_upload_past_the_memory_threshold_reaches_the_app(driver: str) -> None:
    body = bytes(range(256)) * ((SPOOL_MEMORY + 300_000) // 256)
    config = Config(buffer_chunked_body=True, max_body_bytes=4 * SPOOL_MEMORY)
    server = start_live_server(length_reader, driver, config=config)
    try:
        with socket.create_connection((server.host, server.port), timeout=10) as sock:
            sock.sendall(chunked_upload(body, 65536))
            received = bytearray()
            while chunk := sock.recv(65536):
                received += chunk
    finally:
        server.stop()
    (response,) = parse_responses(bytes(received))
    assert response.status_code == 200
    assert response.content == b"%d %d" % (len(body), sum(body) % 1000)


def test_the_drivers_spool_leaves_memory_past_its_threshold() -> None:
    spool = spooled_body_file()
    spool.write(b"x" * SPOOL_MEMORY)
    assert not spool._rolled  # type: ignore[attr-defined]
    spool.write(b"x")
    assert spool._rolled  # type: ignore[attr-defined]
    spool.close()


# -- every driver buffers by default (issue 24 item 3) ------------------------------------------

from tests.contract._drivers import SOCKET_DRIVERS, serve  # noqa: E402

from wsgidrivers._common.settings import Settings, connection_config  # noqa: E402

HEAD = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"


def recording(calls: list[tuple[str | None, bytes]]) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH")
        calls.append((length, environ["wsgi.input"].read(int(length or 0))))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"app"]

    return app


def exchange_raw(address: Any, data: bytes) -> bytes:
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(data)
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
    return bytes(received)


@pytest.mark.parametrize("driver", SOCKET_DRIVERS)
@pytest.mark.parametrize(("tail", "status"), [
    (b"3\r\nabc\r\n0\r\n\r\n", 200),
    (b"40000001\r\n", 413),  # past the default bound (Config.max_buffered_body_bytes, 1 GiB)
    (b"3\r\nabc\r\nzz\r\n", 400),
    (b"3\r\nab", 408),  # then the body stops arriving: io_timeout
], ids=["whole", "over-the-bound", "bad-chunk", "stalled"])
def test_each_driver_buffers_a_chunked_body_by_default(driver: str, tail: bytes, status: int) -> None:
    calls: list[tuple[str | None, bytes]] = []
    with serve(driver, recording(calls), config=None, io_timeout=0.5) as running:
        (response,) = parse_responses(exchange_raw(running.address, HEAD + tail))
    assert response.status_code == status
    assert calls == ([("3", b"abc")] if status == 200 else [])


@pytest.mark.parametrize("given", [None, Config(),
                                   Config(buffer_chunked_body=True, max_buffered_body_bytes=9)])
def test_the_drivers_setting_decides_whatever_the_config_says(given: Config | None) -> None:
    buffered = Settings(config=given).serving_config(multithread=False)
    assert buffered.buffer_chunked_body
    assert buffered.body_spool is spooled_body_file
    streamed = Settings(config=given, stream_chunked_body=True).serving_config(multithread=False)
    assert not streamed.buffer_chunked_body
    # A pre-made connection config (simple_server's class attribute is one) is turned back too.
    again = connection_config(buffered, keep_alive=True, multithread=False, stream_chunked_body=True)
    assert not again.buffer_chunked_body
