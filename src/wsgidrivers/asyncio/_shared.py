"""What every connection of one served application shares (asyncio driver): the settings, the
effective Config, the worker pool, the logs and the set of open connections.

Kept apart from :class:`~._service.Service` (which makes the protocols) so that the connection's
modules can name it without importing the service: no import cycle.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import sys
import traceback
from collections.abc import Callable
from typing import IO, Final, Protocol

from wsgidrivers._common.accesslog import access_message, format_log_line, log_lock
from wsgidrivers._common.settings import Settings
from wsgidrivers._common.types import WSGIApplication

__all__ = ["DEFAULT_MAX_WORKERS", "AccessLog", "Closable", "Shared"]

AccessLog = Callable[[str], None]

#: ThreadPoolExecutor's own default: enough threads for apps that wait on I/O, bounded on big machines.
DEFAULT_MAX_WORKERS: Final = min(32, (os.cpu_count() or 1) + 4)


class Closable(Protocol):
    """What the service asks of a connection when it shuts down."""

    def begin_shutdown(self) -> None: ...

    def abort(self) -> None: ...


class Shared:
    """The state shared by every connection of one served application (see :class:`Service`)."""

    def __init__(
        self,
        app: WSGIApplication,
        settings: Settings,
        *,
        max_workers: int | None,
        access_log: AccessLog | None,
        errors: IO[str] | None,
        tls: bool,
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
        # Over TLS the bytes must go through the SSL transport, never straight from the file.
        self.tls = tls
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="wsgi-worker"
        )
        self.closing = False
        self.connections: set[Closable] = set()

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

    def add_connection(self, proto: Closable) -> None:
        """Called by a protocol when its connection is made."""
        self.connections.add(proto)

    def remove_connection(self, proto: Closable) -> None:
        """Called by a protocol when its connection is lost."""
        self.connections.discard(proto)
        self.connections_changed()

    def connections_changed(self) -> None:
        """Hook: the set of connections shrank (the service waits for it to empty)."""
