"""An asyncio driver for :mod:`wsgicore`: one event loop for the sockets, a bounded thread pool for the apps.

Thousands of idle keep-alive connections cost one :class:`asyncio.Protocol` object each and no thread;
a WSGI application runs in a :class:`concurrent.futures.ThreadPoolExecutor` of ``max_workers`` threads,
so at most ``max_workers`` requests are inside applications at any time.

Ownership of the :class:`wsgicore.Connection` (which is not thread-safe) moves between two threads and is
never shared:

* While no application runs, the **event loop** owns it: ``data_received`` feeds it, ``next_event`` parses,
  error responses are written straight to the transport.
* From the moment a ``RequestReceived`` is handed to a worker until the worker is done, the **worker**
  owns it. The loop only appends received bytes to a per-connection queue (and pauses reading when that
  queue is full); the worker's ``fetch()`` pops them (waiting on a condition, never polling). The worker's
  ``send()`` appends bytes to an outgoing list and wakes the loop with ``call_soon_threadsafe``; it waits on
  the same condition while the transport is above its high-water mark (``pause_writing``) or the list is
  full, so a slow reader stalls the application instead of growing a buffer.
* The worker's last act is to post "done" through the same outgoing list, so the loop sees it after every
  byte of the response; the loop then feeds the queued bytes back into the Connection and owns it again
  (pipelined requests are answered in order this way).

Public names: :func:`serve`, :func:`create_server`, :func:`shutdown`, :class:`Service` (the protocol
factory, for ``loop.create_server(service, ...)``), :class:`ServerThread` (the driver on a loop of its own
in a background thread), :func:`format_access_line`, :func:`main` (``python -m wsgidrivers.asyncio``).

The code, one purpose a module: ``_aio_service`` (the Service), ``_aio_protocol`` (one connection on the
loop), ``_aio_bridge`` (the hand-over between loop and worker, with its flow control), ``_aio_worker``
(a worker's job for one request), ``_aio_timer`` (a connection's deadline), ``_aio_server`` (starting and
stopping); ``_accesslog``, ``_cli`` and ``_settings`` are shared with ``simple_server``.
"""

from __future__ import annotations

import sys

# Besides __all__, the other names this module defined before it was split stay importable from it
# (hence the noqa): ClientDisconnected, SendTimeout, WSGIProtocol, service_of, AccessLog, import_app,
# WSGIApplication.
from ._accesslog import format_access_line, format_log_line
from ._aio_bridge import ClientDisconnected, SendTimeout  # noqa: F401
from ._aio_protocol import WSGIProtocol  # noqa: F401
from ._aio_server import ServerThread, create_server, serve, service_of, shutdown  # noqa: F401
from ._aio_service import DEFAULT_MAX_WORKERS, AccessLog, Service  # noqa: F401
from ._cli import asyncio_main as main
from ._cli import load_app as import_app  # noqa: F401
from ._types import WSGIApplication  # noqa: F401

__all__ = [
    "DEFAULT_MAX_WORKERS",
    "ServerThread",
    "Service",
    "create_server",
    "format_access_line",
    "format_log_line",
    "main",
    "serve",
    "shutdown",
]

if __name__ == "__main__":
    sys.exit(main())
