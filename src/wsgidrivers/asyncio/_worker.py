"""What a worker thread of the asyncio driver does for one request: run the app, log, hand back."""

from __future__ import annotations

import contextlib
from typing import Any

from wsgicore import Connection
from wsgidrivers._common.accesslog import not_completed_message, request_line, write_unreported

from ._bridge import Bridge, Outcome, SendError
from ._shared import Shared

__all__ = ["serve_request"]


def serve_request(
    service: Shared, conn: Connection, bridge: Bridge, addr: str, environ: dict[str, Any]
) -> None:
    """Run the application for the request ``environ`` and send its response through ``bridge``.

    The worker owns ``conn`` from the call until its last act, :meth:`Bridge.finish`, which hands it
    back to the loop whatever happened. A failed body read is the core's to answer (408, or a
    silent close) and report (one line, no traceback); a client that stops taking the response is
    one log line here. The service's ``begin_request`` picks the application to run and its
    ``end_request`` hears how the request ended, both in this thread.
    """

    outcome: Outcome
    try:
        app = service.begin_request(conn, environ)
        # The core sets wsgi.input and wsgi.errors, and sends a pending 100 Continue before it
        # waits for the body; the bridge only moves the bytes.
        sendfile = bridge.sendfile if service.sendfile_for(addr) else None
        outcome = conn.run_app(app, environ, bridge.send, fetch=bridge.receive,
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
        service.log_access(addr, request_line(environ), outcome.status, outcome.body_bytes)
    try:
        service.end_request(environ, outcome)
    except Exception:  # the connection must still be handed back
        service.report("wsgidrivers.asyncio: error in end_request")
    bridge.finish(outcome)
