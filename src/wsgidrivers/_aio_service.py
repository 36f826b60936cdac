"""The asyncio driver's :class:`Service`: what every connection of one served application shares."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import IO, Any, Final

from wsgicore import Config, Connection

from ._accesslog import access_message, format_log_line, log_lock, write_stderr
from ._aio_bridge import Outcome
from ._aio_protocol import WSGIProtocol
from ._settings import (
    HEAD_TIMEOUT,
    IO_TIMEOUT,
    KEEP_ALIVE_TIMEOUT,
    LINGER_BYTES,
    LINGER_TIMEOUT,
    check_setting,
)
from ._types import WSGIApplication

__all__ = ["DEFAULT_MAX_WORKERS", "AccessLog", "Service"]

AccessLog = Callable[[str], None]

#: ThreadPoolExecutor's own default: enough threads for apps that wait on I/O, bounded on big machines.
DEFAULT_MAX_WORKERS: Final = min(32, (os.cpu_count() or 1) + 4)


def _driver_config(config: Config | None, *, tls: bool, keep_alive: bool) -> Config:
    base = config if config is not None else Config()
    # PEP 3333: wsgi.multithread must be true when the app may run in several threads at once.
    changes: dict[str, Any] = {"multithread": True}
    if not keep_alive:
        changes["keep_alive"] = False
    if base.clock is None:
        # RFC 9110 §6.6.1: an origin server with a clock MUST send Date.
        changes["clock"] = time.time
    if tls and base.url_scheme == "http":
        changes["url_scheme"] = "https"
    return dataclasses.replace(base, **changes)


class Service:
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
                                   the accept for the first request): closed silently after it
    ``io_timeout``         30.0    how long a worker waits for the client to take response bytes
                                   or send more body bytes; then ``send`` raises
                                   :class:`TimeoutError`, a body read gets the core's 408, and
                                   the connection is closed
    ``linger_timeout``     2.0     after the last response the server half-closes and reads until
                                   the client's EOF for at most this long (RFC 9112 §9.6), so a
                                   client still sending gets the response instead of a RST
    ``linger_bytes``       1 MiB   input discarded at most while lingering
    ====================== ======= ==============================================================

    A bad value is a :class:`ValueError`.
    """

    #: On :meth:`shutdown`, connections waiting for a request (fresh, or kept alive between
    #: requests) are not closed at once: the next request on each, until its head or idle deadline
    #: already running, is served with "Connection: close". A client that sends a request just as
    #: the server stops then gets an answer instead of a reset (the gunicorn workers set it: a
    #: reload must not fail a request). Off: they are closed at once.
    serve_waiting_on_shutdown: bool = False

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
        use_sendfile: bool = True,
        tls: bool = False,
        executor: concurrent.futures.Executor | None = None,
    ) -> None:
        workers = DEFAULT_MAX_WORKERS if max_workers is None else max_workers
        if workers < 1:
            raise ValueError(f"max_workers must be at least 1, not {workers!r}")
        settings = {"keep_alive": keep_alive, "keep_alive_timeout": keep_alive_timeout,
                    "head_timeout": head_timeout, "io_timeout": io_timeout,
                    "linger_timeout": linger_timeout, "linger_bytes": linger_bytes}
        for name, value in settings.items():
            check_setting(name, value)
        self.app = app
        self.config = _driver_config(config, tls=tls, keep_alive=keep_alive)
        self.max_workers = workers
        self.keep_alive_timeout = keep_alive_timeout
        self.head_timeout = head_timeout
        self.io_timeout = io_timeout
        self.linger_timeout = linger_timeout
        self.linger_bytes = linger_bytes
        self.access_log = access_log
        self.errors = errors
        self.use_sendfile = use_sendfile and not tls
        # ``executor``: a pool of the caller's (at most ``max_workers`` threads, its to size).
        self.executor: concurrent.futures.Executor = executor or concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="wsgi-worker"
        )
        self.closing = False
        self.connections: set[WSGIProtocol] = set()
        self._all_closed: asyncio.Future[None] | None = None

    def __call__(self) -> WSGIProtocol:
        return WSGIProtocol(self)

    @property
    def error_stream(self) -> IO[str]:
        """``wsgi.errors``: the stream given to the service, else the current ``sys.stderr``."""
        return self.errors if self.errors is not None else sys.stderr

    def report(self, message: str) -> None:
        """Write a driver problem (with the current traceback, if any) to the error stream."""
        text = message
        if sys.exc_info()[1] is not None:
            text += "\n" + traceback.format_exc()
        with contextlib.suppress(Exception), log_lock:
            self.error_stream.write(text if text.endswith("\n") else text + "\n")

    def log(self, addr: str, message: str) -> None:
        """Write ``addr - - [date] message`` to the access log (as ``log_message`` in wsgiref)."""
        log = self.access_log
        if log is not None:
            try:
                log(format_log_line(addr, message))
            except Exception:
                self.report("wsgidrivers.asyncio: access log failed")

    def log_access(self, addr: str, request_line: str, status: int | str, size: int | str) -> None:
        """The access-log line of one response (as ``log_request`` in wsgiref)."""
        self.log(addr, access_message(request_line, status, size))

    def begin_request(self, conn: Connection, environ: dict[str, Any]) -> WSGIApplication:
        """Called in the worker thread before the application runs for ``environ``; returns the
        application to run. A subclass may count requests, call hooks, or ask ``conn`` to close
        after this response here (the gunicorn workers do)."""
        return self.app

    def end_request(self, environ: dict[str, Any], outcome: Outcome) -> None:
        """Called in the worker thread once the response was sent (a ``ResponseInfo``) or the
        exception that ended it; after :meth:`begin_request`, or after it raised."""

    def add_connection(self, proto: WSGIProtocol) -> None:
        """Called by a protocol when its connection is made."""
        self.connections.add(proto)

    def remove_connection(self, proto: WSGIProtocol) -> None:
        """Called by a protocol when its connection is lost."""
        self.connections.discard(proto)
        waiter = self._all_closed
        if not self.connections and waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def shutdown(self, grace: float = 10.0) -> None:
        """Graceful shutdown of the connections (the listening socket is the caller's to close first).

        Idle connections and connections with a partial head are closed now; requests already handed
        to a worker finish (their connection then closes instead of reading the next request) for at
        most ``grace`` seconds; what is left is aborted. Then the worker pool is shut down without
        waiting: a thread stuck inside an application cannot be stopped from outside.
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
