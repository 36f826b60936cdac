"""Every driver started the same way for the contract tests: ``serve(driver, app, ...)`` yields a
:class:`Running` (its address and a ``stop()`` that shuts it down gracefully, callable from any thread).

The socket drivers are ``simple_server`` (one connection at a time), ``simple_server_threading`` and
``asyncio``; ``memory`` has no socket and takes part in the byte-level cases only (``exchange``).
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from wsgicore import Config

__all__ = ["CONFIG", "SOCKET_DRIVERS", "Running", "serve"]

SOCKET_DRIVERS = ("simple_server", "simple_server_threading", "asyncio", "asyncio_bridge_io")

#: Responses that are byte-for-byte predictable: no Date, a fixed Server header.
CONFIG = Config(clock=None, server_software="contract/1")

#: Settings every driver gets unless a case says otherwise: keep-alive on (simple_server's
#: default is off, as wsgiref's), short deadlines so the timeout cases stay quick.
DEFAULTS: dict[str, Any] = {"keep_alive": True, "head_timeout": 5.0, "keep_alive_timeout": 5.0,
                            "io_timeout": 5.0, "linger_timeout": 0.5}


@dataclass
class Running:
    address: Any  # (host, port), or a Unix socket's path
    stop: Callable[[], None]


@contextlib.contextmanager
def serve(driver: str, app: Any, *, host: str = "127.0.0.1", config: Any = CONFIG,
          sock: socket.socket | None = None, **settings: Any) -> Iterator[Running]:
    """Serve ``app`` with ``driver`` on ``host`` (port 0) or ``sock``; stop on leaving the block."""
    options = {**DEFAULTS, **settings}
    if driver in ("asyncio", "asyncio_bridge_io"):
        from wsgidrivers.asyncio import ServerThread

        if driver == "asyncio_bridge_io":
            options.setdefault("socket_io", False)  # every byte through the loop, as over TLS
        where: dict[str, Any] = {"sock": sock} if sock is not None else {"host": host}
        thread = ServerThread(app, port=0, config=config, access_log=None, errors=io.StringIO(),
                              grace=5.0, **where, **options)
        address = thread.start()
        try:
            yield Running(address, thread.stop)
        finally:
            thread.stop()
        return
    if sock is not None:
        raise ValueError("simple_server serves TCP only (as wsgiref)")
    from wsgidrivers import simple_server

    server_class = (simple_server.ThreadingWSGIServer if driver == "simple_server_threading"
                    else simple_server.WSGIServer)

    class Quiet(simple_server.WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = simple_server.make_server(host, 0, app, server_class, Quiet, config=config, **options)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    stopped = threading.Event()

    def stop() -> None:
        if not stopped.is_set():
            stopped.set()
            server.shutdown()
            server.server_close()

    try:
        yield Running(server.server_address[:2], stop)
    finally:
        stop()
        thread.join(10.0)
        if thread.is_alive():
            raise RuntimeError("the server did not stop")
