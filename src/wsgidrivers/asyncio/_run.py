"""The command line's runner for ``--driver asyncio``: one :class:`Service` (one worker pool) for
every listening socket, until SIGINT or SIGTERM, then a graceful shutdown within ``plan.grace``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

from wsgidrivers._cli._listen import BACKLOG
from wsgidrivers._cli._plan import Plan
from wsgidrivers._common.accesslog import write_stderr

from ._listener import WSGIServer
from ._service import Service

__all__ = ["run"]


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
    settings = plan.settings
    service = Service(
        plan.app, config=settings.config, max_workers=plan.threads,
        keep_alive=settings.keep_alive, keep_alive_timeout=settings.keep_alive_timeout,
        head_timeout=settings.head_timeout, io_timeout=settings.io_timeout,
        linger_timeout=settings.linger_timeout, linger_bytes=settings.linger_bytes,
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
