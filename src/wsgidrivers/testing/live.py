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

import contextlib
import io
import logging
import selectors
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO, cast

from wsgicore import Config, Problem
from wsgidrivers.asyncio import ServerThread
from wsgidrivers.simple_server import (
    ServerHandler,
    ThreadingWSGIServer,
    WSGIRequestHandler,
    WSGIServer,
    make_server,
)

__all__ = ["DRIVERS", "LiveServer", "LiveServerError", "start_live_server"]

DRIVERS = ("threading", "simple", "asyncio")

#: Access lines (INFO) and everything written to ``wsgi.errors`` (ERROR) of live servers.
logger = logging.getLogger("wsgidrivers.testing")
if logger.level == logging.NOTSET:
    # INFO, so that pytest's capture (whose handler takes every level) shows access lines without
    # the user lowering the root logger's level. Set another level on this logger to change it.
    logger.setLevel(logging.INFO)

WSGIApp = Callable[..., Iterable[bytes]]


class LiveServerError(Exception):
    """A live server's app raised (the first exception is the ``__cause__``), or the server did not
    stop cleanly."""


class _LogStream(io.TextIOBase):
    """A text stream (``wsgi.errors``) whose text goes to :data:`logger` at ERROR: each write that
    ends a line is one record (the core and the asyncio driver write a report with its traceback in
    one write); text without a newline waits for one, or for flush(). A buffer per thread."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        buffer: list[str] | None = getattr(self._local, "buffer", None)
        if buffer is None:
            buffer = self._local.buffer = []
        buffer.append(text)
        if text.endswith("\n"):
            self.flush()
        return len(text)

    def flush(self) -> None:
        buffer: list[str] | None = getattr(self._local, "buffer", None)
        if buffer:
            text = "".join(buffer).rstrip("\n")
            buffer.clear()
            if text:
                logger.error("%s", text)


class _Recorder:
    """WSGI middleware that records the app's exceptions and the threads that ran it; the
    exceptions propagate unchanged, so the driver answers as it always does."""

    def __init__(self, app: WSGIApp, live: LiveServer) -> None:
        self.app = app
        self.live = live

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        live = self.live
        live.add_thread(threading.current_thread())
        try:
            result = self.app(environ, start_response)
        except BaseException as exc:
            live.record(exc)
            raise
        # A list cannot fail while iterated, and a file_wrapper must stay one (it is sent with
        # sendfile, and a one-item list gets a Content-Length): only other iterables are wrapped.
        file_wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(result, list | tuple) or (
                isinstance(file_wrapper, type) and isinstance(result, file_wrapper)):
            return result
        return _RecordedIterable(result, live)


class _RecordedIterable:
    def __init__(self, result: Iterable[bytes], live: LiveServer) -> None:
        self.result = result
        self.live = live

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.result
        except BaseException as exc:
            if not isinstance(exc, GeneratorExit):
                self.live.record(exc)
            raise

    def close(self) -> None:
        close = getattr(self.result, "close", None)
        if close is not None:
            try:
                close()
            except BaseException as exc:
                self.live.record(exc)
                raise


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


class _ServerHandler(ServerHandler):
    def log_problem(self, problem: Problem) -> None:
        # One record with the traceback, instead of the stream's line-by-line print_exception.
        text = problem.message.rstrip("\n")
        if problem.exc_info is not None:
            text += "\n" + "".join(traceback.format_exception(*problem.exc_info)).rstrip("\n")
        logger.error("%s", text)


class _Handler(WSGIRequestHandler):
    """Logs to :data:`logger`, and registers its socket so that stop() can end an idle connection."""

    live: _SocketServerRunner
    server_handler_class = _ServerHandler

    def setup(self) -> None:
        self.live.opened(self.request)
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.live.closed(self.request)

    def get_stderr(self) -> TextIO:
        return self.live.errors_stream

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s - - %s", self.address_string(), format % args)


class _ThreadingServer(ThreadingWSGIServer):
    live: _SocketServerRunner

    def process_request(self, request: Any, client_address: Any) -> None:
        # ThreadingMixIn's, but the thread is known, so stop() can join it.
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address),
                                  name=f"wsgidrivers.testing {client_address}", daemon=True)
        self.live.live.add_thread(thread)
        thread.start()


class _SocketServerRunner:
    """Runs a ``simple_server`` server: accept loop in a thread, woken by a socket pair to stop."""

    def __init__(self, live: LiveServer, app: WSGIApp, server_class: type[WSGIServer], *,
                 host: str, config: Config | None, settings: dict[str, Any]) -> None:
        self.live = live
        self.errors_stream = cast(TextIO, _LogStream())
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        handler = type("LiveRequestHandler", (_Handler,), {"live": self})
        cls = type(server_class.__name__, (server_class,), {"live": self})
        self.server = make_server(host, 0, app, cls, handler, config=config, **settings)
        self.stopping = False
        self.wake_r, self.wake_w = socket.socketpair()
        self.thread = threading.Thread(target=self.serve, name=f"wsgidrivers.testing {live.driver}",
                                       daemon=True)
        live.add_thread(self.thread)
        address = self.server.server_address
        live.host, live.port = str(address[0]), int(address[1])
        self.thread.start()

    def opened(self, sock: socket.socket) -> None:
        with self.lock:
            self.sockets.add(sock)
            stopping = self.stopping
        if stopping:
            self._end(sock)

    def closed(self, sock: socket.socket) -> None:
        with self.lock:
            self.sockets.discard(sock)

    def serve(self) -> None:
        server = self.server
        with selectors.DefaultSelector() as selector:
            selector.register(server.socket, selectors.EVENT_READ, True)
            selector.register(self.wake_r, selectors.EVENT_READ, False)
            while not self.stopping:
                for key, _ in selector.select(0.25):
                    if key.data and not self.stopping:
                        server.handle_request()  # the socket is ready: accepts without waiting
                server.service_actions()  # finishes lingering closes

    @staticmethod
    def _end(sock: socket.socket) -> None:
        # SHUT_RD wakes a thread blocked reading an idle connection with EOF; a response being
        # written still goes out.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RD)

    def stop(self, deadline: float) -> None:
        with self.lock:
            self.stopping = True
            sockets = list(self.sockets)
        self.server.stopping = True  # kept-alive connections end after their current response
        with contextlib.suppress(OSError):
            self.wake_w.send(b"x")
        for sock in sockets:
            self._end(sock)
        # The connections' threads end before the server closes (LiveServer.stop() reports any
        # that does not, once the deadline has passed).
        for thread in self.live.running_threads():
            thread.join(max(0.0, deadline - time.monotonic()))
        self.server.server_close()
        self.wake_r.close()
        self.wake_w.close()


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
    wrapped = _Recorder(app, live)
    if driver == "asyncio":
        errors = _LogStream()
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
        live._stop = lambda deadline: thread.stop(max(0.0, deadline - time.monotonic()))
        return live
    server_class: type[WSGIServer] = _ThreadingServer if driver == "threading" else WSGIServer
    runner = _SocketServerRunner(live, wrapped, server_class, host=host, config=config,
                                 settings=settings)
    live._stop = runner.stop
    return live
