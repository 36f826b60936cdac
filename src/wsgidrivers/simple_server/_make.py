"""``make_server``, wsgiref's factory: a server of the given class, with its settings, bound (or
serving the caller's socket) and its application set."""

from __future__ import annotations

import socket
import ssl as _ssl
from http.server import BaseHTTPRequestHandler
from typing import Any

from wsgicore import Config
from wsgidrivers._common.settings import SETTING_NAMES, Settings
from wsgidrivers._common.types import WSGIApplication

from ._handler import WSGIRequestHandler
from ._server import WSGIServer

__all__ = ["make_server"]


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
