"""The command lines of both drivers.

``python -m wsgidrivers.simple_server [--host H] [--port P] [module:app]`` and
``python -m wsgidrivers.asyncio [--host H] [--port P] [--workers N] ... [module:app]`` serve
``demo_app`` (or the named application) until Ctrl-C or SIGTERM, then exit with status 0 and no
traceback. An application that cannot be loaded is a usage error (status 2); an address that cannot
be served on, status 1. (wsgiref's ``__main__`` serves one request on port 8000 and exits.)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from ._accesslog import write_stderr
from ._aio_server import serve
from ._aio_service import DEFAULT_MAX_WORKERS
from ._settings import HEAD_TIMEOUT, IO_TIMEOUT, KEEP_ALIVE_TIMEOUT
from ._types import WSGIApplication
from .simple_server import demo_app, make_server

__all__ = ["announce", "asyncio_main", "load_app", "simple_server_main"]

#: Serves ``app`` with the parsed options until interrupted.
Serve = Callable[[WSGIApplication, argparse.Namespace], None]


def load_app(spec: str) -> WSGIApplication:
    """The object named by ``"package.module:attribute.path"``; ``"package.module"`` alone names its
    ``application`` attribute (mod_wsgi's default name)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name:
        raise ValueError(f"expected 'module:app', got {spec!r}")
    target: Any = importlib.import_module(module_name)
    for name in (attribute or "application").split("."):
        target = getattr(target, name)
    if not callable(target):
        raise ValueError(f"{spec!r} is not callable")
    app: WSGIApplication = target
    return app


def announce(host: str, port: int) -> None:
    """Print http.server's start-up line; an IPv6 host is bracketed in the URL (RFC 3986 §3.2.2)."""
    shown = f"[{host}]" if ":" in host else host
    print(f"Serving HTTP on {host} port {port} (http://{shown}:{port}/) ...", flush=True)


def simple_server_main(argv: list[str] | None = None) -> int:
    """``python -m wsgidrivers.simple_server``; returns the exit status."""
    parser = _parser("python -m wsgidrivers.simple_server",
                     "Serve a WSGI application (default: demo_app) until interrupted.")
    return _run(parser, argv, _serve_blocking)


def asyncio_main(argv: list[str] | None = None) -> int:
    """``python -m wsgidrivers.asyncio``; returns the exit status. SIGINT/SIGTERM shut down
    gracefully: requests in progress get ``--grace`` seconds."""
    parser = _parser("python -m wsgidrivers.asyncio",
                     "Serve a WSGI application with wsgicore on an asyncio event loop.")
    parser.add_argument("--workers", type=int, default=None,
                        help=f"threads running the app (default {DEFAULT_MAX_WORKERS})")
    parser.add_argument("--keep-alive-timeout", type=float, default=KEEP_ALIVE_TIMEOUT,
                        help="keep-alive idle timeout, s")
    parser.add_argument("--head-timeout", type=float, default=HEAD_TIMEOUT,
                        help="request head deadline, s")
    parser.add_argument("--io-timeout", type=float, default=IO_TIMEOUT,
                        help="client read/write timeout, s")
    parser.add_argument("--grace", type=float, default=10.0, help="shutdown grace period, s")
    parser.add_argument("--no-access-log", action="store_true", help="do not log requests")
    return _run(parser, argv, _serve_asyncio)


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; '::' or '0.0.0.0' for all)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free)")
    parser.add_argument("app", nargs="?", help="the application, as module:name (default: demo_app)")
    return parser


def _run(parser: argparse.ArgumentParser, argv: list[str] | None, serve_app: Serve) -> int:
    args = parser.parse_args(argv)
    try:
        app = load_app(args.app) if args.app else demo_app
    except (ImportError, AttributeError, ValueError) as exc:
        parser.error(f"cannot load {args.app!r}: {exc}")
    try:
        serve_app(app, args)
    except KeyboardInterrupt:  # interrupted while starting or closing
        pass
    except OSError as exc:
        print(f"error: cannot serve on {args.host} port {args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


def _shutting_down() -> None:
    print("\nShutting down.", flush=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _serve_blocking(app: WSGIApplication, args: argparse.Namespace) -> None:
    # SIGTERM (a process manager, `kill`) stops as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    with make_server(args.host, args.port, app) as server:
        announce(server.server_name, server.server_port)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            _shutting_down()


def _serve_asyncio(app: WSGIApplication, args: argparse.Namespace) -> None:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is not None:
            # Cancelling serve() is its graceful shutdown; a KeyboardInterrupt would skip it (3.10).
            def stop() -> None:
                _shutting_down()
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
            keep_alive_timeout=args.keep_alive_timeout,
            head_timeout=args.head_timeout,
            io_timeout=args.io_timeout,
            access_log=None if args.no_access_log else write_stderr,
        )

    with contextlib.suppress(asyncio.CancelledError):
        asyncio.run(run())
