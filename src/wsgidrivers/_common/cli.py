"""The command-line plumbing both drivers share (each driver's ``_cli`` adds how it serves).

``python -m wsgidrivers.simple_server [options] [module:app]`` and
``python -m wsgidrivers.asyncio [options] [module:app]`` serve ``demo_app`` (or the named
application) until Ctrl-C or SIGTERM, then exit with status 0 and no traceback. An application that
cannot be loaded, or a bad setting, is a usage error (status 2); an address that cannot be served
on, status 1. (wsgiref's ``__main__`` serves one request on port 8000 and exits.)
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from typing import Any

from .demo import demo_app
from .settings import HEAD_TIMEOUT, IO_TIMEOUT, KEEP_ALIVE_TIMEOUT, Settings
from .types import WSGIApplication

__all__ = ["Serve", "announce", "load_app", "parser", "run", "shutting_down"]

#: Serves ``app`` with the parsed options and the validated settings until interrupted.
Serve = Callable[[WSGIApplication, argparse.Namespace, Settings], None]


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


def shutting_down() -> None:
    print("\nShutting down.", flush=True)


def parser(prog: str, description: str, *, keep_alive: bool) -> argparse.ArgumentParser:
    """The options both command lines take: the address, the application and the settings."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; '::' for all, IPv6 and "
                             "IPv4; '0.0.0.0' for all IPv4)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free)")
    parser.add_argument("--keep-alive", action=argparse.BooleanOptionalAction, default=keep_alive,
                        help="keep connections open between requests")
    parser.add_argument("--keep-alive-timeout", type=float, default=KEEP_ALIVE_TIMEOUT,
                        help="keep-alive idle timeout, s")
    parser.add_argument("--head-timeout", type=float, default=HEAD_TIMEOUT,
                        help="request head deadline, s")
    parser.add_argument("--io-timeout", type=float, default=IO_TIMEOUT,
                        help="client read/write timeout, s")
    parser.add_argument("app", nargs="?", help="the application, as module:name (default: demo_app)")
    return parser


def run(parser: argparse.ArgumentParser, argv: list[str] | None, serve_app: Serve) -> int:
    """Parse ``argv``, load the app, validate the settings, serve; return the exit status."""
    args = parser.parse_args(argv)
    try:
        settings = Settings(keep_alive=args.keep_alive, keep_alive_timeout=args.keep_alive_timeout,
                            head_timeout=args.head_timeout, io_timeout=args.io_timeout)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        app = load_app(args.app) if args.app else demo_app
    except (ImportError, AttributeError, ValueError) as exc:
        parser.error(f"cannot load {args.app!r}: {exc}")
    try:
        serve_app(app, args, settings)
    except KeyboardInterrupt:  # interrupted while starting or closing
        pass
    except OSError as exc:
        print(f"error: cannot serve on {args.host} port {args.port}: {exc}", file=sys.stderr)
        return 1
    return 0
