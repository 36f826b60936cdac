"""The command line's runner for ``--driver asyncio`` (registered in ``wsgidrivers._common.runners``
when this package loads): one :class:`Service` (one worker pool) for every listening socket, until
SIGINT or SIGTERM, then a graceful shutdown within ``plan.grace``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

from wsgidrivers._common.accesslog import write_stderr
from wsgidrivers._common.listening import BACKLOG
from wsgidrivers._common.runners import Plan, Runner, register

from ._listener import WSGIServer
from ._service import Service
from ._shared import DEFAULT_MAX_WORKERS

__all__ = ["describe", "run"]


async def _serve(plan: Plan) -> None:
    loop = asyncio.get_running_loop()
    stopped = loop.create_future()

    def stop() -> None:  # once: Ctrl-C reaches a reloader's child twice
        if not stopped.done():
            print("\nShutting down.", flush=True)
            stopped.set_result(None)

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop)
    service = Service(plan.app, settings=plan.settings, max_workers=plan.threads,
                      access_log=write_stderr if plan.access_log else None, tls=plan.ssl is not None)
    server = WSGIServer(service, plan.sockets, loop=loop, ssl=plan.ssl, backlog=BACKLOG)
    try:
        await server.start_serving()
        await stopped
    finally:
        server.close()
        await service.shutdown(plan.grace)


def run(plan: Plan) -> None:
    """Serve ``plan`` until SIGINT or SIGTERM."""
    asyncio.run(_serve(plan))


def describe(plan: Plan) -> str:
    """How ``plan`` will be served, for the start-up banner."""
    return f"{plan.threads or DEFAULT_MAX_WORKERS} app threads"


register(Runner("asyncio", run, describe))
