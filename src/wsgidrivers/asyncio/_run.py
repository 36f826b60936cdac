"""The command line's runner for ``--driver asyncio`` (registered in ``wsgidrivers._common.runners``
when this package loads): one :class:`Service` (one worker pool) for every listening socket, until
SIGINT or SIGTERM, then a graceful shutdown within ``plan.grace``, cut short by a second signal
(``wsgidrivers._common.shutdown``). The pool's threads are daemon threads: a request still running
when the stop ends is cut off, and the process does not wait for it to exit.
"""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

from wsgicore import Connection, ResponseInfo
from wsgidrivers._common.accesslog import AccessLog, capture_headers, write_stderr
from wsgidrivers._common.listening import BACKLOG
from wsgidrivers._common.runners import Plan, Runner, register
from wsgidrivers._common.shutdown import RequestsRunning, StopSignals, abandon_threads
from wsgidrivers._common.types import WSGIApplication
from wsgidrivers._common.workerpool import WorkerPool

from ._bridge import Outcome
from ._listener import WSGIServer
from ._service import Service
from ._shared import DEFAULT_MAX_WORKERS

__all__ = ["describe", "run"]


class _CommandLineService(Service):
    """The service of the command line: each request counted in ``in_flight`` while it runs, then
    one access-log line in the command line's format, with the time it took; the requests still
    running when the grace ends are reported as cut off."""

    def __init__(self, app: WSGIApplication, *, access: AccessLog | None, why: list[str],
                 **options: Any) -> None:
        # The driver's own access_log stays on for its other lines (a client gone before the
        # response was sent, a refused request); the per-request line is written here instead.
        super().__init__(app, access_log=write_stderr if access is not None else None, **options)
        self.access = access
        self.in_flight = RequestsRunning()
        self.cut = 0
        self._why = why

    def begin_request(self, conn: Connection, environ: dict[str, Any]) -> WSGIApplication:
        running = self.in_flight.begin(environ)
        access = self.access
        if access is not None and access.response_headers:
            running.response_headers = []
            return capture_headers(self.app, running.response_headers)
        return self.app

    def end_request(self, environ: dict[str, Any], outcome: Outcome) -> None:
        running = self.in_flight.end()
        access = self.access
        if access is not None and running is not None and isinstance(outcome, ResponseInfo):
            access.write(environ, outcome.status, outcome.body_bytes,
                         time.monotonic() - running.started, running.response_headers)

    def log_access(self, addr: str, request_line: str, status: int | str, size: int | str) -> None:
        pass  # written by end_request, in the command line's format

    def grace_over(self) -> None:
        self.cut = self.in_flight.cut_off(self._why[0])
        if self.cut:
            abandon_threads()


async def _serve(plan: Plan) -> int:
    loop = asyncio.get_running_loop()
    stopped = loop.create_future()
    why = [f"--grace {plan.grace:g} s ran out"]
    workers = plan.threads or DEFAULT_MAX_WORKERS
    # Daemon threads: one stuck in an application must not keep the process from exiting.
    service = _CommandLineService(plan.app, access=plan.access_log, why=why, settings=plan.settings,
                       max_workers=workers, tls=plan.ssl is not None,
                       executor=WorkerPool(workers, "wsgi-worker", daemon=True))
    signals = StopSignals(plan.stop_signals or (signal.SIGINT, signal.SIGTERM))

    def woken() -> None:
        signals.report()
        if not stopped.done():
            stopped.set_result(None)
        if signals.now:
            why[0] = "a second signal"
            service.cut_grace_short()

    signals.install_on(loop, woken)
    server = WSGIServer(service, plan.sockets, loop=loop, ssl=plan.ssl, backlog=BACKLOG)
    try:
        await server.start_serving()
        await stopped
    finally:
        server.close()
        service.in_flight.announce_wait(plan.grace)
        await service.shutdown(plan.grace)
    return service.cut


def run(plan: Plan) -> int:
    """Serve ``plan`` until SIGINT or SIGTERM; how many requests in progress the stop cut off."""
    return asyncio.run(_serve(plan))


def describe(plan: Plan) -> str:
    """How ``plan`` will be served, for the start-up banner."""
    return f"{plan.threads or DEFAULT_MAX_WORKERS} app threads"


register(Runner("asyncio", run, describe))
