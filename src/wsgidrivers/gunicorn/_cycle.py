"""gunicorn's per-request contract, shared by both workers: count, hooks, access log.

Per request, in the thread that runs the application: :meth:`RequestCycle.begin` counts it against
``--max-requests`` (the last one closes its connection and stops the worker after it), registers it
for the heartbeat and calls the ``pre_request`` hook; :meth:`RequestCycle.wrap` notes the status and
headers the application starts its response with; :meth:`RequestCycle.end` writes the access-log
line through gunicorn's logger (so ``--access-logfile``/``--access-logformat`` and their atoms work)
and calls ``post_request``. The hooks get ``req``/``resp`` views with the attributes gunicorn's own
objects offer for these purposes, built from the core's environ (nothing is parsed here).
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from wsgicore import ResponseInfo, reason_phrase

from ._heartbeat import InFlight

__all__ = ["RequestCycle", "RequestView", "ResponseView", "Ticket"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_SPECIAL = {"CONTENT_TYPE": "CONTENT-TYPE", "CONTENT_LENGTH": "CONTENT-LENGTH"}


class RequestView:
    """The request as gunicorn's hooks and access log read it (``req``): method, uri, path, query,
    version, scheme, headers (upper-case names, as gunicorn's parser gives them), peer_addr."""

    fragment = ""

    def __init__(self, environ: dict[str, Any], peer: Any) -> None:
        self.environ = environ
        self.method: str = environ.get("REQUEST_METHOD", "")
        self.uri: str = environ.get("RAW_URI", "")
        self.path: str = environ.get("PATH_INFO", "")
        self.query: str = environ.get("QUERY_STRING", "")
        protocol = str(environ.get("SERVER_PROTOCOL", "HTTP/1.1"))
        self.version = (1, 0) if protocol == "HTTP/1.0" else (1, 1)
        self.scheme: str = environ.get("wsgi.url_scheme", "http")
        self.peer_addr = self.remote_addr = peer
        self._headers: list[tuple[str, str]] | None = None

    @property
    def headers(self) -> list[tuple[str, str]]:
        # Built on first use: only a hook or a {header}i atom needs them.
        if self._headers is None:
            headers = []
            for key, value in self.environ.items():
                if key.startswith("HTTP_"):
                    headers.append((key[5:].replace("_", "-"), value))
                elif key in _SPECIAL:
                    headers.append((_SPECIAL[key], value))
            self._headers = headers
        return self._headers


class ResponseView:
    """The response as gunicorn's access log and ``post_request`` read it (``resp``)."""

    def __init__(self, status: str, sent: int, headers: list[tuple[str, str]]) -> None:
        self.status = status
        self.status_code = int(status.split(None, 1)[0]) if status[:3].isdigit() else 0
        self.sent = self.response_length = sent
        self.headers = headers


class Ticket:
    """One request's passage through the cycle."""

    __slots__ = ("_request", "environ", "headers", "last", "peer", "started", "status", "token")

    def __init__(self, environ: dict[str, Any], peer: Any, token: int, started: float,
                 last: bool) -> None:
        self.environ = environ
        self.peer = peer
        self.token = token
        self.started = started
        #: This request reached --max-requests: its connection closes after the response.
        self.last = last
        self.status = ""
        self.headers: list[tuple[str, str]] = []
        self._request: RequestView | None = None

    @property
    def request(self) -> RequestView:
        """The ``req`` view, made when a hook or the access log first asks for it."""
        if self._request is None:
            self._request = RequestView(self.environ, self.peer)
        return self._request


def _hook(cfg: Any, name: str) -> Any:
    """``cfg``'s hook ``name``, or None when it is gunicorn's default and would do nothing here:
    the default ``post_request`` does nothing, the default ``pre_request`` logs at debug level."""
    hook = getattr(cfg, name)
    setting = getattr(cfg, "settings", {}).get(name)
    if setting is None or hook is not setting.default:
        return hook
    if name == "pre_request" and logging.getLogger("gunicorn.error").isEnabledFor(logging.DEBUG):
        return hook
    return None


class RequestCycle:
    """The per-request side of gunicorn's worker contract for one ``worker``.

    ``wake()`` is called (from any thread) when the request count stops the worker, so its main
    loop notices at once. The hooks are read from the cfg once: a worker's cfg does not change
    (a reload replaces the workers).
    """

    def __init__(self, worker: Any, inflight: InFlight, wake: Callable[[], None]) -> None:
        self.worker = worker
        self.inflight = inflight
        self._wake = wake
        self._lock = threading.Lock()
        self._pre_request = _hook(worker.cfg, "pre_request")
        self._post_request = _hook(worker.cfg, "post_request")
        self._access = bool(getattr(worker.log, "access_log_enabled", True))

    def begin(self, environ: dict[str, Any], peer: Any) -> Ticket:
        worker = self.worker
        with self._lock:  # requests run in several threads; nr must count each exactly once
            worker.nr += 1
            last = worker.nr >= worker.max_requests
        if last and worker.alive:
            worker.log.info("Autorestarting worker after current request.")
            worker.alive = False
            self._wake()
        started = time.monotonic()
        ticket = Ticket(environ, peer, self.inflight.enter(started), started, last)
        if self._pre_request is not None:
            try:
                self._pre_request(worker, ticket.request)
            except Exception:
                worker.log.exception("Exception in pre_request hook")
        return ticket

    def wrap(self, ticket: Ticket, app: WSGIApp) -> WSGIApp:
        """``app`` with its ``start_response`` calls noted in ``ticket`` (for ``resp``); ``app``
        itself when nothing will read ``resp`` (no access log, no post_request hook)."""
        if not self._access and self._post_request is None:
            return app

        def noted(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                ticket.status, ticket.headers = status, headers
                return start_response(status, headers, exc_info)

            return app(environ, start)

        return noted

    def end(self, ticket: Ticket, environ: dict[str, Any], info: ResponseInfo | None) -> None:
        """After the response (``info``), or after the client went away (``None``)."""
        self.inflight.leave(ticket.token)
        if not self._access and self._post_request is None:
            return
        worker = self.worker
        status = ticket.status
        if info is not None and not status.startswith(str(info.status)):
            # The core answered (a 500 after an application error, a 413 for a body over the limit):
            # gunicorn's form of it, with the reason phrase the core wrote on the wire.
            status = f"{info.status} {reason_phrase(info.status)}"
        resp = ResponseView(status or "-", info.body_bytes if info is not None else 0, ticket.headers)
        if self._access:
            elapsed = datetime.timedelta(seconds=time.monotonic() - ticket.started)
            try:
                worker.log.access(resp, ticket.request, environ, elapsed)
            except Exception:
                worker.log.exception("Access log failed")
        if self._post_request is not None:
            try:
                self._post_request(worker, ticket.request, environ, resp)
            except Exception:
                worker.log.exception("Exception in post_request hook")
