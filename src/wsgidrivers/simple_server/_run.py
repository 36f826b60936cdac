"""The command line's runner for ``--driver simple`` and ``--driver threading``: one server per
listening socket, serving until SIGINT or SIGTERM, then closed (``wsgidrivers._cli`` decides the rest).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from wsgidrivers._cli._plan import Plan

from . import make_server
from ._handler import WSGIRequestHandler
from ._server import ThreadingWSGIServer, WSGIServer

__all__ = ["run"]


class _NoAccessLog(WSGIRequestHandler):
    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        pass


def _stop_once(signum: int, frame: FrameType | None) -> None:
    # The first SIGINT/SIGTERM stops; later ones (Ctrl-C reaches a reloader's child twice) must not
    # interrupt the shutdown itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def run(plan: Plan) -> None:
    """Serve ``plan`` until SIGINT or SIGTERM."""
    server_class: type[WSGIServer] = WSGIServer
    if plan.threaded:
        server_class = type("ThreadingWSGIServer", (ThreadingWSGIServer,), {"max_threads": plan.threads})
    handler = WSGIRequestHandler if plan.access_log else _NoAccessLog
    settings = plan.settings
    signal.signal(signal.SIGINT, _stop_once)
    signal.signal(signal.SIGTERM, _stop_once)
    servers: list[WSGIServer] = []
    threads: list[threading.Thread] = []
    try:
        for sock in plan.sockets:
            servers.append(make_server(
                "", 0, plan.app, server_class, handler, sock=sock, ssl=plan.ssl,
                config=settings.config, keep_alive=settings.keep_alive,
                head_timeout=settings.head_timeout, io_timeout=settings.io_timeout,
                keep_alive_timeout=settings.keep_alive_timeout,
                linger_timeout=settings.linger_timeout))
        # The first address is served by this thread (signals arrive here), the others each by one
        # of their own.
        for server in servers[1:]:
            thread = threading.Thread(target=server.serve_forever, daemon=True,
                                      name=f"serve {server.server_name}")
            thread.start()
            threads.append(thread)
        servers[0].serve_forever()
    except KeyboardInterrupt:
        print("\nShutting down.", flush=True)
    finally:
        for server, thread in zip(servers[1:], threads, strict=True):
            server.shutdown()
            thread.join()
        for server in servers:
            server.server_close()
