"""What every connection of one served application shares (asyncio driver): the settings, the
effective Config, the worker pool, the logs and the set of open connections.

Kept apart from :class:`~._service.Service` (which makes the protocols) so that the connection's
modules can name it without importing the service: no import cycle.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import sys
import traceback
from collections.abc import Callable
from typing import IO, Any, Final, Protocol

from wsgicore import Connection
from wsgidrivers._common.accesslog import access_message, format_log_line, log_lock
from wsgidrivers._common.settings import Settings
from wsgidrivers._common.types import WSGIApplication
from wsgidrivers._common.workerpool import WorkerPool

from ._bridge import Outcome

__all__ = ["DEFAULT_MAX_WORKERS", "AccessLog", "Closable", "Shared"]

AccessLog = Callable[[str], None]

#: ThreadPoolExecutor's own default: enough threads for apps that wait on I/O, bounded on big machines.
DEFAULT_MAX_WORKERS: Final = min(32, (os.cpu_count() or 1) + 4)


class Closable(Protocol):
    """What the service asks of a connection when it shuts down."""

    def begin_shutdown(self) -> None: ...

    def abort(self) -> None: ...


class Shared:
    """The state shared by every connection of one served application (see :class:`Service`).

    Hooks for a subclass (the gunicorn worker's is one): :meth:`begin_request`,
    :meth:`end_request`, :meth:`connections_changed`, and :attr:`serve_waiting_on_shutdown`.
    """

    #: On shutdown, connections waiting for a request (fresh, or kept alive between requests) are
    #: not closed at once: the next request on each, until its head or idle deadline already
    #: running, is answered with "Connection: close". A client that sends a request just as the
    #: server stops then gets an answer instead of a reset (the gunicorn workers set it: a reload
    #: must not fail a request). Off: they are closed at once.
    serve_waiting_on_shutdown: bool = False

    #: Set (loop thread) while the loop must hear of every connection a worker closes without it
    #: (``_fresh``): :meth:`connections_changed` is then called in the loop for each, as it is
    #: always while shutting down. Else such a connection leaves :attr:`connections` silently,
    #: with no wake-up of the loop (the gunicorn worker sets it while it stops accepting at its
    #: ``--worker-connections``).
    watch_closes: bool = False

    #: Whether a worker does its request's I/O on the socket itself, on asyncio's plain-socket
    #: transport (see ``_socketio``); else every byte goes through the loop.
    socket_io: bool

    def __init__(
        self,
        app: WSGIApplication,
        settings: Settings,
        *,
        max_workers: int | None,
        access_log: AccessLog | None,
        errors: IO[str] | None,
        tls: bool,
        executor: concurrent.futures.Executor | None = None,
        socket_io: bool,
    ) -> None:
        workers = DEFAULT_MAX_WORKERS if max_workers is None else max_workers
        if type(workers) is not int or workers < 1:
            raise ValueError(f"max_workers must be an int >= 1, not {workers!r}")
        self.app = app
        self.settings = settings
        # PEP 3333: wsgi.multithread, the apps run in a pool of threads.
        self.config = settings.serving_config(multithread=True, secure=tls)
        self.max_workers = workers
        self.keep_alive_timeout = settings.keep_alive_timeout
        self.head_timeout = settings.head_timeout
        self.io_timeout = settings.io_timeout
        self.linger_timeout = settings.linger_timeout
        self.linger_bytes = settings.linger_bytes
        self.access_log = access_log
        self.errors = errors
        self.socket_io = socket_io
        # Over TLS the bytes must go through the SSL transport, never straight from the file.
        self.tls = tls
        # ``executor``: a pool of the caller's, at most ``max_workers`` threads (its to size).
        self.executor: concurrent.futures.Executor = executor or WorkerPool(workers, "wsgi-worker")
        self.closing = False
        self.connections: set[Closable] = set()

    def run_job(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` in the worker pool (RuntimeError once it is shut down)."""
        executor = self.executor
        if isinstance(executor, WorkerPool):
            executor.run(fn, *args)
        else:
            executor.submit(fn, *args)

    @property
    def queues_turns(self) -> bool:
        """Whether a worker that gives its thread up to a waiting job queues its connection's next
        turn (``_worker.Later``) instead of handing it to the loop: only with our own pool."""
        return isinstance(self.executor, WorkerPool)

    def may_serve_inline(self) -> bool:
        """Whether a worker may go on with its connection's next request: only with our own pool,
        while no job waits for a thread (a caller's executor cannot tell)."""
        executor = self.executor
        return isinstance(executor, WorkerPool) and executor.backlog == 0

    def sendfile_for(self, host: str) -> bool:
        """Whether a ``wsgi.file_wrapper`` body goes to a client at ``host`` by the loop's
        sendfile (``use_sendfile``; never over TLS)."""
        return not self.tls and self.settings.sendfile_for(host)

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
        """Hook, in the worker thread before the application runs for ``environ``: returns the
        application to run. A subclass may count requests, call hooks, or ask ``conn`` to close
        after this response here (the gunicorn workers do)."""
        return self.app

    def end_request(self, environ: dict[str, Any], outcome: Outcome) -> None:
        """Hook, in the worker thread once the response was sent (``outcome`` a ``ResponseInfo``)
        or ended by an exception (``outcome`` that exception), before the connection goes back to
        the loop; also when :meth:`begin_request` raised."""

    def add_connection(self, proto: Closable) -> None:
        """Called by a protocol when its connection is made."""
        self.connections.add(proto)

    def remove_connection(self, proto: Closable) -> None:
        """Called by a protocol when its connection is lost."""
        self.connections.discard(proto)
        self.connections_changed()

    def closed_by_worker(self, proto: Closable, loop: asyncio.AbstractEventLoop) -> None:
        """Worker thread: ``proto`` (a connection that never reached the loop) is closed. It leaves
        :attr:`connections` here (one set operation, atomic); the loop is woken for it only when
        it asked to be (:attr:`watch_closes`) or is waiting for the connections to end."""
        self.connections.discard(proto)
        if self.closing or self.watch_closes:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody left to tell
                loop.call_soon_threadsafe(self.connections_changed)

    def connections_changed(self) -> None:
        """Hook: the set of connections shrank (the service waits for it to empty)."""
