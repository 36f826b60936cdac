"""What a worker thread of the asyncio driver does: run the app for a request, log, hand back.

With the connection's socket (``_direct``), the worker also takes the next request of a busy
keep-alive connection itself: if it arrives within :data:`HOT_WAIT` and no other job waits for a
thread, it is served at once, with no hand-over to the loop and back (the blocking driver's path);
else the connection goes back to the loop, whose idle connections cost no thread.
"""

from __future__ import annotations

import contextlib
from typing import Any, Final

from wsgicore import NEED_DATA, BodyReceived, Connection, RequestComplete, RequestReceived, ResponseInfo
from wsgidrivers._common.accesslog import not_completed_message, request_line, write_unreported

from ._bridge import Bridge, Outcome, SendError
from ._direct import SocketIO
from ._shared import Shared

__all__ = ["HOT_WAIT", "MAX_INLINE", "next_request", "serve_one", "serve_request"]

#: How long a worker waits for the next request of the connection it just answered (seconds):
#: a client that pipelines or answers fast (a proxy, a test suite, a load generator) is served
#: without a thread switch; anything slower waits in the loop, costing no thread.
HOT_WAIT: Final = 0.001
#: Requests a worker serves in a row on one connection before handing it back to the loop, so
#: that one fast client cannot keep a thread from the others.
MAX_INLINE: Final = 100


def serve_request(
    service: Shared, conn: Connection, channel: Bridge | SocketIO[Bridge], addr: str,
    environ: dict[str, Any],
) -> None:
    """Run the application for the request ``environ`` and send its response through ``channel``:
    the connection's Bridge, or its socket (a :class:`SocketIO` guarded by that Bridge).

    The worker owns ``conn`` from the call until its last act, :meth:`Bridge.finish`, which hands it
    back to the loop whatever happened. A failed body read is the core's to answer (408, or a
    silent close) and report (one line, no traceback); a client that stops taking the response is
    one log line here. The service's ``begin_request`` picks the application to run and its
    ``end_request`` hears how the request ended, both in this thread.
    """
    io = channel if isinstance(channel, SocketIO) else None
    bridge = channel.guard if isinstance(channel, SocketIO) else channel
    pending: object = None
    served = 0
    while True:
        outcome = serve_one(service, conn, channel, addr, environ)
        served += 1
        if io is None or not isinstance(outcome, ResponseInfo):
            break
        follow = next_request(service, conn, io, inline=served < MAX_INLINE)
        if isinstance(follow, dict):
            environ = follow
            continue
        if isinstance(follow, SendError):
            outcome = follow
        else:
            pending = follow
        break
    bridge.finish(outcome, pending, peer_eof=io is not None and io.peer_eof)


def serve_one(
    service: Shared, conn: Connection, channel: Bridge | SocketIO[Any], addr: str, environ: dict[str, Any]
) -> Outcome:
    outcome: Outcome
    try:
        app = service.begin_request(conn, environ)
        # The core sets wsgi.input and wsgi.errors, and sends a pending 100 Continue before it
        # waits for the body; the bridge or the socket only move the bytes.
        sendfile = channel.sendfile if service.sendfile_for(addr) else None
        outcome = conn.run_app(app, environ, channel.send, fetch=channel.receive,
                               errors=service.error_stream, sendfile=sendfile)
    except BaseException as exc:  # a worker must always hand the connection back
        if isinstance(exc, SendError):
            service.log(addr, not_completed_message(request_line(environ), exc))
        else:
            service.report("wsgidrivers.asyncio: error while running the application")
        with contextlib.suppress(Exception):
            conn.send_failed()
        outcome = exc
    else:
        write_unreported(outcome.unreported)
        if service.access_log is not None:
            service.log_access(addr, request_line(environ), outcome.status, outcome.body_bytes)
    try:
        service.end_request(environ, outcome)
    except Exception:  # the connection must still be handed back
        service.report("wsgidrivers.asyncio: error in end_request")
    return outcome


def next_request(
    service: Shared, conn: Connection, io: SocketIO[Any], *, inline: bool, first: bool = False
) -> object:
    """After a response (or, ``first``, on a fresh connection): the next request's environ if this
    worker serves it; else what the loop must handle (an event or exception from the Connection,
    or a SendError that ends it), or None when the loop simply waits for more bytes. Bytes are
    waited for at most once, :data:`HOT_WAIT`, and only while no other job waits for a thread;
    a fresh connection's first request, once here, is served even then (this thread was already
    its turn)."""
    waited = False
    while True:
        try:
            event = conn.next_event()
        except Exception as exc:  # the loop sends the core's answer (or reports a fault)
            return exc
        out = conn.data_to_send()
        if out:
            try:
                io.send(out)
            except SendError as exc:
                return exc
        if isinstance(event, RequestReceived):
            # Served here only while no other job waits for a thread and the service is not
            # stopping (the loop applies the shutdown rules to a request it is given).
            if inline and not service.closing and (first or service.may_serve_inline()):
                return event.environ
            return event
        if event is NEED_DATA:
            if waited or not inline or service.closing or not service.may_serve_inline():
                return None
            waited = True
            data = io.wait_request(HOT_WAIT)
            if data is None:
                return None
            conn.receive_data(data)
            continue
        if isinstance(event, (BodyReceived, RequestComplete)):
            continue  # the rest of a body the app did not read, which the core discards
        return event
