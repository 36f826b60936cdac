"""``create_server`` and its :class:`WSGIServer`: the driver's own accept loop, an
:class:`asyncio.AbstractServer`, that gives a plain connection to a worker straight from the accept
and any other (TLS, ``socket_io=False``) to the loop's transport."""

from __future__ import annotations

import asyncio
import errno
import io
import socket
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from support.certs import client_context, server_context
from wsgidrivers._common import listening
from wsgidrivers.asyncio import Service, WSGIServer, create_server, serve, shutdown
from wsgidrivers.asyncio._server import service_of

from .aio_support import TIMEOUT, Environ, StartResponse, hello_app

REQUEST = b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"


async def fetch(port: int, host: str = "127.0.0.1", ssl_context: Any = None) -> bytes:
    reader, writer = await asyncio.open_connection(host, port, ssl=ssl_context)
    writer.write(REQUEST)
    data = await asyncio.wait_for(reader.read(), TIMEOUT)
    writer.close()
    return data


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 4 * TIMEOUT))


def port_of(server: WSGIServer) -> int:
    return int(server.sockets[0].getsockname()[1])


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What ``Service.serve_accepted`` answered for each connection the server accepted (True: a
    worker took it from the accept; whether it then reaches the loop depends on when its request
    comes, which test_aio_fresh covers)."""
    answers: list[bool] = []
    original = Service.serve_accepted

    def recording(self: Service, *args: Any, **kwargs: Any) -> bool:
        answer = original(self, *args, **kwargs)
        answers.append(answer)
        return answer

    monkeypatch.setattr(Service, "serve_accepted", recording)
    return answers


def test_create_server_gives_plain_connections_to_a_worker_from_the_accept(taken: list[bool]) -> None:
    async def main() -> None:
        server = await create_server(hello_app, "127.0.0.1", 0, access_log=None)
        assert isinstance(server, asyncio.AbstractServer)
        assert server.is_serving()
        assert server.get_loop() is asyncio.get_running_loop()
        try:
            for _ in range(3):
                assert (await fetch(port_of(server))).startswith(b"HTTP/1.1 200 ")
        finally:
            await shutdown(server, 1.0)
        assert not server.is_serving()
        assert server.sockets == ()

    run(main)
    assert taken == [True] * 3


def test_without_socket_io_every_connection_gets_a_loop_protocol(taken: list[bool]) -> None:
    seen: list[str] = []
    servers: list[WSGIServer] = []

    def recording(environ: Environ, start_response: StartResponse) -> list[bytes]:
        seen.extend(type(c).__name__ for c in servers[0].service.connections)
        return hello_app(environ, start_response)  # type: ignore[return-value]

    async def main() -> None:
        server = await create_server(recording, "127.0.0.1", 0, access_log=None, socket_io=False)
        servers.append(server)
        try:
            assert (await fetch(port_of(server))).startswith(b"HTTP/1.1 200 ")
        finally:
            await shutdown(server, 1.0)

    run(main)
    assert taken == [False]
    assert seen == ["WSGIProtocol"]


def test_tls_goes_through_the_loops_tls_transport(tmp_path: Path, taken: list[bool]) -> None:
    context = server_context(tmp_path)
    client = client_context()
    schemes: list[str] = []

    def scheme(environ: Environ, start_response: StartResponse) -> list[bytes]:
        schemes.append(environ["wsgi.url_scheme"])
        return hello_app(environ, start_response)  # type: ignore[return-value]

    async def main() -> None:
        server = await create_server(scheme, "127.0.0.1", 0, ssl=context, access_log=None)
        try:
            # A plain client's bytes fail the handshake; the server goes on serving TLS.
            assert await fetch(port_of(server)) == b""
            for _ in range(2):
                assert (await fetch(port_of(server), ssl_context=client)).startswith(b"HTTP/1.1 200 ")
        finally:
            await shutdown(server, 1.0)

    run(main)
    assert schemes == ["https", "https"]
    assert taken == []  # never offered to a worker: the handshake is the loop's TLS transport's


def test_close_stops_accepting_and_leaves_a_request_in_progress_to_shutdown() -> None:
    entered, release = threading.Event(), threading.Event()

    def slow(environ: Environ, start_response: StartResponse) -> list[bytes]:
        entered.set()
        release.wait(TIMEOUT)
        return hello_app(environ, start_response)  # type: ignore[return-value]

    async def main() -> None:
        server = await create_server(slow, "127.0.0.1", 0, access_log=None)
        port = port_of(server)
        pending = asyncio.ensure_future(fetch(port))
        await asyncio.to_thread(entered.wait, TIMEOUT)
        server.close()
        await server.wait_closed()
        with pytest.raises(OSError):
            await fetch(port)
        release.set()
        assert (await pending).startswith(b"HTTP/1.1 200 ")
        await service_of(server).shutdown(1.0)

    run(main)


def test_serve_forever_cancelled_closes_and_async_with_closes() -> None:
    async def main() -> None:
        server = await create_server(hello_app, "127.0.0.1", 0, access_log=None)
        port = port_of(server)
        task = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="already"):
            await server.serve_forever()
        assert (await fetch(port)).startswith(b"HTTP/1.1 200 ")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not server.is_serving()
        with pytest.raises(OSError):
            await fetch(port)
        with pytest.raises(RuntimeError, match="closed"):
            await server.serve_forever()
        await service_of(server).shutdown(1.0)

        again = await create_server(hello_app, "127.0.0.1", 0, access_log=None)
        async with again:
            assert (await fetch(port_of(again))).startswith(b"HTTP/1.1 200 ")
        assert not again.is_serving()
        assert again.sockets == ()
        await service_of(again).shutdown(1.0)

    run(main)


def test_a_host_name_binds_each_of_its_addresses() -> None:
    async def main() -> None:
        server = await create_server(hello_app, "localhost", 0, access_log=None)
        try:
            families = {sock.family for sock in server.sockets}
            expected = {info[0] for info in socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM)}
            assert families == expected
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                assert (await fetch(port, host)).startswith(b"HTTP/1.1 200 ")
        finally:
            await shutdown(server, 1.0)

    run(main)


def test_a_failing_accept_rests_the_listener_and_then_serves_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(listening, "ACCEPT_PAUSE", 0.2)
    failures = [OSError(errno.EMFILE, "Too many open files")]

    class Failing(socket.socket):
        def accept(self) -> tuple[socket.socket, Any]:
            if failures:
                raise failures.pop()
            return super().accept()

    errors = io.StringIO()

    async def main() -> None:
        listener = Failing(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        server = await create_server(hello_app, sock=listener, access_log=None, errors=errors)
        try:
            # The first connection's accept fails: it waits in the backlog while the listener
            # rests (the loop is not spun on a listener that stays readable), then it is served.
            loop = asyncio.get_running_loop()
            started = loop.time()
            assert (await fetch(port_of(server))).startswith(b"HTTP/1.1 200 ")
            assert loop.time() - started >= 0.15
        finally:
            await shutdown(server, 1.0)

    run(main)
    assert "accept() failed" in errors.getvalue()
    assert "Too many open files" in errors.getvalue()
    assert "Traceback" not in errors.getvalue()  # one line: a limit is no bug
    assert "accepting again" in errors.getvalue()


def test_serve_hands_on_ready_the_server() -> None:
    ready: list[WSGIServer] = []

    async def main() -> None:
        task = asyncio.ensure_future(serve(hello_app, "127.0.0.1", 0, on_ready=ready.append,
                                           access_log=None, grace=1.0))
        while not ready:
            await asyncio.sleep(0.01)
        assert (await fetch(port_of(ready[0]))).startswith(b"HTTP/1.1 200 ")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not ready[0].is_serving()

    run(main)


class _NoReadersLoop(asyncio.SelectorEventLoop):
    """A loop that cannot watch sockets, as Windows' proactor loop."""

    def add_reader(self, *args: Any) -> None:
        raise NotImplementedError


def test_a_loop_without_add_reader_is_served_through_asyncios_servers(taken: list[bool]) -> None:
    async def main() -> None:
        server = await create_server(hello_app, "127.0.0.1", 0, access_log=None)
        assert server.is_serving()
        port = port_of(server)
        try:
            assert (await fetch(port)).startswith(b"HTTP/1.1 200 ")
        finally:
            await shutdown(server, 1.0)
        assert not server.is_serving()
        with pytest.raises(OSError):
            await fetch(port)

    loop = _NoReadersLoop()
    try:
        loop.run_until_complete(asyncio.wait_for(main(), 4 * TIMEOUT))
    finally:
        loop.close()
    assert taken == []  # every connection got asyncio's transport at the accept


def test_a_port_in_use_is_a_clear_error() -> None:
    async def main() -> None:
        with socket.create_server(("127.0.0.1", 0)) as taken_port:
            port = taken_port.getsockname()[1]
            in_use = r"error while attempting to bind on address \('127\.0\.0\.1', \d+\)"
            with pytest.raises(OSError, match=in_use):
                await create_server(hello_app, "127.0.0.1", port, access_log=None)

    run(main)


def test_connect_accepted_closes_a_socket_that_got_no_transport_and_reports_every_outcome(
        tmp_path: Path) -> None:
    """The one connect step of WSGIServer and the gunicorn AsyncioWorker: ``done`` hears of every
    attempt (the worker counts its pending connections down there), and a socket that never got a
    transport (its attempt cancelled by a stopping loop) is closed, not leaked."""
    context = server_context(tmp_path)
    finished: list[asyncio.Task[Any]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        service = Service(hello_app, access_log=None)
        cancelled, _ = socket.socketpair()
        task = service.connect_accepted(cancelled, loop=loop, ssl=context,
                                        done=finished.append)
        task.cancel()
        await asyncio.sleep(0.01)
        assert cancelled.fileno() == -1
        assert finished == [task]
        failed, client_side = socket.socketpair()
        with client_side:
            task = service.connect_accepted(failed, loop=loop, ssl=context,
                                            done=finished.append)
            client_side.sendall(REQUEST)  # not a TLS ClientHello: the handshake fails
            client_side.shutdown(socket.SHUT_WR)
            with pytest.raises(Exception):  # noqa: B017 - asyncio's SSL error, any of them
                await asyncio.wait_for(task, TIMEOUT)
            await asyncio.sleep(0)  # the done callback runs after the awaiting task wakes
        assert failed.fileno() == -1
        assert len(finished) == 2
        assert finished[1].exception() is not None
        plain, client_side = socket.socketpair()
        with client_side:
            task = service.connect_accepted(plain, loop=loop, ssl=None,
                                            done=finished.append)
            transport, _ = await asyncio.wait_for(task, TIMEOUT)
            await asyncio.sleep(0)
            assert len(finished) == 3
            assert finished[2].exception() is None
            assert plain.gettimeout() == 0.0  # made non-blocking for the loop
            transport.close()
        await service.shutdown(1.0)

    run(main)
