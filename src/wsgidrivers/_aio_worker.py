"""What a worker thread of the asyncio driver does for one request: run the app, log, hand back."""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, Any

from wsgicore import Connection

from ._accesslog import not_completed_message, request_line
from ._aio_bridge import Bridge, Outcome, SendError

if TYPE_CHECKING:
    from ._aio_service import Service

__all__ = ["serve_request"]


def serve_request(
    service: Service, conn: Connection, bridge: Bridge, addr: str, environ: dict[str, Any]
) -> None:
    """Run the application for the request ``environ`` and send its response through ``bridge``.

    The worker owns ``conn`` from the call until its last act, :meth:`Bridge.finish`, which hands it
    back to the loop whatever happened. A failed body read is the core's to answer (408, or a
    silent close) and report (one line, no traceback); a client that stops taking the response is
    one log line here.
    """

    def fetch() -> bytes:
        # A pending "100 Continue" must go out before we wait for the body (RFC 9110 §10.1.1).
        pending = conn.data_to_send()
        if pending:
            bridge.send(pending)
        return bridge.receive()

    outcome: Outcome
    try:
        app = service.begin_request(conn, environ)
        environ["wsgi.input"] = conn.input_stream(fetch)
        environ["wsgi.errors"] = service.error_stream
        sendfile = bridge.sendfile if service.use_sendfile else None
        outcome = conn.run_app(app, environ, bridge.send, sendfile=sendfile)
    except BaseException as exc:  # a worker must always hand the connection back
        if isinstance(exc, SendError):
            service.log(addr, not_completed_message(request_line(environ), exc))
        else:
            service.report("wsgidrivers.asyncio: error while running the application")
        with contextlib.suppress(Exception):
            conn.send_failed()
        outcome = exc
    else:
        for problem in outcome.unreported:  # wsgi.errors failed: the process's stderr is left
            with contextlib.suppress(Exception):
                sys.stderr.write(problem.format())
        service.log_access(addr, request_line(environ), outcome.status, outcome.body_bytes)
    try:
        service.end_request(environ, outcome)
    except Exception:  # the connection must still be handed back
        service.report("wsgidrivers.asyncio: error in end_request")
    bridge.finish(outcome)
