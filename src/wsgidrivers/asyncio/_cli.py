"""``python -m wsgidrivers.asyncio``: serve until SIGINT/SIGTERM, then shut down gracefully."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from wsgidrivers._common.accesslog import write_stderr
from wsgidrivers._common.cli import announce, parser, run, shutting_down
from wsgidrivers._common.settings import Settings
from wsgidrivers._common.types import WSGIApplication

from ._server import serve
from ._shared import DEFAULT_MAX_WORKERS

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """``python -m wsgidrivers.asyncio``; returns the exit status. SIGINT/SIGTERM shut down
    gracefully: requests in progress get ``--grace`` seconds."""
    options = parser("python -m wsgidrivers.asyncio",
                     "Serve a WSGI application with wsgicore on an asyncio event loop.",
                     keep_alive=True)
    options.add_argument("--workers", type=int, default=None,
                         help=f"threads running the app (default {DEFAULT_MAX_WORKERS})")
    options.add_argument("--grace", type=float, default=10.0, help="shutdown grace period, s")
    options.add_argument("--no-access-log", action="store_true", help="do not log requests")
    return run(options, argv, _serve)


def _serve(app: WSGIApplication, args: argparse.Namespace, settings: Settings) -> None:
    async def serve_until_stopped() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is not None:
            # Cancelling serve() is its graceful shutdown; a KeyboardInterrupt would skip it (3.10).
            def stop() -> None:
                shutting_down()
                task.cancel()

            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(signum, stop)

        def ready(server: asyncio.Server) -> None:
            host, port = server.sockets[0].getsockname()[:2]
            announce(str(host), int(port))

        await serve(
            app,
            args.host,
            args.port,
            max_workers=args.workers,
            grace=args.grace,
            on_ready=ready,
            keep_alive=settings.keep_alive,
            keep_alive_timeout=settings.keep_alive_timeout,
            head_timeout=settings.head_timeout,
            io_timeout=settings.io_timeout,
            access_log=None if args.no_access_log else write_stderr,
        )

    with contextlib.suppress(asyncio.CancelledError):
        asyncio.run(serve_until_stopped())
