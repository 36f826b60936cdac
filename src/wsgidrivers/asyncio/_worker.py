"""What a worker thread of the asyncio driver does: run the app for a request, log, hand back.

With the connection's socket (``_socketio``), the worker also takes the next request of a busy
keep-alive connection itself: if it arrives within :data:`HOT_WAIT` and no other job waits for a
thread, it is served at once, with no hand-over to the loop and back (the blocking driver's path);
else the connection goes back to the loop, whose idle connections cost no thread.

When another job waits, the worker gives its thread up but not to the loop: the connection goes
to the back of the pool's queue (:class:`Later`), and the thread that takes it serves its next
request if it has come by then; only a connection still silent then goes back to the loop. With
more busy keep-alive connections than threads every response used to hand its connection back,
with loop work for each (docs/performance.md): the wake-up, ``resume_reading`` and
``pause_reading`` (an ``epoll_ctl`` each), parsing on the loop, a new job.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from wsgicore import Connection, Receive, RequestReceived, ResponseInfo
from wsgidrivers._common.accesslog import not_completed_message, request_line, write_unreported

from ._bridge import Bridge, Outcome, SendError
from ._shared import Shared
from ._socketio import SocketIO

__all__ = ["HOT_WAIT", "MAX_INLINE", "Later", "next_request", "serve_one", "serve_request"]

#: How long a worker waits for the next request of the connection it just answered (seconds):
#: a client that pipelines or answers fast (a proxy, a test suite, a load generator) is served
#: without a thread switch; anything slower waits in the loop, costing no thread.
HOT_WAIT: Final = 0.001
#: Requests a worker serves in a row on one connection before handing it back to the loop, so
#: that one fast client cannot keep a thread from the others.
MAX_INLINE: Final = 100


class Later(NamedTuple):
    """From :func:`next_request`: another job waits for a thread; serve this connection after it
    (queue it behind that job) rather than hand it to the loop."""

    #: Its next request, already received; None: not yet (the next turn looks once more).
    event: RequestReceived | None


def serve_request(
    service: Shared, conn: Connection, channel: Bridge | SocketIO[Bridge], addr: str,
    environ: dict[str, Any],
) -> None:
    """Run the application for the request ``environ`` and send its response through ``channel``:
    the connection's Bridge, or its socket (a :class:`SocketIO` guarded by that Bridge).

    The worker owns ``conn`` from the call until its last act, :meth:`Bridge.finish`, which hands it
    back to the loop whatever happened, or until it queues the connection's next turn (``Later``,
    see :func:`_carry_on`). A failed body read is the core's to answer (408, or a silent close) and
    report (one line, no traceback); a client that stops taking the response is one log line here.
    The service's ``begin_request`` picks the application to run and its ``end_request`` hears how
    the request ended, both in this thread.
    """
    outcome = serve_one(service, conn, channel, addr, environ)
    if isinstance(channel, SocketIO):
        if isinstance(outcome, ResponseInfo):
            _carry_on(service, conn, channel, addr, None, 1, outcome, False)
        else:
            channel.guard.finish(outcome, peer_eof=channel.peer_eof)
    else:
        channel.finish(outcome)


def _carry_on(  # noqa: PLR0917  (a pool job takes positional arguments)
    service: Shared, conn: Connection, io: SocketIO[Bridge], addr: str,
    environ: dict[str, Any] | None, served: int, outcome: Outcome, resumed: bool,
) -> None:
    """Worker, on the socket, after a response (``outcome``, the ``served``-th in a row): serve
    the connection's next requests while they come at once, then hand it to the loop or queue its
    next turn. A queued turn (``resumed``) brings the request already received (``environ``) or
    looks once for one (no waiting) before giving up."""
    pending: object = None
    if environ is not None and service.closing:
        # A queued turn's request, received before the shutdown began: answered, and its response
        # says Connection: close, as the loop's answer would (``_protocol._advance``).
        conn.close_after_response()
    later = service.queues_turns
    while True:
        if environ is not None:
            outcome = serve_one(service, conn, io, addr, environ)
            served += 1
            if not isinstance(outcome, ResponseInfo):
                break
        # A queued turn is this connection's turn: its request is served even if jobs wait.
        looking = resumed and environ is None
        follow = next_request(service, conn, io, inline=served < MAX_INLINE, first=looking,
                              later=later and not looking, look=looking)
        resumed = False
        if isinstance(follow, dict):
            environ = follow
            continue
        if isinstance(follow, Later):
            queued = follow.event.environ if follow.event is not None else None
            try:
                service.run_job(_carry_on, service, conn, io, addr, queued, served, outcome, True)
                return
            except RuntimeError:  # the pool is shut down: the loop takes it (and closes it)
                pending = follow.event
                break
        if isinstance(follow, SendError):
            outcome = follow
        else:
            pending = follow
        break
    io.guard.finish(outcome, pending, peer_eof=io.peer_eof)


def serve_one(
    service: Shared, conn: Connection, channel: Bridge | SocketIO[Any], addr: str, environ: dict[str, Any]
) -> Outcome:
    outcome: Outcome
    try:
        app = service.begin_request(conn, environ)
        # The core sets wsgi.input and wsgi.errors, and sends a pending 100 Continue before it
        # waits for the body; the bridge or the socket only move the bytes.
        # sendfile() or, where it is off for this client, the socket's copy path (one buffer, blocks
        # of up to 1 MiB); through the loop's transport (TLS) the core iterates the file. Both
        # take the response head, to send it with the file's first bytes.
        sendfile: Callable[[Any, int, int, bytes], int] | None = channel.sendfile
        if not service.sendfile_for(addr):
            sendfile = channel.copy_file if isinstance(channel, SocketIO) else None
        outcome = conn.run_app(app, environ, channel.send, fetch=channel.receive,
                               errors=service.error_stream, sendfile_with_head=sendfile)
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
    service: Shared, conn: Connection, io: SocketIO[Any], *, inline: bool, first: bool = False,
    later: bool = False, look: bool = False,
) -> object:
    """After a response (or, ``first``, on a fresh connection): the next request's environ if this
    worker serves it; else what the loop must handle (the Connection's next action: a request, or
    its ``Close``; an exception it raised; or a SendError that ends it), or None when the loop
    simply waits for more bytes (it asks the Connection again then, with what arrived meanwhile).
    Bytes are waited for at most once, :data:`HOT_WAIT`, and only while no other job waits for a
    thread; a fresh connection's first request, once here, is served even then (this thread was
    already its turn). ``later``: when another job waits, :class:`Later` instead of handing over.
    ``look``: one recv without waiting before handing over (a turn queued by ``Later``)."""
    waited = False
    while True:
        try:
            action = conn.next_action()
        except Exception as exc:  # the loop reports it
            return exc
        if isinstance(action, RequestReceived):
            # Served here only while no other job waits for a thread and the service is not
            # stopping (the loop applies the shutdown rules to a request it is given).
            if not inline or service.closing:
                return action
            if first or service.may_serve_inline():
                return action.environ
            return Later(action) if later else action
        if not isinstance(action, Receive):
            return action  # Close: the loop sends it and closes (lingering, if need be)
        if action.send:  # a 100 Continue: the core has handed it over, so it goes now
            try:
                io.send(action.send)
            except SendError as exc:
                return exc
        if waited or not inline or service.closing:
            return None
        waited = True
        data = io.receive_ready() if look else None
        if data is None:
            if service.may_serve_inline():
                data = io.wait_request(HOT_WAIT)
            elif later:
                return Later(None)
        if data is None:
            return None
        conn.receive_data(data)
