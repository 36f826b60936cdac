"""An asyncio driver for :mod:`wsgicore`: one event loop for the sockets, a bounded thread pool for the apps.

Thousands of idle keep-alive connections cost one :class:`asyncio.Protocol` object each and no thread;
a WSGI application runs in a :class:`concurrent.futures.ThreadPoolExecutor` of ``max_workers`` threads,
so at most ``max_workers`` requests are inside applications at any time.

Ownership of the :class:`wsgicore.Connection` (which is not thread-safe) moves between two threads and is
never shared:

* While no application runs, the **event loop** owns it: ``data_received`` feeds it, ``next_action`` says
  what to do (wait, close with the core's error response, or hand a request over).
* From the moment a ``RequestReceived`` is handed to a worker until the worker is done, the **worker**
  owns it. The loop only appends received bytes to a per-connection queue (and pauses reading when that
  queue is full); the worker's ``fetch()`` pops them (waiting on a condition, never polling). The worker's
  ``send()`` appends bytes to an outgoing list and wakes the loop with ``call_soon_threadsafe``; it waits on
  the same condition while the transport is above its high-water mark (``pause_writing``) or the list is
  full, so a slow reader stalls the application instead of growing a buffer.
* The worker's last act is to post "done" through the same outgoing list, so the loop sees it after every
  byte of the response; the loop then feeds the queued bytes back into the Connection and owns it again
  (pipelined requests are answered in order this way).

Public names: :func:`serve`, :func:`create_server` (returns a :class:`WSGIServer`, the driver's own
:class:`asyncio.AbstractServer`: it accepts itself so that a worker can serve a new connection's
first requests straight from the accept), :func:`shutdown`, :class:`Service` (the protocol
factory, also for ``loop.create_server(service, ...)``), :class:`ServerThread` (the driver on a
loop of its own in a background thread), :data:`DEFAULT_MAX_WORKERS`, :func:`main`
(``python -m wsgidrivers.asyncio``).

The rooms, one purpose each (imported in this order, no cycle): ``_timer`` (a connection's deadline),
``_bridge`` (the hand-over between loop and worker, with its flow control), ``_socketio`` (a
worker's own I/O on its connection's socket, as simple_server's ``_socketio``), ``_shared`` (what the
connections of one service share), ``_worker`` (a worker's job for one request), ``_protocol`` (one
connection on the loop), ``_fresh`` (a new connection served from the accept), ``_service`` (the
Service), ``_listener`` (the listening sockets), ``_server`` (starting and stopping), ``_run`` (the
command line's runner), ``_cli``. Settings, accepting, the worker pool, access log and the command
line's plan are ``wsgidrivers._common``'s; nothing of ``simple_server`` is loaded.
"""

from __future__ import annotations

from . import _run  # noqa: F401  (registers the command line's runner: wsgidrivers._common.runners)
from ._cli import main
from ._listener import WSGIServer
from ._server import ServerThread, create_server, serve, shutdown
from ._service import Service
from ._shared import DEFAULT_MAX_WORKERS

# The classes live in private modules; this is their public home.
for _cls in (Service, ServerThread, WSGIServer):
    _cls.__module__ = __name__
del _cls

__all__ = [
    "DEFAULT_MAX_WORKERS",
    "ServerThread",
    "Service",
    "WSGIServer",
    "create_server",
    "main",
    "serve",
    "shutdown",
]
