"""Live servers on ``wsgidrivers.simple_server``: an accept loop in a thread that a socket pair
wakes to stop, handlers that log to the ``wsgidrivers.testing`` logger and register their sockets,
so that stopping can end idle keep-alive connections at once."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TextIO, cast

from wsgicore import Config, Problem
from wsgidrivers.simple_server import (
    ServerHandler,
    ThreadingWSGIServer,
    WSGIRequestHandler,
    WSGIServer,
    make_server,
)

from ._capture import LogStream, logger

__all__ = ["Owner", "SocketServerRunner", "ThreadingServer"]

WSGIApp = Callable[..., Iterable[bytes]]


class Owner(Protocol):
    """What the runner needs of the :class:`~.live.LiveServer` that owns it (named here, not
    imported, so that ``live`` -> ``_socketserver`` is the only import between the two)."""

    driver: str
    host: str
    port: int

    def add_thread(self, thread: threading.Thread) -> None: ...

    def running_threads(self) -> list[threading.Thread]: ...


class _ServerHandler(ServerHandler):
    def log_problem(self, problem: Problem) -> None:
        # One record with the traceback, instead of the stream's line-by-line print_exception.
        text = problem.message.rstrip("\n")
        if problem.exc_info is not None:
            text += "\n" + "".join(traceback.format_exception(*problem.exc_info)).rstrip("\n")
        logger.error("%s", text)


class _Handler(WSGIRequestHandler):
    """Logs to :data:`logger`, and registers its socket so that stop() can end an idle connection."""

    live: SocketServerRunner
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


class ThreadingServer(ThreadingWSGIServer):
    live: SocketServerRunner

    def process_request(self, request: Any, client_address: Any) -> None:
        # ThreadingMixIn's, but the thread is known, so stop() can join it.
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address),
                                  name=f"wsgidrivers.testing {client_address}", daemon=True)
        self.live.live.add_thread(thread)
        thread.start()


class SocketServerRunner:
    """Runs a ``simple_server`` server: accept loop in a thread, woken by a socket pair to stop."""

    def __init__(self, live: Owner, app: WSGIApp, server_class: type[WSGIServer], *,
                 host: str, config: Config | None, settings: dict[str, Any]) -> None:
        self.live = live
        self.errors_stream = cast(TextIO, LogStream())
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
