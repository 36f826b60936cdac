"""The asyncio driver's :class:`Service`: the protocol factory of one served application."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import select
import socket
from collections.abc import Callable
from typing import IO, Any

from wsgicore import Config
from wsgidrivers._common.accesslog import write_stderr
from wsgidrivers._common.settings import (
    HEAD_TIMEOUT,
    IO_TIMEOUT,
    KEEP_ALIVE_TIMEOUT,
    LINGER_BYTES,
    LINGER_TIMEOUT,
    RECEIVE_BUFFER,
    Settings,
)
from wsgidrivers._common.types import WSGIApplication

from ._fresh import FreshConnection, Handover, serve_fresh
from ._protocol import WSGIProtocol
from ._shared import AccessLog, Shared

__all__ = ["Service"]


class Service(Shared):
    """The state shared by every connection of one served application; call it to get a protocol.

    ``loop.create_server(service, host, port)`` works directly. The service owns the worker pool;
    :meth:`shutdown` closes idle connections, lets in-flight requests finish within ``grace`` seconds,
    aborts the rest and shuts the pool down. A service is not reusable after :meth:`shutdown`.

    Settings (the names and defaults of ``wsgidrivers.simple_server``; times in seconds, > 0):

    ====================== ======= ==============================================================
    ``keep_alive``         True    keep connections open between requests (and
                                   ``config.keep_alive`` must allow it too)
    ``keep_alive_timeout`` 5.0     an idle kept-alive connection waits this long for a request
    ``head_timeout``       10.0    deadline for a whole request head, from its first byte (from
                                   the accept for the first request): then the core's answer
                                   (a 408 if part of a head arrived, else none) and a close
    ``io_timeout``         30.0    how long a worker waits for the client to take response bytes
                                   or send more body bytes; then ``send`` raises
                                   :class:`TimeoutError`, a body read gets the core's 408, and
                                   the connection is closed
    ``linger_timeout``     2.0     after the last response the server half-closes and reads until
                                   the client's EOF for at most this long (RFC 9112 §9.6), so a
                                   client still sending gets the response instead of a RST
    ``linger_bytes``       1 MiB   input discarded at most while lingering
    ``use_sendfile``       True    ``wsgi.file_wrapper`` files by sendfile (never over TLS);
                                   None: except to loopback clients
    ``receive_buffer``     256 KiB SO_RCVBUF of a loopback client's connection (None: never set),
                                   as simple_server
    ``socket_io``          True    on asyncio's plain-socket transport, the worker running a
                                   request reads its body and writes its response on the
                                   socket itself (no thread switch per piece) and may serve
                                   the connection's next request if it comes within 1 ms;
                                   False: every byte goes through the loop (as over TLS)
    ====================== ======= ==============================================================

    They are checked as one ``Settings`` (as every driver's): a bad value is a
    :class:`ValueError` naming it, a ``config`` that is not a Config a :class:`TypeError`.

    ``executor``: run the applications in this pool instead of a ThreadPoolExecutor of
    ``max_workers`` threads (the pool is then the caller's to size; :meth:`shutdown` shuts it down).
    For a subclass: :meth:`begin_request` / :meth:`end_request` around each request (in its worker
    thread) and :attr:`serve_waiting_on_shutdown`.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        config: Config | None = None,
        max_workers: int | None = None,
        keep_alive_timeout: float = KEEP_ALIVE_TIMEOUT,
        head_timeout: float = HEAD_TIMEOUT,
        io_timeout: float = IO_TIMEOUT,
        linger_timeout: float = LINGER_TIMEOUT,
        linger_bytes: int = LINGER_BYTES,
        keep_alive: bool = True,
        access_log: AccessLog | None = write_stderr,
        errors: IO[str] | None = None,
        use_sendfile: bool | None = True,
        socket_io: bool = True,
        receive_buffer: int | None = RECEIVE_BUFFER,
        tls: bool = False,
        executor: concurrent.futures.Executor | None = None,
    ) -> None:
        settings = Settings(
            config=config, keep_alive=keep_alive, keep_alive_timeout=keep_alive_timeout,
            head_timeout=head_timeout, io_timeout=io_timeout, linger_timeout=linger_timeout,
            linger_bytes=linger_bytes, use_sendfile=use_sendfile, receive_buffer=receive_buffer,
        )
        super().__init__(app, settings, max_workers=max_workers, access_log=access_log,
                         errors=errors, tls=tls, executor=executor)
        self.socket_io = socket_io
        self._all_closed: asyncio.Future[None] | None = None

    def __call__(self) -> WSGIProtocol:
        return WSGIProtocol(self)

    def serve_accepted(
        self, sock: socket.socket, address: Any, sockname: Any = None, *,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> bool:
        """Loop thread, right after ``accept()``: serve the plain socket ``sock`` (``address`` as
        accept gave it; ``sockname`` the listener's address if it is bound to one, else None).

        A worker thread takes it at once and serves the requests that come with it; it reaches the
        loop (a transport and a protocol) only when it idles (see ``_fresh``). False, and the
        socket untouched, when that does not apply (``socket_io`` off, TLS, shutting down, no
        ``poll``): then give it to ``loop.connect_accepted_socket(service, sock)`` as usual.
        ``loop``: the running loop (saves looking it up).
        """
        if not self._serves_fresh():
            return False
        job = self.fresh_job(sock, address, sockname, loop or asyncio.get_running_loop())
        if job is None:
            return False
        serve, args = job
        try:
            self.run_job(serve, *args)
        except RuntimeError:  # the pool is shut down
            fresh: FreshConnection = args[1]
            fresh.close()
            self.remove_connection(fresh)
        return True

    def fresh_job(
        self, sock: socket.socket, address: Any, sockname: Any, loop: asyncio.AbstractEventLoop
    ) -> tuple[Callable[..., None], tuple[Any, ...]] | None:
        """Any thread: the ``(fn, args)`` that serves a just-accepted plain socket (see
        :meth:`serve_accepted`), or None when that does not apply; the connection counts in
        :attr:`connections` from now on. A pool thread that accepted ``sock`` itself runs it
        (the gunicorn AsyncioWorker's stand-by threads)."""
        if not self._serves_fresh():
            return None
        fresh = FreshConnection(sock, address, sockname, loop.time() + self.head_timeout)
        self.connections.add(fresh)  # one set operation: atomic, from any thread
        return serve_fresh, (self, fresh, loop, self._adopt)

    def _serves_fresh(self) -> bool:
        return self.socket_io and not self.tls and not self.closing and hasattr(select, "poll")

    def _adopt(self, handover: Handover) -> None:
        """Loop: a worker hands over a connection it served first (see ``_fresh``)."""
        loop = asyncio.get_running_loop()
        protocol = WSGIProtocol(self, handover)
        fresh = handover.fresh
        task = loop.create_task(loop.connect_accepted_socket(lambda: protocol, fresh.sock))

        def made(done: asyncio.Task[Any]) -> None:
            if done.cancelled() or done.exception() is not None:
                fresh.close()
                if fresh in self.connections:  # the protocol was not made: it is still counted
                    self.remove_connection(fresh)

        task.add_done_callback(made)

    def connections_changed(self) -> None:
        waiter = self._all_closed
        if not self.connections and waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def shutdown(self, grace: float = 10.0) -> None:
        """Graceful shutdown of the connections (the listening socket is the caller's to close first).

        Idle connections and connections with a partial head are closed now (with
        :attr:`serve_waiting_on_shutdown`: after their next request); requests already handed
        to a worker finish, and so do those already received behind them (the last response says
        ``Connection: close``; no request is waited for), for at most ``grace`` seconds; what is
        left is aborted. Then the worker pool is shut down without waiting: a thread stuck inside
        an application cannot be stopped from outside.
        """
        loop = asyncio.get_running_loop()
        self.closing = True
        for proto in list(self.connections):
            proto.begin_shutdown()
        if self.connections:
            self._all_closed = loop.create_future()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._all_closed), timeout=max(grace, 0.0))
        for proto in list(self.connections):
            proto.abort()
        # Let the aborted transports run connection_lost, which wakes workers blocked in send/fetch.
        for _ in range(3):
            await asyncio.sleep(0)
        self.executor.shutdown(wait=False, cancel_futures=True)
