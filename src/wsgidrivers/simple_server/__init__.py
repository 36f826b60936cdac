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

Settings (class attributes of :class:`WSGIServer`, whose defaults are
``wsgidrivers._common.settings.Settings``'s; a ``Settings`` given whole to :func:`make_server`
(``settings=``), or single ones by name; the README's table has the reasons for each default):

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

import socket
import ssl as _ssl
from http.server import BaseHTTPRequestHandler
from typing import Any

from wsgicore import Config
from wsgidrivers._common.demo import demo_app
from wsgidrivers._common.settings import SETTING_NAMES, Settings
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
    settings: Settings | None = None,
    sock: socket.socket | None = None,
    ssl: _ssl.SSLContext | None = None,
    **overrides: Any,
) -> WSGIServer:
    """Create a server listening on ``host``:``port`` for ``app`` (wsgiref's signature).

    ``sock``, a socket already bound by the caller (TCP or Unix, listening or not), is served
    instead of binding ``host``:``port``. ``ssl``,
    a server-side :class:`ssl.SSLContext`, serves TLS (``wsgi.url_scheme`` https).
    ``settings``, a ``wsgidrivers._common.settings.Settings``, replaces every setting of the server
    class for this server; ``overrides`` set single settings by name over it (over the server
    class's attributes without it): ``config`` (a :class:`wsgicore.Config`; None: the server
    class's), ``keep_alive``,
    ``head_timeout``, ``io_timeout``, ``keep_alive_timeout``, ``linger_timeout``,
    ``linger_bytes``, ``receive_buffer``, ``use_sendfile``. An unknown name, or a ``config`` that
    is not a Config, is a ``TypeError``; a bad value a ``ValueError``; both name the setting.
    """
    if config is not None:
        overrides["config"] = config
    if settings is None:  # the server class's own (a subclass's overrides), then the given ones
        settings = Settings.of("make_server()", {**{name: getattr(server_class, name)
                                                     for name in SETTING_NAMES}, **overrides})
    else:
        settings = Settings.of("make_server()", overrides, base=settings)
    # The settings are set on the new object before its __init__ binds and listens: the listening
    # socket's options (receive buffer, kernel timeouts) come from them. Any __init__ signature works.
    server = server_class.__new__(server_class)
    server.use_settings(settings)
    if ssl is not None:
        server.ssl_context = ssl
    if sock is None:
        server_class.__init__(server, (host, port), handler_class)
    else:
        server.address_family = sock.family
        server_class.__init__(server, sock.getsockname(), handler_class, bind_and_activate=False)
        server.adopt_socket(sock)
    server.set_app(app)
    return server
