"""The asyncio Service's extension points the gunicorn workers use: per-request hooks, a pool of the
caller's, and serving waiting connections during a shutdown."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Iterable
from typing import Any

from wsgicore import Connection, ResponseInfo
from wsgidrivers.asyncio import ServerThread, Service

from .aio_support import Environ, StartResponse, connect, hello_app, read_response, wait_closed


def test_begin_and_end_request_hooks_and_executor() -> None:
    seen: list[Any] = []

    class Hooked(Service):
        def begin_request(self, conn: Connection, environ: dict[str, Any]) -> Any:
            seen.append(("begin", environ["PATH_INFO"], threading.current_thread().name))
            conn.close_after_response()

            def replaced(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
                start_response("200 OK", [("Content-Length", "8")])
                return [b"replaced"]

            return replaced

        def end_request(self, environ: dict[str, Any], outcome: Any) -> None:
            seen.append(("end", environ["PATH_INFO"], outcome))

    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="callers-pool")
    service = Hooked(hello_app, access_log=None, executor=pool)
    assert service.executor is pool
    import asyncio

    async def main() -> bytes:
        server = await asyncio.get_running_loop().create_server(service, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /p HTTP/1.1\r\nHost: t\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), 5)  # the hook closed the connection after it
        writer.close()
        server.close()
        await service.shutdown(1.0)
        return data

    data = asyncio.run(main())
    assert data.startswith(b"HTTP/1.1 200 ")
    assert b"Connection: close" in data
    assert data.endswith(b"replaced")
    assert seen[0][:2] == ("begin", "/p")
    assert seen[0][2].startswith("callers-pool")
    assert seen[1][:2] == ("end", "/p")
    assert isinstance(seen[1][2], ResponseInfo)
    assert seen[1][2].status == 200


def test_serve_waiting_on_shutdown() -> None:
    server = ServerThread(hello_app, access_log=None, grace=5.0)
    address = server.start()
    fresh = connect(address)
    try:
        time.sleep(0.1)  # accepted
        service = server.service
        assert service is not None
        service.serve_waiting_on_shutdown = True  # type: ignore[misc]
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        time.sleep(0.3)  # shutting down; the fresh connection is not closed...
        fresh.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        data, _ = wait_closed(fresh)  # ...its request is answered, then it closes
        assert data.startswith(b"HTTP/1.1 200 ")
        assert b"Connection: close" in data
        stopper.join(10)
        assert not stopper.is_alive()
    finally:
        fresh.close()


def test_serve_waiting_on_shutdown_answers_the_request_after_the_one_in_progress() -> None:
    # The response in progress when shutdown begins was started by the worker and may not say
    # "close": its client may send the next request at once, and that one is answered too.
    started, release = threading.Event(), threading.Event()

    def slow_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/slow":
            started.set()
            release.wait(5)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    server = ServerThread(slow_app, access_log=None, grace=5.0)
    address = server.start()
    sock = connect(address)
    stopper = threading.Thread(target=server.stop)
    try:
        service = server.service
        assert service is not None
        service.serve_waiting_on_shutdown = True  # type: ignore[misc]
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        assert started.wait(5)
        stopper.start()
        time.sleep(0.2)  # shutting down, the request still in the application
        release.set()
        with sock.makefile("rb") as f:
            first = read_response(f)
            assert (first.status, first.body) == (200, b"ok")
            assert "close" not in first.headers.get("connection", "")
            sock.sendall(b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
            second = read_response(f)
        assert (second.status, second.body) == (200, b"ok")
        assert second.headers["connection"] == "close"
        rest, _ = wait_closed(sock)
        assert rest == b""
        stopper.join(10)
        assert not stopper.is_alive()
    finally:
        release.set()
        sock.close()
