"""The command line's runners for ``--driver simple`` and ``--driver threading`` (registered in
``wsgidrivers._common.runners`` when this package loads): one server per listening socket, each in a
thread of its own, until SIGINT or SIGTERM (``wsgidrivers._cli`` decides the rest).

Shutdown is graceful: the servers stop accepting; the reading side of every open connection is
ended, so an idle kept-alive connection ends at once instead of after ``keep_alive_timeout``, while
a request whose application is running completes (and the connection then closes); the threading
server's connections then get up to ``plan.grace`` seconds. Its connection threads are daemon
threads, which the interpreter would otherwise cut off at exit in the middle of a response.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from typing import Any

from wsgidrivers._common.runners import Plan, Runner, register

from ._handler import WSGIRequestHandler
from ._make import make_server
from ._server import ThreadingWSGIServer, WSGIServer

__all__ = ["describe", "run"]


class _NoAccessLog(WSGIRequestHandler):
    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        pass


class _Tracking(WSGIServer):
    """Knows the connections it is serving, to end them at shutdown."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._serving: dict[threading.Thread, Any] = {}
        self._serving_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def finish_request(self, request: Any, client_address: Any) -> None:
        thread = threading.current_thread()
        with self._serving_lock:
            self._serving[thread] = request
        try:
            super().finish_request(request, client_address)
        finally:
            with self._serving_lock:
                self._serving.pop(thread, None)

    def end_reading(self) -> list[threading.Thread]:
        """End the reading side of every open connection; the threads serving them."""
        self.stopping = True  # what is being served ends after its response
        with self._serving_lock:
            serving = dict(self._serving)
        for request in serving.values():
            # socket.socket's own shutdown, also for TLS: ssl.SSLSocket.shutdown() would drop the
            # TLS layer under a response still being sent.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(request, socket.SHUT_RD)
        return list(serving)


class _Threading(ThreadingWSGIServer, _Tracking):
    pass


def run(plan: Plan) -> None:
    """Serve ``plan`` until SIGINT or SIGTERM."""
    server_class: type[_Tracking] = _Tracking
    if plan.threaded:
        server_class = type("ThreadingWSGIServer", (_Threading,), {"max_threads": plan.threads})
    handler = WSGIRequestHandler if plan.access_log else _NoAccessLog
    stop = threading.Event()

    def stop_once(signum: int, frame: object) -> None:
        stop.set()  # a second signal (Ctrl-C reaches a reloader's child twice) changes nothing

    signal.signal(signal.SIGINT, stop_once)
    signal.signal(signal.SIGTERM, stop_once)
    servers: list[_Tracking] = []
    loops: list[threading.Thread] = []
    try:
        for sock in plan.sockets:
            server: Any = make_server("", 0, plan.app, server_class, handler, sock=sock,
                                      ssl=plan.ssl, settings=plan.settings)
            servers.append(server)
        for server in servers:
            loop = threading.Thread(target=server.serve_forever, name=f"serve {server.server_name}",
                                    daemon=True)
            loop.start()
            loops.append(loop)
        # The main thread only waits: signals are handled here, never inside a request.
        while not stop.wait(1.0):
            if not all(loop.is_alive() for loop in loops):
                break  # a server's loop failed (its error is printed by the thread)
        print("\nShutting down.", flush=True)
    finally:
        connections = [thread for server in servers for thread in server.end_reading()]
        for server, loop in zip(servers, loops, strict=False):
            server.shutdown()  # serve_forever() returns once the current connection is done
            loop.join()
        deadline = time.monotonic() + plan.grace
        for thread in connections:
            thread.join(max(0.0, deadline - time.monotonic()))
        for server in servers:
            server.server_close()


def describe(plan: Plan) -> str:
    """How ``plan`` will be served, for the start-up banner."""
    if not plan.threaded:
        return "one connection at a time"
    return f"up to {plan.threads} connections at once" if plan.threads else "a thread per connection"


register(Runner("simple", run, describe))
register(Runner("threading", run, describe))
