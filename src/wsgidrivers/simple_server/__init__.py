"""A drop-in replacement for :mod:`wsgiref.simple_server`, built on :mod:`wsgicore`.

Change ``from wsgiref.simple_server import make_server`` to
``from wsgidrivers.simple_server import make_server``: the names, the classes' hook points
(``get_environ``, ``get_stderr``, ``log_message``, ``handle_error``, ...) and the blocking
one-connection-at-a-time behaviour stay; HTTP parsing, the environ and the response are the core's
(correct HTTP/1.1, strict limits), and every wait is bounded by a timeout.

This package only accepts, reads, writes, closes and times out; it never parses HTTP. Its rooms:
``_server`` (listening, accepting, lingering closes), ``_handler`` (one connection's loop over the
core), ``_socketio`` (byte I/O with timeouts), ``_linger`` (lingering closes between connections),
``_make`` (``make_server``), ``_run`` (the command line's runners), ``_cli``
(``python -m wsgidrivers.simple_server``).

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

from wsgidrivers._common.demo import demo_app

from . import _run  # noqa: F401  (registers the command line's runners: wsgidrivers._common.runners)
from ._handler import ServerHandler, WSGIRequestHandler
from ._make import make_server
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
