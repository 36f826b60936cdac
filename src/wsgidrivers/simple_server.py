"""A drop-in replacement for :mod:`wsgiref.simple_server`, built on :mod:`wsgicore`.

Change ``from wsgiref.simple_server import make_server`` to
``from wsgidrivers.simple_server import make_server``: the names, the classes' hook points
(``get_environ``, ``get_stderr``, ``log_message``, ``handle_error``, ...) and the blocking
one-connection-at-a-time behaviour stay; HTTP parsing, the environ and the response are the core's
(correct HTTP/1.1, strict limits), and every wait is bounded by a timeout.

This module only accepts, reads, writes, closes and times out; it never parses HTTP.

Settings (class attributes of :class:`WSGIServer`, also keyword arguments of :func:`make_server`;
the README's table has the reasons for each default):

- ``config``: the core's :class:`wsgicore.Config` (limits, leniency, ``Server``/``Date``).
- ``keep_alive`` (False; True in ThreadingWSGIServer): keep connections open between requests.
- ``head_timeout`` (10 s): deadline for a whole request head; then the connection is closed.
- ``io_timeout`` (30 s): how long one body read or one response write may wait.
- ``keep_alive_timeout`` (5 s): how long an idle kept-alive connection waits for a request.
- ``linger_timeout`` (2 s) / ``linger_bytes`` (1 MiB): lingering close after the last response.
- ``receive_buffer`` (256 KiB): SO_RCVBUF of loopback clients' connections (None: never set).
- ``use_sendfile`` (None): ``wsgi.file_wrapper`` files by sendfile() (True), copied in blocks
  (False), or sendfile() except to loopback clients (None).
"""

from __future__ import annotations

from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler
from io import StringIO
from typing import Any

from wsgicore import Config

from . import _settings
from ._ss_handler import ServerHandler, WSGIRequestHandler
from ._ss_server import (
    ThreadingWSGIServer,
    WSGIServer,
    server_version,
    software_version,
    sys_version,
)
from ._types import StartResponse, WSGIApplication

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

# The classes live in two private modules (server, handler); this is their public home.
for _cls in (WSGIServer, ThreadingWSGIServer, ServerHandler, WSGIRequestHandler):
    _cls.__module__ = __name__
del _cls


def demo_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """Answer "Hello world!" and the sorted environ, as plain text (wsgiref's demo_app)."""
    out = StringIO()
    print("Hello world!", file=out)
    print(file=out)
    for key, value in sorted(environ.items()):
        print(key, "=", repr(value), file=out)
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [out.getvalue().encode("utf-8")]


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
    ``use_sendfile``).
    """
    for name, value in settings.items():
        if name not in _settings.SETTING_NAMES and name not in _settings.SOCKET_SETTING_NAMES:
            raise TypeError(f"make_server() got an unexpected keyword argument {name!r}")
        _settings.check_setting(name, value)
    # The settings are set on the new object before its __init__ binds and listens: the listening
    # socket's options (receive buffer, kernel timeouts) come from them. Any __init__ signature works.
    server = server_class.__new__(server_class)
    for name, value in settings.items():
        setattr(server, name, value)
    server_class.__init__(server, (host, port), handler_class)
    server.set_app(app)
    if config is not None:
        server.config = config
    return server


if __name__ == "__main__":
    from ._cli import simple_server_main

    raise SystemExit(simple_server_main())
