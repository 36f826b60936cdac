"""A drop-in replacement for :mod:`wsgiref.simple_server`, built on :mod:`wsgicore`.

Change ``from wsgiref.simple_server import make_server`` to
``from wsgidrivers.simple_server import make_server``: the names, the classes' hook points
(``get_environ``, ``get_stderr``, ``log_message``, ``handle_error``, ...) and the blocking
one-connection-at-a-time behaviour stay; HTTP parsing, the environ and the response are the core's
(correct HTTP/1.1, strict limits), and every wait is bounded by a timeout.

This package only accepts, reads, writes, closes and times out; it never parses HTTP. Its rooms:
``_server`` (listening, accepting, lingering closes), ``_handler`` (one connection's loop over the
core), ``_socketio`` (byte I/O with timeouts), ``_linger`` (lingering closes between connections),
``_cli`` (``python -m wsgidrivers.simple_server``).

Settings (class attributes of :class:`WSGIServer`, also keyword arguments of :func:`make_server`;
the README's table has the reasons for each default):

- ``config``: the core's :class:`wsgicore.Config` (limits, leniency, ``Server``/``Date``).
- ``keep_alive`` (False; True in ThreadingWSGIServer): keep connections open between requests.
- ``head_timeout`` (10 s): deadline for a whole request head; then a 408 (part of a head had
  arrived) or nothing, and a close: the core decides, as for every driver.
- ``io_timeout`` (30 s): how long one body read or one response write may wait.
- ``keep_alive_timeout`` (5 s): how long an idle kept-alive connection waits for a request.
- ``linger_timeout`` (2 s) / ``linger_bytes`` (1 MiB): lingering close after the last response.
- ``receive_buffer`` (256 KiB): SO_RCVBUF of loopback clients' connections (None: never set).
- ``use_sendfile`` (None): ``wsgi.file_wrapper`` files by sendfile() (True), copied in blocks
  (False), or sendfile() except to loopback clients (None).
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any

from wsgicore import Config
from wsgidrivers._common.demo import demo_app
from wsgidrivers._common.settings import Settings
from wsgidrivers._common.types import WSGIApplication

from ._handler import ServerHandler, WSGIRequestHandler
from ._server import (
    ThreadingWSGIServer,
    WSGIServer,
    server_version,
    software_version,
    sys_version,
)

__all__ = [
    "ServerHandler",
    "ThreadingWSGIServer",
    "WSGIRequestHandler",
    "WSGIServer",
    "demo_app",
    "make_server",
    "server_version",
    "software_version",
    "sys_version",
]

# The classes live in private modules; this is their public home.
for _cls in (WSGIServer, ThreadingWSGIServer, ServerHandler, WSGIRequestHandler):
    _cls.__module__ = __name__
del _cls


def make_server(
    host: str,
    port: int,
    app: WSGIApplication,
    server_class: type[WSGIServer] = WSGIServer,
    handler_class: type[BaseHTTPRequestHandler] = WSGIRequestHandler,
    *,
    config: Config | None = None,
    **settings: Any,
) -> WSGIServer:
    """Create a server listening on ``host``:``port`` for ``app`` (wsgiref's signature).

    ``config`` replaces the server class's :class:`wsgicore.Config` for this server; ``settings``
    set the driver settings by name (``keep_alive``, ``head_timeout``, ``io_timeout``,
    ``keep_alive_timeout``, ``linger_timeout``, ``linger_bytes``, ``receive_buffer``,
    ``use_sendfile``). An unknown name, or a ``config`` that is not a Config, is a ``TypeError``;
    a bad value a ``ValueError``; both name the setting.
    """
    if config is not None:
        settings["config"] = config
    Settings.of("make_server()", settings)  # refuses what the server would fail on later
    # The settings are set on the new object before its __init__ binds and listens: the listening
    # socket's options (receive buffer, kernel timeouts) come from them. Any __init__ signature works.
    server = server_class.__new__(server_class)
    for name, value in settings.items():
        setattr(server, name, value)
    server_class.__init__(server, (host, port), handler_class)
    server.set_app(app)
    return server
