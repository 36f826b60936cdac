"""Live servers for tests: a real driver on a loopback port, in a background thread.

``start_live_server(app)`` binds port 0 (the kernel picks a free port: no races between parallel
test processes), and returns once the socket listens, so the first connection is accepted at once
(no sleep, no polling). ``stop()`` ends it in milliseconds: the accept loop is woken through a
socket pair instead of a poll interval, and connections that sit idle on keep-alive are shut down
for reading, so their threads see EOF instead of waiting out ``keep_alive_timeout``. Every thread
the server started is joined, and ``stop()`` raises if one does not end.

Logs go to the ``wsgidrivers.testing`` logger (access lines at INFO, ``wsgi.errors`` text and
tracebacks at ERROR), which pytest captures per test. Exceptions the app raises are recorded
(``errors``) as well as answered with the driver's 500, so the test that caused them can fail with
their traceback.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO, cast

from wsgicore import Config
from wsgidrivers._common.workerpool import WorkerPool
from wsgidrivers.asyncio import ServerThread
from wsgidrivers.simple_server import WSGIServer

from ._capture import LogStream, Recorder, logger
from ._socketserver import SocketServerRunner, ThreadingServer

__all__ = ["DRIVERS", "LiveServer", "LiveServerError", "start_live_server"]

DRIVERS = ("threading", "simple", "asyncio")

WSGIApp = Callable[..., Iterable[bytes]]


class LiveServerError(Exception):
    """A live server's app raised (the first exception is the ``__cause__``), or the server did not
    stop cleanly."""


class LiveServer:
    """A running server: ``url`` (``http://127.0.0.1:PORT``), ``host``, ``port``, ``driver``;
    ``errors`` holds the exceptions the app raised. Use :func:`start_live_server` to make one;
    ``with`` stops it."""

    def __init__(self, driver: str, raise_app_exceptions: bool) -> None:
        self.driver = driver
        self.raise_app_exceptions = raise_app_exceptions
        self.host = ""
        self.port = 0
        self.errors: list[BaseException] = []
        self.threads: set[threading.Thread] = set()
        self.stopped = False
        self._lock = threading.Lock()
        self._stop: Callable[[float], None] = lambda deadline: None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def add_thread(self, thread: threading.Thread) -> None:
        """Remember a thread the server runs, to join it at stop()."""
        with self._lock:
            self.threads.add(thread)

    def running_threads(self) -> list[threading.Thread]:
        with self._lock:
            return [t for t in self.threads if t.is_alive()]

    def record(self, exc: BaseException) -> None:
        with self._lock:
            self.errors.append(exc)

    def take_errors(self) -> list[BaseException]:
        """The app's exceptions recorded since the last call (and forget them)."""
        with self._lock:
            errors, self.errors = self.errors, []
        return errors

    def check(self) -> None:
        """Raise :class:`LiveServerError` (from the first one) if the app raised since the last
        check and ``raise_app_exceptions`` is on."""
        errors = self.take_errors()
        if errors and self.raise_app_exceptions:
            raise LiveServerError(f"the app raised in the live server at {self.url}: "
                                  f"{errors[0]!r}" + (f" (and {len(errors) - 1} more)"
                                                      if len(errors) > 1 else "")) from errors[0]

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, end every connection, join every thread the server started (raising
        :class:`LiveServerError` if one is still running after ``timeout`` seconds, e.g. inside
        an app that hangs). Calling it again does nothing."""
        if self.stopped:
            return
        self.stopped = True
        deadline = time.monotonic() + timeout
        self._stop(deadline)
        alive = []
        for thread in self.running_threads():
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    alive.append(thread.name)
        if alive:
            raise LiveServerError(f"live server {self.url}: threads still running after {timeout} s "
                                  f"(an app that does not return?): {alive}")

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<LiveServer {self.driver} {self.url}{' stopped' if self.stopped else ''}>"


def start_live_server(
    app: WSGIApp,
    driver: str = "threading",
    *,
    host: str = "127.0.0.1",
    config: Config | None = None,
    raise_app_exceptions: bool = True,
    **settings: Any,
) -> LiveServer:
    """Serve ``app`` on ``host`` at a free port, in a background thread; return once it accepts.

    ``driver``: ``"threading"`` (``simple_server.ThreadingWSGIServer``: a thread per connection,
    keep-alive on), ``"simple"`` (``simple_server.WSGIServer``: one connection at a time, as
    wsgiref) or ``"asyncio"`` (``wsgidrivers.asyncio.ServerThread``). ``config`` and ``settings``
    are the driver's (``keep_alive``, ``head_timeout``, ..., ``max_workers`` for asyncio).
    ``raise_app_exceptions``: :meth:`LiveServer.check` (which the pytest plugin calls after each
    test) raises the app's exceptions. Stop it with :meth:`LiveServer.stop` or ``with``.
    """
    if driver not in DRIVERS:
        raise ValueError(f"driver must be one of {DRIVERS}, not {driver!r}")
    live = LiveServer(driver, raise_app_exceptions)
    wrapped = Recorder(app, live)
    if driver == "asyncio":
        errors = LogStream()
        thread = ServerThread(wrapped, host, 0, config=config, errors=cast(TextIO, errors),
                              access_log=lambda line: logger.info("%s", line.rstrip("\n")),
                              grace=settings.pop("grace", 1.0), **settings)
        before = set(threading.enumerate())
        live.host, live.port = thread.start()
        # The loop's thread, so that stop() joins and checks it too (ServerThread keeps it private;
        # it is the one with the driver's thread name that start() made).
        for started in set(threading.enumerate()) - before:
            if started.name == "wsgidrivers.asyncio":
                live.add_thread(started)

        def stop(deadline: float) -> None:
            thread.stop(max(0.0, deadline - time.monotonic()))
            # The pool's threads too, also one that never ran the app (started for a job another
            # thread took first): stop() joins them, so none is left running after it.
            executor = thread.service.executor if thread.service is not None else None
            if isinstance(executor, WorkerPool):  # the driver's own (a given one is the caller's)
                for worker in executor.threads():
                    live.add_thread(worker)

        live._stop = stop
        return live
    server_class: type[WSGIServer] = ThreadingServer if driver == "threading" else WSGIServer
    runner = SocketServerRunner(live, wrapped, server_class, host=host, config=config,
                                 settings=settings)
    live._stop = runner.stop
    return live
