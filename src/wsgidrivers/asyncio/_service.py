"""The asyncio driver's :class:`Service`: the protocol factory of one served application."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import select
import socket
from collections.abc import Callable
from typing import IO, Any

from wsgidrivers._common.accesslog import write_stderr
from wsgidrivers._common.settings import SHUTDOWN_GRACE, Settings
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

    ``settings``: the drivers' one settings object (``wsgidrivers._common.settings.Settings``,
    where each default is written and explained; None: every default), and ``overrides``, single
    settings by name over it: ``config``, ``keep_alive``, ``keep_alive_timeout``,
    ``head_timeout`` (from the accept for the first request, from its first byte for a later one;
    then the core's answer, a 408 if part of a head arrived, and a close), ``io_timeout`` (a
    worker's wait for the client to take response bytes or send body bytes; then ``send`` raises
    :class:`TimeoutError`, a body read gets the core's 408), ``linger_timeout``/``linger_bytes``,
    ``use_sendfile`` (never over TLS) and ``receive_buffer``. A bad value is a
    :class:`ValueError` naming it, an unknown name or a ``config`` that is not a Config a
    :class:`TypeError`.

    ``socket_io`` (the asyncio driver's own, on by default): on asyncio's plain-socket transport,
    the worker running a request reads its body and writes its response on the socket itself (no
    thread switch per piece) and may serve the connection's next request if it comes within a millisecond;
    off: every byte goes through the loop (as over TLS).

    ``executor``: run the applications in this pool instead of a ThreadPoolExecutor of
    ``max_workers`` threads (the pool is then the caller's to size; :meth:`shutdown` shuts it down).
    For a subclass: :meth:`begin_request` / :meth:`end_request` around each request (in its worker
    thread) and :attr:`serve_waiting_on_shutdown`.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        settings: Settings | None = None,
        max_workers: int | None = None,
        access_log: AccessLog | None = write_stderr,
        errors: IO[str] | None = None,
        socket_io: bool = True,
        tls: bool = False,
        executor: concurrent.futures.Executor | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__(app, Settings.of("Service()", overrides, base=settings),
                         max_workers=max_workers, access_log=access_log, errors=errors, tls=tls,
                         executor=executor, socket_io=socket_io)
        self._all_closed: asyncio.Future[None] | None = None
        self._grace_cut = False

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

    def connect_accepted(
        self, sock: socket.socket, *, loop: asyncio.AbstractEventLoop, ssl: Any = None,
        done: Callable[[asyncio.Task[Any]], object] | None = None,
    ) -> asyncio.Task[Any]:
        """Loop thread: give the accepted ``sock`` a transport and this service as its protocol on
        ``loop`` (TLS with ``ssl``, the handshake bounded by ``head_timeout``), as a task;
        ``done(task)`` once that has ended. ``sock`` is closed when that failed or was cancelled:
        asyncio closes it only when it had made a transport (a failed TLS handshake), not when the
        attempt ended before (a stopping loop). For a server with its own accept loop."""
        sock.setblocking(False)
        options: dict[str, Any] = {}
        if ssl is not None:
            options = {"ssl": ssl, "ssl_handshake_timeout": self.head_timeout}
        task = loop.create_task(loop.connect_accepted_socket(self, sock, **options))

        def connected(finished: asyncio.Task[Any]) -> None:
            if finished.cancelled() or finished.exception() is not None:
                sock.close()
            if done is not None:
                done(finished)

        task.add_done_callback(connected)
        return task

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

    def cut_grace_short(self) -> None:
        """Loop: end the grace of :meth:`shutdown` now (running, or still to come): what is left is
        aborted at once (the command line's second Ctrl-C)."""
        self._grace_cut = True
        waiter = self._all_closed
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def grace_over(self) -> None:
        """Hook, in the loop: :meth:`shutdown`'s grace is over and connections are left; they are
        aborted when this returns (the command line reports the requests it cuts off here)."""

    async def shutdown(self, grace: float = SHUTDOWN_GRACE) -> None:
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
        if self.connections and not self._grace_cut:
            self._all_closed = loop.create_future()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._all_closed), timeout=max(grace, 0.0))
        if self.connections:
            self.grace_over()
        for proto in list(self.connections):
            proto.abort()
        # Let the aborted transports run connection_lost, which wakes workers blocked in send/fetch.
        for _ in range(3):
            await asyncio.sleep(0)
        self.executor.shutdown(wait=False, cancel_futures=True)
