"""The asyncio driver's servers: start serving on a loop, stop gracefully, or run on a loop of its own."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any

from wsgidrivers._common.listening import BACKLOG
from wsgidrivers._common.settings import SHUTDOWN_GRACE
from wsgidrivers._common.types import WSGIApplication

from ._listener import WSGIServer, bind_sockets
from ._service import Service

__all__ = ["ServerThread", "create_server", "serve", "service_of", "shutdown"]


async def create_server(
    app: WSGIApplication,
    host: str | None = "127.0.0.1",
    port: int = 8000,
    *,
    sock: Any = None,
    ssl: Any = None,
    backlog: int = BACKLOG,
    reuse_port: bool | None = None,
    **options: Any,
) -> WSGIServer:
    """Start serving ``app`` on the running loop; return its :class:`WSGIServer` (an
    :class:`asyncio.AbstractServer`; ``server.sockets`` are the listening sockets).

    ``sock`` (an already bound socket) replaces ``host``/``port``. ``ssl`` is an
    :class:`ssl.SSLContext`; with it ``wsgi.url_scheme`` is ``https``. ``options`` are
    :class:`Service`'s keywords: ``settings`` (the drivers' one settings object) and single
    settings by name (``config``, ``keep_alive``, ``head_timeout``, ...), ``max_workers``,
    ``access_log``, ``errors``, ``socket_io``, ``executor``. Stop it with :func:`shutdown`
    (``server.close()`` alone stops accepting but leaves the open connections and the worker pool
    alone).
    """
    service = Service(app, tls=ssl is not None, **options)
    loop = asyncio.get_running_loop()
    sockets: list[socket.socket] = []
    try:
        if sock is not None:
            sockets = [sock]
        elif host == "::" and socket.has_dualstack_ipv6():
            # "::" means every address, IPv4 too, as with simple_server (binding it alone would
            # set IPV6_V6ONLY and serve IPv6 only).
            sockets = [socket.create_server(
                ("::", port), family=socket.AF_INET6, backlog=backlog,
                reuse_port=bool(reuse_port), dualstack_ipv6=True)]
        else:
            sockets = bind_sockets(host or None, port, backlog=backlog, reuse_port=reuse_port)
        server = WSGIServer(service, sockets, loop=loop, ssl=ssl, backlog=backlog)
        await server.start_serving()
    except BaseException:
        service.executor.shutdown(wait=False)
        for own in sockets:
            if own is not sock:
                own.close()
        raise
    return server


def service_of(server: asyncio.AbstractServer) -> Service:
    """The :class:`Service` behind a server made by :func:`create_server`."""
    if isinstance(server, WSGIServer):
        return server.service
    raise ValueError(f"{server!r} was not made by wsgidrivers.asyncio.create_server")


async def shutdown(server: asyncio.AbstractServer, grace: float = SHUTDOWN_GRACE) -> None:
    """Stop accepting, close idle connections, let in-flight requests finish within ``grace`` seconds."""
    service = service_of(server)
    server.close()
    await service.shutdown(grace)


async def serve(
    app: WSGIApplication,
    host: str | None = "127.0.0.1",
    port: int = 8000,
    *,
    grace: float = SHUTDOWN_GRACE,
    on_ready: Callable[[WSGIServer], None] | None = None,
    **options: Any,
) -> None:
    """Serve ``app`` until cancelled, then shut down gracefully (see :func:`shutdown`).

    ``options`` are :func:`create_server`'s keywords. ``on_ready(server)`` is called once the socket
    listens (``server.sockets[0].getsockname()`` gives the port when ``port=0``).
    """
    server = await create_server(app, host, port, **options)
    try:
        if on_ready is not None:
            on_ready(server)
        await asyncio.get_running_loop().create_future()  # until cancelled
    finally:
        await shutdown(server, grace)


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class ServerThread:
    """The asyncio driver on an event loop of its own, in a background thread.

    For tests and for programs that are not asyncio themselves::

        with ServerThread(app, port=0) as (host, port):
            ...  # talk to http://host:port/

    Keywords are :func:`create_server`'s. :meth:`stop` shuts down gracefully within ``grace``.
    """

    def __init__(
        self,
        app: WSGIApplication,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        grace: float = 5.0,
        **options: Any,
    ) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._grace = grace
        self._options = options
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=self._run, name="wsgidrivers.asyncio", daemon=True)
        #: ``(host, port)``; for a Unix socket (``sock=``), its path.
        self.address: tuple[str, int] | str = (host, port)
        self.service: Service | None = None

    def start(self, timeout: float = 10.0) -> Any:
        """Start the thread and wait until the socket listens; return :attr:`address`."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the asyncio server did not start")
        if self._error is not None:
            raise self._error
        return self.address

    def stop(self, timeout: float | None = None) -> None:
        """Shut down gracefully and join the thread."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_set_done, stop)
        self._thread.join(self._grace + 5.0 if timeout is None else timeout)

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # handed to the thread that called start()
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        server = await create_server(self._app, self._host, self._port, **self._options)
        self.service = service_of(server)
        sockname = server.sockets[0].getsockname()
        if isinstance(sockname, tuple):
            self.address = (str(sockname[0]), int(sockname[1]))
        else:  # a Unix socket: its path (str, or bytes for an abstract one)
            self.address = sockname.decode() if isinstance(sockname, bytes) else str(sockname)
        self._ready.set()
        try:
            await self._stop
        finally:
            await shutdown(server, self._grace)
