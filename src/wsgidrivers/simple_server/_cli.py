"""``python -m wsgidrivers.simple_server``: serve until Ctrl-C or SIGTERM (see ``_common.cli``)."""

from __future__ import annotations

import argparse
import signal
from types import FrameType

from wsgidrivers._common.cli import announce, parser, run, shutting_down
from wsgidrivers._common.settings import Settings
from wsgidrivers._common.types import WSGIApplication

from . import make_server
from ._server import WSGIServer

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """``python -m wsgidrivers.simple_server``; returns the exit status."""
    return run(parser("python -m wsgidrivers.simple_server",
                      "Serve a WSGI application (default: demo_app) until interrupted.",
                      keep_alive=WSGIServer.keep_alive), argv, _serve)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _serve(app: WSGIApplication, args: argparse.Namespace, settings: Settings) -> None:


    # SIGTERM (a process manager, `kill`) stops as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    with make_server(args.host, args.port, app, keep_alive=settings.keep_alive,
                     keep_alive_timeout=settings.keep_alive_timeout,
                     head_timeout=settings.head_timeout, io_timeout=settings.io_timeout) as server:
        announce(server.server_name, server.server_port)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            shutting_down()
