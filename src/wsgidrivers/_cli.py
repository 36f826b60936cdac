"""``python -m wsgidrivers.simple_server [--host H] [--port P] [module:app]``.

Serves ``demo_app`` (or the named application) until Ctrl-C or SIGTERM, then exits with status 0
and no traceback. wsgiref's ``__main__`` serves one request on port 8000 and exits.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from types import FrameType
from typing import Any

from .simple_server import demo_app, make_server

__all__ = ["load_app", "main"]


def load_app(spec: str) -> Any:
    """The object named by ``"package.module:attribute.path"``."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"expected 'module:app', got {spec!r}")
    target: Any = importlib.import_module(module_name)
    for name in attribute.split("."):
        target = getattr(target, name)
    if not callable(target):
        raise ValueError(f"{spec!r} is not callable")
    return target


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wsgidrivers.simple_server",
        description="Serve a WSGI application (default: demo_app) until interrupted.",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; '::' or '0.0.0.0' for all)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free)")
    parser.add_argument("app", nargs="?", help="the application, as module:name")
    args = parser.parse_args(argv)
    try:
        app = load_app(args.app) if args.app else demo_app
    except (ImportError, AttributeError, ValueError) as exc:
        parser.error(f"cannot load {args.app!r}: {exc}")
    # SIGTERM (a process manager, `kill`) stops as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, _stop)
    try:
        with make_server(args.host, args.port, app) as server:
            host, port = server.server_name, server.server_port
            shown = f"[{host}]" if ":" in str(host) else host
            print(f"Serving HTTP on {host} port {port} (http://{shown}:{port}/) ...", flush=True)
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                print("\nShutting down.", flush=True)
    except KeyboardInterrupt:  # interrupted while starting or closing
        pass
    except OSError as exc:
        print(f"error: cannot serve on {args.host} port {args.port}: {exc}", file=sys.stderr)
        return 1
    return 0
