"""The command line's runners for ``--driver simple`` and ``--driver threading`` (registered in
``wsgidrivers._common.runners`` when this package loads): one server per listening socket, each in a
thread of its own, until SIGINT or SIGTERM (``wsgidrivers._cli`` decides the rest).

Shutdown (``wsgidrivers._common.shutdown``): the servers stop accepting; the reading side of every
kept-alive connection idle between requests is ended, so it ends at once instead of after
``keep_alive_timeout``, while a request whose application is running completes (its body can still
be read) and the connection then closes. A connection accepted before the stop whose first request
has not begun yet gets ``FIRST_REQUEST_WINDOW`` seconds to send it, and is served it: its client,
such as a proxy that opened it for that one request, could not tell a close from a failure (RFC 9112
§9.3.1: clients retry on their own mostly on a reused connection). A client that sends nothing (a
browser's speculative connection) is ended then, so it never holds up a Ctrl-C for
``head_timeout``. The requests get up to ``plan.grace`` seconds, or until a second signal; what is
still running then is cut off: the connection threads, and the serving threads of the one-at-a-time
server, are daemon threads, which the process leaves behind when it exits.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from typing import Any

from wsgicore import ResponseInfo
from wsgidrivers._common.accesslog import AccessLog, capture_headers
from wsgidrivers._common.runners import Plan, Runner, register
from wsgidrivers._common.shutdown import RequestsRunning, StopSignals, abandon_threads
from wsgidrivers._common.types import WSGIApplication

from ._handler import ServerHandler, WSGIRequestHandler
from ._make import make_server
from ._server import ThreadingWSGIServer, WSGIServer

__all__ = ["describe", "run"]

#: Seconds between two looks at the threads a stop waits for (a signal wakes it at once).
_POLL = 0.05
#: Seconds a connection accepted before a stop has to begin its first request (see the module): a
#: client that connected for a request sends it at once, a proxy's within a round trip.
FIRST_REQUEST_WINDOW = 1.0


class _Tracking(WSGIServer):
    """Knows the connections it is serving, to end them at shutdown, and the requests whose
    application is running (``in_flight``), to wait for them and to report those cut off."""

    #: Shared by the servers of one plan (a request is its thread's: no two servers share one).
    in_flight: RequestsRunning
    access: AccessLog | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._serving: dict[threading.Thread, Any] = {}
        #: The connections (by serving thread) whose first request has not begun, and those whose
        #: application runs (it may still read the body): a stop does not end their reading at once.
        self._fresh: set[threading.Thread] = set()
        self._running: set[threading.Thread] = set()
        self._serving_lock = threading.Lock()
        self.in_flight = RequestsRunning()
        super().__init__(*args, **kwargs)

    def finish_request(self, request: Any, client_address: Any) -> None:
        thread = threading.current_thread()
        with self._serving_lock:
            self._serving[thread] = request
            self._fresh.add(thread)
        try:
            super().finish_request(request, client_address)
        finally:
            with self._serving_lock:
                self._serving.pop(thread, None)
                self._fresh.discard(thread)
                self._running.discard(thread)

    def application_runs(self, running: bool) -> None:
        """This thread's connection runs an application (True) or has finished one (False)."""
        thread = threading.current_thread()
        with self._serving_lock:
            if running:
                self._fresh.discard(thread)
                self._running.add(thread)
            else:
                self._running.discard(thread)

    def end_reading(self, *, fresh: bool = False) -> None:
        """End the reading side of every connection idle between requests, and with ``fresh`` of
        those whose first request has not begun either (see the module)."""
        self.stopping = True  # what is being served ends after its response
        with self._serving_lock:
            # stopping is set first: a connection whose application ends after this look sees it
            # before it waits for another request (the handler's idle check), so none waits on.
            serving = [request for thread, request in self._serving.items()
                       if thread not in self._running and (fresh or thread not in self._fresh)]
        for request in serving:
            # socket.socket's own shutdown, also for TLS: ssl.SSLSocket.shutdown() would drop the
            # TLS layer under a response still being sent.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(request, socket.SHUT_RD)

    def serving(self) -> int:
        """Connections being served now. A stop waits for these, not for threads: the threading
        server's connection threads outlive their connections (they wait for the next one)."""
        return len(self._serving)


class _Threading(ThreadingWSGIServer, _Tracking):
    pass


class _TimedServerHandler(ServerHandler):
    """Runs each request's application under the runner's watch: counted in ``in_flight`` while it
    runs, then one access-log line with the time it took."""

    def run(self, application: WSGIApplication, environ: dict[str, Any]) -> ResponseInfo:
        server: _Tracking = self.request_handler.server  # type: ignore[assignment]
        access = server.access
        running = server.in_flight.begin(environ)
        server.application_runs(True)
        if access is not None and access.response_headers:
            running.response_headers = []
            application = capture_headers(application, running.response_headers)
        try:
            info = super().run(application, environ)
        finally:
            server.application_runs(False)
            server.in_flight.end()
        if access is not None:
            access.write(environ, info.status, info.body_bytes, time.monotonic() - running.started,
                         running.response_headers)
        return info


class _CommandLineRequestHandler(WSGIRequestHandler):
    server_handler_class = _TimedServerHandler

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        pass  # the access log's line is _TimedServerHandler's, in the command line's format


def run(plan: Plan) -> int:
    """Serve ``plan`` until SIGINT or SIGTERM; how many requests in progress the stop cut off."""
    server_class: type[_Tracking] = _Tracking
    if plan.threaded:
        bound = {} if plan.threads is None else {"max_threads": plan.threads}
        server_class = type("ThreadingWSGIServer", (_Threading,), bound)
    signals = StopSignals(plan.stop_signals or (signal.SIGINT, signal.SIGTERM))
    signals.install()
    in_flight = RequestsRunning()
    servers: list[_Tracking] = []
    loops: list[threading.Thread] = []
    try:
        for sock in plan.sockets:
            server: Any = make_server("", 0, plan.app, server_class, _CommandLineRequestHandler, sock=sock,
                                      ssl=plan.ssl, settings=plan.settings)
            server.access = plan.access_log
            server.in_flight = in_flight
            servers.append(server)
        for server in servers:
            loop = threading.Thread(target=server.serve_forever, name=f"serve {server.server_name}",
                                    daemon=True)
            loop.start()
            loops.append(loop)
        # The main thread only waits: signals are handled here, never inside a request.
        while not signals.stopping:
            signals.wait(1.0)
            if not all(loop.is_alive() for loop in loops):
                break  # a server's loop failed (its error is printed by the thread)
        signals.report()
        return _stop(servers, loops, in_flight, plan.grace, signals)
    finally:
        signals.uninstall()


def _stop(servers: list[_Tracking], loops: list[threading.Thread], in_flight: RequestsRunning,
          grace: float, signals: StopSignals) -> int:
    """Stop accepting, end idle connections, give the requests in progress ``grace`` seconds (or
    until a second signal), then close; how many requests were cut off."""
    for server in servers:
        server.end_reading()
    for server in servers:
        # serve_forever() returns once the connection it serves (the simple server's) is done:
        # waited for below, within the grace, not here.
        threading.Thread(target=server.shutdown, name="shutdown", daemon=True).start()
    in_flight.announce_wait(grace)
    started = time.monotonic()
    deadline = started + grace
    window: float | None = started + FIRST_REQUEST_WINDOW
    while any(loop.is_alive() for loop in loops) or any(server.serving() for server in servers):
        now = time.monotonic()
        if window is not None and now >= window:
            for server in servers:  # connections that sent nothing within the window end now
                server.end_reading(fresh=True)
            window = None
        remaining = deadline - now
        if remaining <= 0 or signals.now:
            break
        signals.wait(min(remaining, _POLL))
    signals.report()
    why = "a second signal" if signals.now else f"--grace {grace:g} s ran out"
    cut = in_flight.cut_off(why)
    if cut:
        abandon_threads()
        return cut  # the process exits under them; closing the servers could fail in their threads
    for server in servers:
        server.server_close()
    return 0


def describe(plan: Plan) -> str:
    """How ``plan`` will be served, for the start-up banner."""
    if not plan.threaded:
        return "one connection at a time"
    return f"a thread per connection, up to {plan.threads or ThreadingWSGIServer.max_threads} at once"


register(Runner("simple", run, describe))
register(Runner("threading", run, describe))
